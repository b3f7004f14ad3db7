"""The ``dask`` executor: each container job runs on a machine of a Dask distributed cluster.

Selected by ``[executor] kind = "dask"`` with ``scheduler = "tcp://host:8786"`` (or
``--scheduler`` on ``evalkit evaluate`` / ``evalkit run``). The machines run plain
``dask worker`` processes with ``--nthreads 1 --resources slot=1 --preload
evalkit.runner.dask_worker`` (README, "Several machines"); every job asks for one
``slot``, so each machine runs one case at a time unless its worker offers more.

What runs where:

* The coordinator (this process) is the only writer of the run folder. A job is
  submitted with the case's *path* (the case folder and the submission tarballs sit on
  a path every machine mounts; docs/design.md, "Dask executor", says why), the pinned
  image record and the limits; nothing large goes through the scheduler. An input the
  harness wrote itself (multi-run protocols) is shipped as bytes, straight to a worker.
* The worker (:func:`evalkit.runner.dask_worker.run_job`) verifies the pinned image
  (a node whose tarball or reference holds another image refuses the job) and the
  input's sha256, runs the local runner (:func:`~evalkit.runner.execute.run_case`)
  into its own scratch folder and returns the record, the log and the validated
  output as bytes, fetched directly from the worker (``direct_to_workers``).
* Back here the output's sha256 and the contract are checked again, then the log and
  the output are written; the caller (``run_submission``) appends the journal line.

Faults: a worker killed mid-case loses its task; the scheduler runs it again on
another worker (up to its ``allowed-failures``, then the case is a
``harness_error``); only the one result that comes back is written, so each case is
recorded exactly once. Its orphan container is removed when the node's worker comes
back (the preload) or at the next run's :meth:`DaskExecutor.begin`. A lost future is
submitted again; when the scheduler itself is gone for ``reconnect_s``,
:class:`~evalkit.runner.executor.ExecutorUnavailable` stops the run and the same
command resumes from the journal. A node that refuses an image gets no more jobs of it
(the refusal is kept in ``nodes.csv``); a case no node accepts is a ``harness_error``
naming every refusal.

Fairness: :meth:`DaskExecutor.begin` runs the calibration job
(:func:`~evalkit.runner.dask_worker.calibrate`) once on each node and writes
``<run>/nodes.csv`` (:data:`NODE_COLUMNS`); every journal record names its node.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit import __version__
from evalkit.config import Challenge, load_challenge
from evalkit.runfolder import CaseRecord, RunFolder, SubmissionFolder
from evalkit.runfolder.layout import atomic_write_text
from evalkit.runner.execute import clean_workdir, token_for, utc_now
from evalkit.runner.executor import Executor, ExecutorError, ExecutorUnavailable, RunJob
from evalkit.runner.intake import ImageRecord, IntakeError, is_tarball
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.tarball import TarballError, read_manifest

#: Columns of ``<run>/nodes.csv``: one row per node (seconds; ``refused``: image refusals).
NODE_COLUMNS = ("node", "calibration_s", "calibration_runs", "cpu_model", "cpus", "slots", "engine",
                "evalkit", "calibration_image", "calibration_error", "calibrated_at", "address",
                "refused")


class DaskExecutor(Executor):
    """Runs each job on a worker of the Dask scheduler at ``scheduler``; see the module docstring.

    ``scheduler``: overrides ``[executor] scheduler``. ``client``: a
    ``distributed.Client`` already connected (not closed by :meth:`close`).
    ``reconnect_s``: how long a lost scheduler may take to come back before the run stops.
    ``calibrate``: run the calibration job on each node at :meth:`begin`.
    """

    kind = "dask"

    def __init__(self, challenge: Challenge | None = None, *, scheduler: str | None = None,
                 client: Any = None, reconnect_s: float = 30.0, connect_timeout_s: float = 30.0,
                 calibrate: bool = True):
        self.challenge = challenge
        section = (challenge.data.get("executor") or {}) if challenge is not None else {}
        self.scheduler = scheduler or str(section.get("scheduler") or "")
        self.reconnect_s = reconnect_s
        self.connect_timeout_s = connect_timeout_s
        self.calibrate = calibrate
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._begun: dict[str, str] = {}  # submission root -> run token
        self._nodes: dict[str, dict[str, Any]] = {}  # node -> its nodes.csv row
        self._refused: dict[str, dict[str, str]] = {}  # image ID -> {worker address: reason}
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._capacity = 1
        self._lost = False

    # ------------------------------------------------------------------ connection

    @property
    def client(self):
        """The ``distributed.Client`` (connected on first use, results fetched from workers
        directly). Raises :class:`ExecutorUnavailable` when the scheduler does not answer."""
        with self._lock:
            if self._client is None:
                if not self.scheduler:
                    raise ExecutorError(
                        "the dask executor needs a scheduler: set [executor] scheduler = "
                        "'tcp://HOST:8786' in the challenge file or pass --scheduler tcp://HOST:8786")
                from distributed import Client

                try:
                    self._client = Client(self.scheduler, direct_to_workers=True,
                                          timeout=self.connect_timeout_s, set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise ExecutorUnavailable(
                        f"cannot reach the Dask scheduler at {self.scheduler}: {exc}. Start it "
                        "('dask scheduler') or fix --scheduler / [executor] scheduler") from None
            return self._client

    def _workers(self) -> dict[str, dict[str, Any]]:
        return dict(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def _wait_for_workers(self) -> dict[str, dict[str, Any]]:
        try:
            self.client.wait_for_workers(1, timeout=self.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ExecutorUnavailable(
                f"no Dask worker joined the scheduler at {self.scheduler} within "
                f"{self.connect_timeout_s:g} s ({exc}); start one on each machine: dask worker "
                f"{self.scheduler} --nthreads 1 --resources slot=1 --preload evalkit.runner.dask_worker"
            ) from None
        return self._workers()

    # ------------------------------------------------------------------ the seam

    def prepare(self, submission: str, name: str | None = None) -> ImageRecord:
        """Intake on a worker (a tarball must sit on a path the workers mount).

        A tarball readable here is pinned to the image its ``manifest.json`` names: a node
        whose copy loads another image is refused for it (and the next node is asked).
        Raises :class:`~evalkit.runner.intake.IntakeError` when no node takes it in.
        """
        from evalkit.runner.dask_worker import prepare_image

        sub = str(submission)
        expected = None
        if is_tarball(sub):
            sub = str(Path(sub).resolve())
            try:
                ids = read_manifest(sub).image_ids
            except TarballError as exc:
                raise IntakeError(f"{sub}: {exc}") from None
            expected = ids[0] if len(ids) == 1 else None  # several: the node's intake says so
        workers = self._wait_for_workers()
        problems: dict[str, str] = {}
        for address, info in workers.items():
            future = self.client.submit(prepare_image, sub, name, workers=[address],
                                        allow_other_workers=False, pure=False,
                                        key=f"evalkit-prepare-{uuid.uuid4().hex[:12]}")
            try:
                record = ImageRecord.from_dict(self._result(future))
            except IntakeError as exc:
                problems[address] = f"node {info.get('name', address)}: {exc}"
                continue
            if expected is None or record.image_id == expected:
                with self._lock:
                    self._refused.setdefault(record.image_id, {}).update(problems)
                return record
            problems[address] = (f"node {info.get('name', address)}: tarball {sub} holds image "
                                 f"{record.image_id} there, expected {expected}; refused")
        raise IntakeError(f"{sub}: no node of {self.scheduler} takes this submission in: "
                          + " | ".join(problems.values()))

    @staticmethod
    def run_token(sub: SubmissionFolder) -> str:
        """The run token of ``sub`` (the same as :meth:`DockerExecutor.run_token`)."""
        return token_for(str(sub.root.resolve()))

    def begin(self, sub: SubmissionFolder) -> None:
        from evalkit.runner.dask_worker import cleanup_run

        token = self.run_token(sub)
        if sub.work_dir.is_dir():  # harness-written inputs of a killed run (protocols write them again)
            for d in sub.work_dir.iterdir():
                clean_workdir(d)
        workers = self._wait_for_workers()
        try:
            self.client.run(cleanup_run, token)  # leftovers of a killed run, on every node
        except Exception as exc:  # noqa: BLE001 - a node that fails here still cleans at its restart
            print(f"[evalkit] dask: clean-up of an earlier run failed on a node: {exc}", file=sys.stderr)
        if self.calibrate:
            self._calibrate(RunFolder(sub.root.parent.parent), workers)
        slots = sum(int(float((w.get("resources") or {}).get("slot", 0))) for w in workers.values())
        if slots < 1:
            raise ExecutorError(
                f"no worker of {self.scheduler} offers a 'slot' resource: start the workers with "
                "--resources slot=1 (one case at a time per machine)")
        with self._lock:
            self._begun[str(sub.root)] = token
            # a second job per slot waits at the worker, so a slot never idles on the round trip
            self._capacity = 2 * slots

    def capacity(self) -> int:
        return self._capacity

    def run(self, job: RunJob) -> CaseRecord:
        from distributed import KilledWorker

        from evalkit.runner.dask_worker import run_job

        with self._lock:
            token = self._begun.get(str(job.submission.root))
            lost = self._lost
        if token is None:
            raise ExecutorError(f"{job.submission.root}: run() before begin() for this submission; "
                                "call executor.begin(sub) first (run_submission does)")
        if lost:
            raise ExecutorUnavailable(f"the Dask scheduler at {self.scheduler} was lost; run the "
                                      "same command again once it is back (finished cases are kept)")
        path = Path(job.case.input_path)
        shipped = _inside(path, job.submission.root)  # written by the harness: workers cannot see it
        digest = None if shipped else self._sha256(path)
        resubmits = 0
        while True:
            future = None
            try:
                kwargs: dict[str, Any] = {"input_sha256": digest}
                if shipped:
                    kwargs["input_bytes"] = self.client.scatter(path.read_bytes(), direct=True,
                                                                hash=False)
                refused = self._refused_workers(job.image.image_id)
                allowed = [a for a in self._workers() if a not in refused]
                if refused and not allowed:
                    return self._no_node(job, refused)
                future = self.client.submit(
                    run_job, job.image, job.case, job.limits, dict(job.contract_limits), token,
                    job.attempt, job.iteration, job.degraded, **kwargs,
                    resources={"slot": 1}, pure=False, retries=0,
                    workers=allowed if refused else None, allow_other_workers=False,
                    key=f"evalkit-case-{token_for(job.case.name, 10)}-{uuid.uuid4().hex[:12]}")
                result = future.result()
            except KilledWorker as exc:
                return self._harness_error(job, "the case was in flight on every worker that died "
                                                "running it (dask gave up after its allowed "
                                                f"failures): {exc}")
            except Exception as exc:  # noqa: BLE001 - lost future or lost scheduler
                if not self._lost_future(exc):
                    return self._harness_error(job, f"dask task failed: {type(exc).__name__}: {exc}")
                resubmits += 1
                if resubmits > 5 or not self._reconnected():
                    with self._lock:
                        self._lost = True
                    raise ExecutorUnavailable(
                        f"the Dask scheduler at {self.scheduler} was lost while case "
                        f"{job.case.name} ran ({type(exc).__name__}: {exc}); start it and the "
                        "workers again and run the same command: finished cases are kept") from None
                continue
            finally:
                if future is not None:
                    try:
                        future.release()
                    except Exception:  # noqa: BLE001, S110 - the client is gone
                        pass
            if result.get("refused"):
                self._refuse(job, result)
                continue
            return self._accept(job, result)

    def end(self, sub: SubmissionFolder) -> None:
        with self._lock:
            self._begun.pop(str(sub.root), None)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            owned = self._owns_client
        if client is not None and owned:
            try:
                client.close(timeout=10)
            except Exception:  # noqa: BLE001, S110 - a lost scheduler: nothing left to close
                pass

    # ------------------------------------------------------------------ helpers

    def _result(self, future):
        try:
            return future.result()
        except (OSError, TimeoutError) as exc:
            raise ExecutorUnavailable(f"the Dask scheduler at {self.scheduler} was lost: {exc}") from None

    def _sha256(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._hashes.get(key)
        if cached is None:
            from evalkit.runner.dask_worker import sha256_file

            cached = sha256_file(path)
            with self._lock:
                self._hashes[key] = cached
        return cached

    def _lost_future(self, exc: BaseException) -> bool:
        from concurrent.futures import CancelledError

        from distributed.comm.core import CommClosedError

        return isinstance(exc, CancelledError | CommClosedError | OSError | TimeoutError)

    def _reconnected(self) -> bool:
        """Wait up to ``reconnect_s`` for the client to be connected to a scheduler with workers."""
        deadline = time.monotonic() + self.reconnect_s
        while time.monotonic() < deadline:
            try:
                if self.client.status == "running" and self._workers():
                    return True
            except Exception:  # noqa: BLE001, S110 - still reconnecting
                pass
            time.sleep(0.5)
        return False

    def _refused_workers(self, image_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._refused.get(image_id, {}))

    def _refuse(self, job: RunJob, result: dict[str, Any]) -> None:
        rec = result["record"]
        address = result.get("address") or rec.get("node", "")
        with self._lock:
            first = address not in self._refused.setdefault(job.image.image_id, {})
            self._refused[job.image.image_id][address] = rec["reason"]
            row = self._nodes.get(rec.get("node", ""))
            if row is not None:
                row["refused"] = rec["reason"]
            rows = list(self._nodes.values())
        if first:
            print(f"[evalkit] dask: {rec['reason']}", file=sys.stderr)
            if rows:
                self._write_nodes(RunFolder(job.submission.root.parent.parent), rows)

    def _no_node(self, job: RunJob, refused: dict[str, str]) -> CaseRecord:
        return self._harness_error(job, "no node accepts the image: " + " | ".join(refused.values()))

    def _harness_error(self, job: RunJob, reason: str, node: str = "") -> CaseRecord:
        now = utc_now()
        return CaseRecord(case=job.case.name, status="harness_error", image_id=job.image.image_id,
                          attempt=job.attempt, iteration=job.iteration, started_at=now,
                          finished_at=now, degraded_timing=job.degraded, node=node,
                          reason=reason[:600])

    def _accept(self, job: RunJob, result: dict[str, Any]) -> CaseRecord:
        """Write the worker's log and output into the submission folder; re-check the output."""
        from evalkit.contract import ContractError, load_prediction

        rec = CaseRecord(**result["record"])
        sub, case = job.submission, job.case.name
        log = sub.log(case)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb" if job.iteration == 1 else "ab") as f:
            f.write(result.get("log") or b"")
        rejected = result.get("rejected")
        if rejected is not None and len(rejected) <= job.limits.outputs_cap_bytes:
            _write_atomic(sub.rejected(case), rejected)
        if rec.status != "ok":
            return rec
        data = result.get("output")
        if data is None or len(data) > job.limits.outputs_cap_bytes or \
                hashlib.sha256(data).hexdigest() != result.get("output_sha256"):
            return replace(rec, status="harness_error", output=None,
                           reason=f"node {rec.node}: the output did not arrive intact")
        final = sub.output(case)
        _write_atomic(final, data)
        try:
            load_prediction(final, job.case.expected_shape, dict(job.contract_limits), case=case)
        except ContractError as exc:
            final.unlink(missing_ok=True)
            return replace(rec, status="harness_error", output=None,
                           reason=f"node {rec.node} passed an output the coordinator refuses "
                                  f"(differing evalkit versions?): {exc}"[:600])
        return replace(rec, output=sub.relative(final))

    # ------------------------------------------------------------------ calibration

    def _calibrate(self, run: RunFolder, workers: dict[str, dict[str, Any]]) -> None:
        """Run the node information and calibration tasks on each worker not yet calibrated
        (in parallel, each holding the node's slot) and write ``nodes.csv``."""
        from evalkit.runner.dask_worker import calibrate, node_info

        challenge = self.challenge if self.challenge is not None else load_challenge()
        limits = RunnerLimits.from_config(challenge.runner)
        base = str(challenge.runner["base_image"])
        with self._lock:
            known = {row["address"] for row in self._nodes.values()}
        todo = [a for a in workers if a not in known]
        if todo:
            infos = {a: self.client.submit(node_info, workers=[a], allow_other_workers=False,
                                           pure=False, key=f"evalkit-node-{uuid.uuid4().hex[:12]}")
                     for a in todo}
            cals = {a: self.client.submit(calibrate, limits, base, workers=[a], allow_other_workers=False,
                                          resources={"slot": 1}, pure=False,
                                          key=f"evalkit-calibrate-{uuid.uuid4().hex[:12]}")
                    for a in todo}
            for a in todo:
                try:
                    row = {**self._result(infos[a]), **self._result(cals[a]), "address": a,
                           "refused": ""}
                except ExecutorUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - a node that died meanwhile
                    print(f"[evalkit] dask: node {a} gave no calibration: {exc}", file=sys.stderr)
                    continue
                if row.get("evalkit") != __version__:
                    print(f"[evalkit] dask: node {row['node']} runs evalkit {row.get('evalkit')}, "
                          f"this machine {__version__}", file=sys.stderr)
                with self._lock:
                    self._nodes[row["node"]] = row
        with self._lock:
            rows = list(self._nodes.values())
        self._write_nodes(run, rows)

    def _write_nodes(self, run: RunFolder, rows: list[dict[str, Any]]) -> None:
        """Merge ``rows`` into ``<run>/nodes.csv`` (rows of nodes not seen now are kept)."""
        path = run.nodes_path
        table = pd.DataFrame(rows).reindex(columns=list(NODE_COLUMNS))
        if path.is_file():
            old = pd.read_csv(path, dtype={"node": str}, keep_default_na=False)
            old = old[~old["node"].isin(table["node"])]
            table = pd.concat([old.reindex(columns=list(NODE_COLUMNS)), table], ignore_index=True)
        table = table.sort_values("node", kind="stable")
        table["calibration_s"] = pd.to_numeric(table["calibration_s"], errors="coerce")
        atomic_write_text(path, table.to_csv(index=False))


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
        return True
    except ValueError:
        return False


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part-{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
