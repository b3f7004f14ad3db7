"""One case in one fresh, locked-down container.

:func:`run_case` stages the input read-only, mounts a size-capped empty outputs
folder, creates the container (never ``containers.run``: that pulls), enforces
the deadline on the monotonic clock, reads the exit state, timings, cgroup
counters and logs, removes the container, then collects and validates the
output. It never raises for anything the participant's image does: every
outcome is a :class:`~evalkit.runfolder.journal.CaseRecord` with one status.

Status decision (shared/spec/runner.md), first match wins:
``harness_error`` (the harness itself failed) > ``timeout`` (the runner killed it
at the deadline) > ``oom`` (``State.OOMKilled`` and not killed by the runner;
exit code 137 alone means nothing) > ``nonzero_exit`` > ``missing_output`` >
``invalid_output`` (symlink, special file, over the cap, or breaks the contract) > ``ok``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from evalkit.runfolder import CaseRecord, SubmissionFolder
from evalkit.runner.cgroups import CaseCgroup, new_case_cgroup, remove_cgroup
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.outputs import OutputRejected, capped_folder, collect, is_mountpoint, unmount
from evalkit.text import printable

INPUTS_IN_CONTAINER = "/workspace/inputs"
OUTPUTS_IN_CONTAINER = "/workspace/outputs"
KILL_GRACE_S = 30.0
REASON_MAX_CHARS = 300
#: Added to a failed case's reason when its stderr shows a write to the read-only root
#: filesystem, followed by the path (``evalkit check`` turns it into advice).
READ_ONLY_NOTE = "read-only file system at"
_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


@dataclass(frozen=True)
class CaseJob:
    """What :func:`run_case` needs to know about a case.

    ``input_path`` is the file staged read-only as ``/workspace/inputs/<name>.npz``:
    the case's input, or a file the harness wrote for this run (a multi-run protocol
    rewrites the input between runs).
    """

    name: str
    input_path: Path
    expected_shape: tuple[int, ...] | None = None  # spatial shape of the prediction
    dim: int | None = None  # 2 or 3; None = from the name
    gt_path: Path | None = None  # host side only (click simulation); never staged


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_docker_time(value: str | None) -> float | None:
    """Engine timestamp (RFC 3339, nanoseconds) -> POSIX seconds; ``None`` for the zero time."""
    if not value or value.startswith("0001-01-01"):
        return None
    main, _, frac = value.rstrip("Z").partition(".")
    tz = 0.0
    if "+" in frac or "-" in frac:  # offset form: 2024-01-01T00:00:00.123+01:00
        sign = 1 if "+" in frac else -1
        frac, _, off = frac.replace("-", "+").partition("+")
        hh, mm = off.split(":")
        tz = sign * (int(hh) * 3600 + int(mm) * 60)
    base = dt.datetime.fromisoformat(main).replace(tzinfo=dt.UTC).timestamp()
    return base + (float("0." + frac) if frac else 0.0) - tz


#: How far the engine's FinishedAt may precede its StartedAt for a container that exits
#: within milliseconds (the engine stamps StartedAt after the start call returns, by
#: which time the process may be gone); such a run took ~0 s, not an unknown time.
START_STAMP_RACE_S = 1.0


def engine_seconds(started: str | None, finished: str | None) -> float | None:
    """Seconds between the engine's ``State.StartedAt`` and ``State.FinishedAt``.

    ``0.0`` when ``FinishedAt`` precedes ``StartedAt`` by less than
    :data:`START_STAMP_RACE_S` (a container that exited within milliseconds);
    ``None`` when either is missing / the zero time, or the order is off by more.
    """
    s, f = parse_docker_time(started), parse_docker_time(finished)
    if s is None or f is None or f < s - START_STAMP_RACE_S:
        return None
    return max(0.0, f - s)


_RO_LINE = re.compile(r"read-only file system", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"""['"‘“](/[^'"’”]*)['"’”]""")
_BARE_PATH = re.compile(r"""(/[^\s:'"]+)""")


def readonly_write(stderr: str) -> str | None:
    """The path of the last "Read-only file system" error in ``stderr`` (``""`` when the
    line names none); ``None`` when there is no such error. Understands Python's
    ``[Errno 30] Read-only file system: '/x'``, coreutils' ``cannot touch '/x'`` and
    the shells' ``cannot create /x: Read-only file system``."""
    for line in reversed(stderr.splitlines()):
        if not _RO_LINE.search(line):
            continue
        quoted = _QUOTED_PATH.findall(line)
        if quoted:
            return quoted[-1]
        bare = _BARE_PATH.findall(_RO_LINE.split(line)[0])
        return bare[-1] if bare else ""
    return None


def token_for(text: str, n: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line:
            return line[:REASON_MAX_CHARS]
    return ""


class HarnessIntegrityError(RuntimeError):
    """The harness's own files of a case changed under a running container."""


def _file_id(path: Path) -> tuple[int, int, int, int] | None:
    """(device, inode, size, mtime ns) of ``path``, ``None`` when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def clean_workdir(work: Path) -> None:
    """Remove a case work folder, unmounting a leftover capped outputs mount first."""
    outputs = work / "outputs"
    if is_mountpoint(outputs):
        unmount(outputs)
    shutil.rmtree(work, ignore_errors=True)


def cleanup_leftovers(client: docker.DockerClient, sub: SubmissionFolder, run_token: str) -> int:
    """Remove containers, cgroups and mounted work folders left by a killed run of ``sub``
    (containers found by their ``evalkit.run`` label); returns the containers removed."""
    removed = 0
    try:
        for c in client.containers.list(all=True, filters={"label": f"evalkit.run={run_token}"}):
            try:
                c.remove(v=True, force=True)  # with its anonymous volumes
                removed += 1
            except _DOCKER_ERRORS:
                pass
    except _DOCKER_ERRORS:
        pass
    remove_cgroup(f"evalkit/{run_token}")
    if sub.work_dir.is_dir():
        for d in sub.work_dir.iterdir():
            clean_workdir(d)
    return removed


def cgroups_usable(client: docker.DockerClient) -> bool:
    """Whether per-case parent cgroups can time containers (the engine uses cgroupfs)."""
    try:
        return str(client.info().get("CgroupDriver", "")) == "cgroupfs"
    except _DOCKER_ERRORS:
        return False


def _wait_exit(container, deadline: float) -> bool:
    """Block until the container exits or ``deadline`` (monotonic) passes; True if it exited."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            container.reload()
            return container.status not in ("created", "running", "restarting", "paused")
        try:
            container.wait(timeout=max(0.05, min(remaining, 60.0)))
            return True
        except requests.exceptions.RequestException:
            pass  # HTTP read timeout (or the 7.1 ConnectionError); check the state ourselves
        container.reload()
        if container.status in ("exited", "dead"):
            return True


def run_case(
    client: docker.DockerClient,
    image_id: str,
    job: CaseJob,
    sub: SubmissionFolder,
    limits: RunnerLimits,
    contract_limits: dict[str, Any] | None,
    *,
    run_token: str,
    attempt: int = 1,
    iteration: int = 1,
    use_cgroups: bool = True,
    degraded: bool = False,
    image_paths: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
) -> CaseRecord:
    """Run ``job`` in a fresh container of ``image_id`` and return its record.

    The root filesystem is read-only unless ``limits.read_only_rootfs`` is false;
    the image writes to capped tmpfs at ``/tmp``, ``limits.writable_paths`` and
    ``image_paths`` (its user's HOME and VOLUME paths, from
    :meth:`~evalkit.runner.intake.ImageRecord.tmpfs_paths`). The container is
    removed with its anonymous volumes.

    The deadline (``limits.timeout_s``) runs from just before ``create``, like
    ``wall_s``. Writes ``sub.log(case)`` and, when valid, ``sub.output(case)``
    (a rejected but collectable file goes to ``sub.rejected(case)``). Uses and
    removes ``sub.work_dir/<case-token>/``. Times: seconds; memory: bytes.

    ``iteration`` (1-based) numbers the container runs of one case: iteration 1
    writes the log afresh, a later one appends its log after a header line, and
    each run overwrites ``sub.output(case)`` (a multi-run protocol reads it
    between runs). The record's ``iteration`` is set; ``record`` stays ``"case"``
    (a protocol decides what the record stands for). ``labels`` are added to the
    container's (the Dask executor marks the node with ``evalkit.node``).
    """
    rec = CaseRecord(case=job.name, status="harness_error", image_id=image_id,
                     attempt=attempt, degraded_timing=degraded, iteration=iteration)
    case_token = token_for(job.name, 10)
    work = sub.work_dir / case_token
    container = None
    cgroup: CaseCgroup | None = None
    outputs = None
    log_path = sub.log(job.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        clean_workdir(work)
        inputs = work / "inputs"
        inputs.mkdir(parents=True)
        os.chmod(work, 0o755)
        os.chmod(inputs, 0o755)
        staged = inputs / f"{job.name}.npz"
        shutil.copyfile(job.input_path, staged, follow_symlinks=True)
        os.chmod(staged, 0o644)
        staged_id = _file_id(staged)
        outputs = capped_folder(work / "outputs", limits.outputs_cap_bytes)
        if not outputs.enforced:
            notes.append("outputs cap checked after exit only (no privilege to mount a capped folder)")
        if use_cgroups:
            suffix = f"-{iteration}" if iteration > 1 else ""
            cgroup = new_case_cgroup(f"evalkit/{run_token}/{case_token}-{attempt}{suffix}")
        if cgroup is None or not cgroup.usable:
            rec.degraded_timing = True

        t0 = time.monotonic()
        rec.started_at = utc_now()
        container = client.containers.create(
            image_id,
            command=list(limits.command),
            name=f"evalkit-{run_token}-{case_token}",
            labels={**(labels or {}), "evalkit.run": run_token, "evalkit.case": job.name},
            volumes={str(inputs): {"bind": INPUTS_IN_CONTAINER, "mode": "ro"},
                     str(outputs.path): {"bind": OUTPUTS_IN_CONTAINER, "mode": "rw"}},
            cgroup_parent=cgroup.parent if cgroup is not None else None,
            detach=True,
            **limits.host_config(image_paths),
        )
        container.start()
        deadline = t0 + limits.timeout_s
        exited = _wait_exit(container, deadline)
        if not exited:
            rec.killed_by_runner = True
            try:
                container.kill()
            except docker.errors.APIError:
                pass  # it exited between the check and the kill
            if not _wait_exit(container, time.monotonic() + KILL_GRACE_S):
                raise RuntimeError(f"container {container.short_id} did not stop after kill")
        t1 = time.monotonic()
        rec.finished_at = utc_now()
        rec.wall_s = t1 - t0
        if _file_id(staged) != staged_id or not outputs.path.is_dir():
            # Nothing the image can do reaches these host paths (inputs are read-only): the
            # harness side lost them, so no participant status may be given for this run.
            raise HarnessIntegrityError(
                f"the staged input {staged} or the outputs folder changed or vanished while the "
                "container ran (another process cleaning this submission folder?)")

        container.reload()
        state = container.attrs.get("State", {})
        rec.exit_code = state.get("ExitCode")
        rec.oom_killed = bool(state.get("OOMKilled"))
        rec.engine_s = engine_seconds(state.get("StartedAt"), state.get("FinishedAt"))
        if rec.engine_s is not None:
            rec.start_overhead_s = max(0.0, rec.wall_s - rec.engine_s)

        stderr_tail = printable(container.logs(stdout=False, stderr=True, tail=200), keep_newlines=True)
        combined = container.logs(stdout=True, stderr=True)
        cut = len(combined) > limits.log_tail_bytes
        combined = combined[-limits.log_tail_bytes:]
        with open(log_path, "wb" if iteration == 1 else "ab") as lf:
            if iteration > 1:
                lf.write(f"\n[evalkit: run {iteration} of case {job.name}]\n".encode())
            if cut:
                lf.write(f"[evalkit: log cut to its last {limits.log_tail_bytes} bytes]\n".encode())
            lf.write(combined)
        try:
            container.remove(v=True, force=True)
            container = None
        except _DOCKER_ERRORS as exc:
            notes.append(f"container removal failed: {exc}")
        if cgroup is not None and cgroup.usable:
            rec.cpu_s, rec.peak_memory_bytes = cgroup.read()

        last = _last_line(stderr_tail)
        if rec.killed_by_runner:
            rec.status = "timeout"
            rec.reason = f"exceeded the {limits.timeout_s:g} s deadline and was killed" + \
                (f"; last stderr: {last}" if last else "")
        elif rec.oom_killed:
            rec.status = "oom"
            rec.reason = f"out of memory: exceeded the {limits.memory_bytes} byte limit (no swap)" + \
                (f"; last stderr: {last}" if last else "")
        elif rec.exit_code != 0:
            rec.status = "nonzero_exit"
            rec.reason = last or f"exited with code {rec.exit_code} and no stderr"
        else:
            _collect(rec, job, outputs, sub, limits, contract_limits, last)
        ro = readonly_write(stderr_tail) if rec.status != "ok" and limits.read_only_rootfs else None
        if ro is not None:
            rec.reason = f"{rec.reason}; {READ_ONLY_NOTE}{' ' + ro if ro else ''}"
    except Exception as exc:  # noqa: BLE001 - the harness's own failure: recorded, never fatal to the run
        rec.status = "harness_error"
        rec.reason = f"{type(exc).__name__}: {exc}"[:REASON_MAX_CHARS * 2]
        if rec.finished_at is None:
            rec.finished_at = utc_now()
    finally:
        if container is not None:
            try:
                container.remove(v=True, force=True)
            except _DOCKER_ERRORS:
                pass
        if cgroup is not None:
            cgroup.remove()
        if outputs is not None:
            try:
                outputs.release()
            except OSError as exc:
                notes.append(str(exc))
        clean_workdir(work)
    if notes:
        with open(log_path, "ab") as lf:
            lf.write(("".join(f"\n[evalkit: {n}]" for n in notes) + "\n").encode())
    return rec


def _collect(rec: CaseRecord, job: CaseJob, outputs, sub: SubmissionFolder, limits: RunnerLimits,
             contract_limits: dict[str, Any] | None, last: str) -> None:
    """Decide missing_output / invalid_output / ok for a container that exited 0."""
    from evalkit.contract import ContractError, load_prediction

    name = f"{job.name}.npz"
    full = outputs.used_bytes() >= limits.outputs_cap_bytes - 64 * 1024
    full_note = (f"; the outputs folder reached its cap of {limits.outputs_cap_bytes} bytes"
                 if full else "")
    if not outputs.enforced and outputs.used_bytes() > limits.outputs_cap_bytes:
        rec.status = "invalid_output"
        rec.reason = f"outputs folder holds more than the cap of {limits.outputs_cap_bytes} bytes"
        return
    final = sub.output(job.name)
    try:
        found = collect(outputs.path / name, final, limits.outputs_cap_bytes)
    except OutputRejected as exc:
        rec.status = "invalid_output"
        rec.reason = f"{OUTPUTS_IN_CONTAINER}/{exc} [{exc.reason}]"
        return
    if not found:
        rec.status = "missing_output"
        rec.reason = f"no {OUTPUTS_IN_CONTAINER}/{name} was written" + full_note + \
            (f"; last stderr: {last}" if last else "")
        return
    notes: list[str] = []
    try:
        load_prediction(final, job.expected_shape, contract_limits, case=job.name, notes=notes)
    except ContractError as exc:
        rejected = sub.rejected(job.name)
        rejected.parent.mkdir(parents=True, exist_ok=True)
        os.replace(final, rejected)
        rec.status = "invalid_output"
        rec.reason = f"{exc}{full_note}"[: REASON_MAX_CHARS * 2]
        return
    rec.status = "ok"
    rec.output = sub.relative(final)
    rec.reason = "; ".join(notes)
