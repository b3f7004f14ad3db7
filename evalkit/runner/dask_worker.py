"""The worker side of the Dask executor: what runs inside each ``dask worker`` process.

Start a worker on every machine (README, "Several machines")::

    dask worker tcp://SCHEDULER:8786 --nthreads 1 --resources slot=1 \\
        --preload evalkit.runner.dask_worker [--name NODE]

The preload (:func:`dask_setup`) checks the machine's own Docker engine (it never
installs or starts one), names the node (``--name``, else ``EVALKIT_NODE``, else the
host name: it must stay the same when the worker restarts), removes the containers
and scratch a killed earlier worker of this node left behind, and keeps a
:class:`NodeState` on the worker. Without the preload the first task does the same.

The tasks (module functions, run by :class:`~evalkit.runner.dask_executor.DaskExecutor`):

* :func:`node_info` - node name, slots, CPU model, engine and evalkit versions;
* :func:`prepare_image` - image intake on this node (from a tarball on a shared path);
* :func:`calibrate` - the fixed CPU workload in a locked-down container of the base image;
* :func:`cleanup_run` - remove what a killed run of one submission left on this node;
* :func:`run_job` - verify the pinned image and the input, then one
  :func:`~evalkit.runner.execute.run_case` (the local runner, unchanged) into a
  worker-local scratch folder; returns the record, the log and the validated output
  as bytes. The worker never writes the run folder: the coordinator does.

A node refuses a job (``harness_error``, reason naming the node, the expected and the
found image ID) when its tarball or its reference holds another image than the pinned
one; it never runs a different image.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import socket
import statistics
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from evalkit.runfolder import CaseRecord, SubmissionFolder
from evalkit.runner.cgroups import remove_cgroup
from evalkit.runner.execute import (
    CaseJob,
    cgroups_usable,
    clean_workdir,
    run_case,
    token_for,
    utc_now,
)
from evalkit.runner.intake import ImageRecord, image_exists, intake
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.tarball import TarballError, read_manifest

NODE_ENV = "EVALKIT_NODE"
SCRATCH_ENV = "EVALKIT_SCRATCH"
NODE_LABEL = "evalkit.node"
#: The calibration workload: a fixed integer loop (stdlib only, so any Python base image
#: runs it), timed inside the container; prints one duration per repetition (seconds).
CALIBRATION_SCRIPT = """
import time
for _ in range({reps}):
    t = time.perf_counter()
    x = 0
    for i in range({loops}):
        x = (x * 31 + i) % 1000003
    print(f"{{time.perf_counter() - t:.6f}}", flush=True)
"""
CALIBRATION_LOOPS = 1_000_000
CALIBRATION_REPS = 3
_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


@dataclass
class NodeState:
    """What a worker keeps between tasks: its node name, slots, engine connection, scratch
    folder, and the images it has verified (image ID -> refusal reason, ``None`` = verified)."""

    node: str
    slots: int
    client: docker.DockerClient
    scratch: Path
    use_cgroups: bool
    local: Any  # a DockerExecutor on this node's engine (image HOME/VOLUME lookups)
    images: dict[str, str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE: dict[int, NodeState] = {}
_STATE_LOCK = threading.Lock()


def node_name(worker: Any = None) -> str:
    """The node's stable name: the worker's ``--name`` (when it is not just its address),
    else ``EVALKIT_NODE``, else the host name."""
    name = getattr(worker, "name", None)
    address = getattr(worker, "address", None)
    if isinstance(name, str) and name and name != address and "://" not in name:
        return name
    return os.environ.get(NODE_ENV) or socket.gethostname()


def node_token(run_token: str, node: str) -> str:
    """The label value of this node's containers of a run (one per node: two nodes on one
    engine, as in the tests, never share container names)."""
    return token_for(f"{run_token}@{node}")


def _scratch_root(node: str) -> Path:
    base = Path(os.environ.get(SCRATCH_ENV) or "/tmp")
    return base / f"evalkit-node-{token_for(node, 8)}-{''.join(c for c in node if c.isalnum())[:24]}"


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def remove_node_containers(client: docker.DockerClient, node: str, run_token: str | None = None) -> int:
    """Remove this node's evalkit containers (all of them, or one run's); returns how many."""
    labels = [f"{NODE_LABEL}={node}"] + ([f"evalkit.run={run_token}"] if run_token else [])
    removed = 0
    try:
        for c in client.containers.list(all=True, filters={"label": labels}):
            try:
                c.remove(v=True, force=True)
                removed += 1
            except _DOCKER_ERRORS:
                pass
    except _DOCKER_ERRORS:
        pass
    return removed


def _clean_scratch(folder: Path) -> None:
    """Remove task folders under ``folder`` (unmounting capped outputs folders first)."""
    if not folder.is_dir():
        return
    for task in folder.iterdir():
        work = task / "work"
        if work.is_dir():
            for d in work.iterdir():
                clean_workdir(d)
        shutil.rmtree(task, ignore_errors=True)


def setup_node(worker: Any = None) -> NodeState:
    """Check the local engine, name the node, remove what a killed worker of it left behind."""
    client = docker.from_env(timeout=120)
    client.ping()  # raises: a worker without an engine must not take jobs
    node = node_name(worker)
    slots = int(float((getattr(worker, "total_resources", None) or {}).get("slot", 1)))
    scratch = _scratch_root(node)
    removed = remove_node_containers(client, node)  # a fresh worker has no case in flight
    if scratch.is_dir():
        for run in scratch.iterdir():
            _clean_scratch(run)
    scratch.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o755)
    from evalkit.runner.executor import DockerExecutor

    state = NodeState(node=node, slots=max(1, slots), client=client, scratch=scratch,
                      use_cgroups=cgroups_usable(client), local=DockerExecutor(client=client))
    if removed:
        print(f"[evalkit] node {node}: removed {removed} container(s) a killed worker left behind",
              flush=True)
    return state


def dask_setup(worker: Any) -> None:
    """The ``--preload`` hook: set the node up when the worker starts."""
    with _STATE_LOCK:
        _STATE[id(worker)] = setup_node(worker)


def node_state(worker: Any = None) -> NodeState:
    """This worker's :class:`NodeState` (set up now when the worker started without the
    preload). ``worker``: the ``distributed.Worker`` (default: the one running this task)."""
    if worker is None:
        from distributed import get_worker

        worker = get_worker()
    with _STATE_LOCK:
        state = _STATE.get(id(worker))
        if state is None:
            state = _STATE[id(worker)] = setup_node(worker)
    return state


# ----------------------------------------------------------------------------- tasks


def node_info() -> dict[str, Any]:
    """What the coordinator records about this node (``nodes.csv``)."""
    from evalkit import __version__ as evalkit_version

    state = node_state()
    try:
        engine = str(state.client.version().get("Version", ""))
    except _DOCKER_ERRORS:
        engine = ""
    return {"node": state.node, "slots": state.slots, "cpu_model": cpu_model(),
            "cpus": os.cpu_count() or 0, "engine": engine, "evalkit": evalkit_version,
            "cgroups": state.use_cgroups}


def prepare_image(submission: str, name: str | None) -> dict[str, Any]:
    """Intake of ``submission`` on this node (:func:`~evalkit.runner.intake.intake`);
    the record as a dict. Raises :class:`~evalkit.runner.intake.IntakeError`."""
    state = node_state()
    return asdict(intake(submission, state.client, name=name))


def cleanup_run(run_token: str, dask_worker: Any = None) -> int:
    """Remove this node's containers, cgroups and scratch of the run ``run_token`` (run on
    every worker with ``Client.run``, which passes ``dask_worker``)."""
    state = node_state(dask_worker)
    token = node_token(run_token, state.node)
    removed = remove_node_containers(state.client, state.node, token)
    remove_cgroup(f"evalkit/{token}")
    _clean_scratch(state.scratch / token)
    return removed


def calibrate(limits: RunnerLimits, base_image: str, reps: int = CALIBRATION_REPS,
              loops: int = CALIBRATION_LOOPS) -> dict[str, Any]:
    """Run the fixed workload (:data:`CALIBRATION_SCRIPT`) in a locked-down container of the
    base image under the case limits (CPUs, memory, no network, read-only root).

    Returns ``node``, ``calibration_s`` (median of the repetitions, seconds),
    ``calibration_runs`` (each repetition), ``calibration_image`` (its ID) and
    ``calibration_error`` (``""`` when it worked).
    """
    from evalkit.runner.engine import base_image_ref

    state = node_state()
    out: dict[str, Any] = {"node": state.node, "calibration_s": float("nan"), "calibration_runs": "",
                           "calibration_image": "", "calibration_error": "",
                           "calibrated_at": utc_now()}
    container = None
    try:
        ref = base_image_ref(state.client, base_image)
        image_id = state.client.images.get(ref).id
        out["calibration_image"] = image_id
        script = CALIBRATION_SCRIPT.format(reps=int(reps), loops=int(loops))
        container = state.client.containers.create(
            image_id, command=["python3", "-c", script], detach=True,
            labels={NODE_LABEL: state.node, "evalkit.run": "calibration"},
            **limits.host_config(()))
        container.start()
        result = container.wait(timeout=max(60.0, limits.timeout_s))
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        if result.get("StatusCode") != 0:
            raise RuntimeError(f"calibration exited {result.get('StatusCode')}: {logs[-300:]}")
        runs = [float(x) for x in logs.split()]
        out["calibration_runs"] = ";".join(f"{r:.4f}" for r in runs)
        out["calibration_s"] = statistics.median(runs)
    except Exception as exc:  # noqa: BLE001 - recorded in nodes.csv; the run goes on
        out["calibration_error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if container is not None:
            try:
                container.remove(v=True, force=True)
            except _DOCKER_ERRORS:
                pass
    return out


def verify_image(state: NodeState, image: ImageRecord) -> str | None:
    """Make the pinned image present on this node; ``None`` when it is, else the refusal.

    A tarball is read from its (shared) path: its ``manifest.json`` must name the pinned ID
    and, when the engine lacks the image, it is loaded without its tags. A reference must
    resolve to the pinned ID here. Definite verdicts are kept for the worker's lifetime.
    """
    with state.lock:
        if image.image_id in state.images:
            return state.images[image.image_id]
    reason = _verify(state, image)
    if reason is None or "holds image" in reason or " is image " in reason:
        with state.lock:
            state.images[image.image_id] = reason
    return reason


def _verify(state: NodeState, image: ImageRecord) -> str | None:
    from evalkit.runner.intake import IntakeError, _load_untagged

    want, node, client = image.image_id, state.node, state.client
    try:
        if image.tarball:
            path = Path(image.tarball)
            if path.is_file():
                try:
                    found = read_manifest(path).image_ids
                except TarballError as exc:
                    return f"node {node}: tarball {path}: {exc}"
                if list(found) != [want]:
                    return (f"node {node}: tarball {path} holds image "
                            f"{', '.join(found) or 'none'}, expected {want}; refused (this node's "
                            "copy of the submission differs from the one that was pinned)")
                if not image_exists(client, want):
                    try:
                        loaded, _ = _load_untagged(client, path, image.name)
                    except IntakeError as exc:
                        return f"node {node}: {exc}"
                    if loaded.id != want:
                        return f"node {node}: tarball {path} holds image {loaded.id}, expected {want}"
                return None
            if image_exists(client, want):
                return None
            return (f"node {node}: image {want} is not in this node's engine and the tarball "
                    f"{path} is not readable here; put submissions on a path every node mounts")
        if image_exists(client, want):
            return None
        try:
            found_id = client.images.get(image.reference).id
        except docker.errors.ImageNotFound:
            return (f"node {node}: image {want} ({image.reference}) is not in this node's engine "
                    "(evalkit never pulls): load it there, or submit the tarball on a shared path")
        return f"node {node}: {image.reference} is image {found_id} here, expected {want}; refused"
    except _DOCKER_ERRORS as exc:
        return f"node {node}: cannot check image {want}: {exc}"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _read(path: Path, max_bytes: int | None = None) -> bytes | None:
    """The bytes of regular file ``path`` (``None``: absent, not regular, or over ``max_bytes``)."""
    try:
        if not path.is_file() or path.is_symlink():
            return None
        if max_bytes is not None and path.stat().st_size > max_bytes:
            return None
        return path.read_bytes()
    except OSError:
        return None


def run_job(image: ImageRecord, case: CaseJob, limits: RunnerLimits, contract_limits: dict,
            run_token: str, attempt: int, iteration: int, degraded: bool,
            input_sha256: str | None = None, input_bytes: bytes | None = None) -> dict[str, Any]:
    """One container run of one case on this node; never raises.

    The input is read from ``case.input_path`` (a shared path; its sha256 must equal
    ``input_sha256``) or, for a file the harness wrote, taken from ``input_bytes``. Returns
    ``record`` (a :class:`CaseRecord` as a dict, ``node`` set), ``log``, ``output`` and
    ``rejected`` (bytes or ``None``) and ``output_sha256``.
    """
    t0 = utc_now()
    state: NodeState | None = None
    try:
        state = node_state()
        out = _run_job(state, image, case, limits, contract_limits, run_token, attempt, iteration,
                       degraded, input_sha256, input_bytes)
    except Exception as exc:  # noqa: BLE001 - the harness's own failure on this node
        node = state.node if state is not None else node_name()
        rec = CaseRecord(case=case.name, status="harness_error", image_id=image.image_id,
                         attempt=attempt, iteration=iteration, started_at=t0, finished_at=utc_now(),
                         degraded_timing=degraded, node=node,
                         reason=f"node {node}: {type(exc).__name__}: {exc}"[:600])
        out = {"record": asdict(rec), "log": b"", "output": None, "rejected": None,
               "output_sha256": None}
    out["address"] = _address()
    return out


def _address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


def _run_job(state, image, case, limits, contract_limits, run_token, attempt, iteration, degraded,
             input_sha256, input_bytes) -> dict[str, Any]:
    node = state.node
    degraded = degraded or state.slots > 1

    def refused(reason: str) -> dict[str, Any]:
        now = utc_now()
        rec = CaseRecord(case=case.name, status="harness_error", image_id=image.image_id,
                         attempt=attempt, iteration=iteration, started_at=now, finished_at=now,
                         degraded_timing=degraded, node=node, reason=reason[:600])
        return {"record": asdict(rec), "log": b"", "output": None, "rejected": None,
                "output_sha256": None, "refused": True}

    reason = verify_image(state, image)
    if reason is not None:
        return refused(reason)
    token = node_token(run_token, node)
    task = SubmissionFolder(state.scratch / token / f"{token_for(case.name, 10)}-{uuid.uuid4().hex[:12]}")
    task.root.mkdir(parents=True)
    try:
        if input_bytes is not None:
            staged = task.root / "input" / f"{case.name}.npz"
            staged.parent.mkdir()
            staged.write_bytes(input_bytes)
            case = CaseJob(case.name, staged, case.expected_shape, case.dim)
        else:
            path = Path(case.input_path)
            if not path.is_file():
                return refused(f"node {node}: input {path} is not readable here; mount the case "
                               "folder at the same path on every node")
            if input_sha256 and sha256_file(path) != input_sha256:
                return refused(f"node {node}: input {path} differs from the coordinator's copy "
                               f"(sha256 {input_sha256[:12]}...); fix this node's shared folder")
        rec = run_case(state.client, image.image_id, case, task, limits, dict(contract_limits),
                       run_token=token, attempt=attempt, iteration=iteration,
                       use_cgroups=state.use_cgroups, degraded=degraded,
                       image_paths=state.local.image_paths(image),
                       labels={NODE_LABEL: node})
        rec.node = node
        output = _read(task.output(case.name)) if rec.status == "ok" else None
        return {"record": asdict(rec), "log": _read(task.log(case.name)) or b"",
                "output": output,
                # a rejected file goes back only when the contract's file size allows it
                "rejected": _read(task.rejected(case.name), contract_limits.get("max_file_bytes")),
                "output_sha256": hashlib.sha256(output).hexdigest() if output is not None else None}
    finally:
        work = task.work_dir
        if work.is_dir():
            for d in work.iterdir():
                clean_workdir(d)
        shutil.rmtree(task.root, ignore_errors=True)
