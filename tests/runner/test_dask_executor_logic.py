"""The dask executor's logic without a cluster: selection, the coordinator's checks of what
a worker sends back, and how run_submission treats a lost executor and its capacity.
(The real cluster: tests/workflows/test_dask_cluster.py.)"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from runner_helpers import write_2d
from test_runner_seams import FakeExecutor, challenge_with, image_record

from evalkit.config import load_challenge
from evalkit.runfolder import CaseRecord, RunFolder, read_journal
from evalkit.runner.dask_executor import DaskExecutor
from evalkit.runner.execute import CaseJob
from evalkit.runner.executor import ExecutorError, ExecutorUnavailable, RunJob, make_executor
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.run import run_submission


def test_kind_dask_and_scheduler_select_the_dask_executor():
    challenge = challenge_with(executor={"kind": "dask", "scheduler": "tcp://sched:8786",
                                         "node_tolerance": 0.05})
    executor = make_executor(challenge)
    assert isinstance(executor, DaskExecutor) and executor.scheduler == "tcp://sched:8786"
    assert executor._client is None  # nothing connected until first use
    # --scheduler selects it whatever the file says, and overrides the address
    other = make_executor(challenge_with(executor={"kind": "docker"}), scheduler="tcp://h:1")
    assert isinstance(other, DaskExecutor) and other.scheduler == "tcp://h:1"


def test_no_scheduler_says_how_to_give_one():
    executor = make_executor(challenge_with(executor={"kind": "dask", "scheduler": ""}))
    with pytest.raises(ExecutorError, match="--scheduler"):
        executor.client  # noqa: B018 - the property connects


def _npz(segs: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, segs=segs)
    return buf.getvalue()


def _job(tmp_path: Path, iteration: int = 1) -> RunJob:
    sub = RunFolder(tmp_path / "run").submission("team")
    case = CaseJob("2DBox_CT_0000", tmp_path / "in.npz", expected_shape=(32, 40), dim=2)
    challenge = load_challenge()
    return RunJob(image_record(), case, sub, RunnerLimits.from_config(challenge.runner),
                  dict(challenge.contract), iteration=iteration)


def _result(output: bytes | None, *, sha: str | None = None, status: str = "ok") -> dict:
    rec = CaseRecord(case="2DBox_CT_0000", status=status, image_id=image_record().image_id,
                     wall_s=1.0, node="w1", output="outputs/2DBox_CT_0000.npz")
    return {"record": asdict(rec), "log": b"a log\n", "output": output, "rejected": None,
            "output_sha256": sha if sha is not None else
            (hashlib.sha256(output).hexdigest() if output is not None else None)}


def test_a_valid_output_is_written_by_the_coordinator(tmp_path):
    job = _job(tmp_path)
    data = _npz(np.ones((32, 40), np.uint8))
    rec = DaskExecutor()._accept(job, _result(data))
    assert rec.status == "ok" and rec.node == "w1" and rec.output == "outputs/2DBox_CT_0000.npz"
    assert job.submission.output("2DBox_CT_0000").read_bytes() == data
    assert job.submission.log("2DBox_CT_0000").read_bytes() == b"a log\n"


def test_an_output_that_did_not_arrive_intact_is_a_harness_error(tmp_path):
    job = _job(tmp_path)
    rec = DaskExecutor()._accept(job, _result(_npz(np.ones((32, 40), np.uint8)), sha="0" * 64))
    assert rec.status == "harness_error" and "w1" in rec.reason and rec.output is None
    assert not job.submission.output("2DBox_CT_0000").exists()


def test_an_output_the_coordinator_refuses_is_a_harness_error(tmp_path):
    job = _job(tmp_path)
    rec = DaskExecutor()._accept(job, _result(_npz(np.ones((5, 5), np.uint8))))  # wrong shape
    assert rec.status == "harness_error" and "coordinator refuses" in rec.reason
    assert not job.submission.output("2DBox_CT_0000").exists()


def test_a_later_run_of_a_case_appends_its_log(tmp_path):
    job = _job(tmp_path)
    DaskExecutor()._accept(job, _result(None, status="nonzero_exit"))
    DaskExecutor()._accept(_job(tmp_path, iteration=2), _result(None, status="nonzero_exit"))
    assert job.submission.log("2DBox_CT_0000").read_bytes() == b"a log\na log\n"


class LostExecutor(FakeExecutor):
    """The executor is gone after the first case (a lost scheduler)."""

    def run(self, job: RunJob) -> CaseRecord:
        if self.jobs:
            raise ExecutorUnavailable("the scheduler was lost")
        return super().run(job)


def test_a_lost_executor_stops_the_run_and_records_nothing_for_the_rest(tmp_path):
    cases = [write_2d(tmp_path / f"2DBox_CT_{i:04d}.npz", seed=i) for i in range(3)]
    with pytest.raises(ExecutorUnavailable):
        run_submission(image_record(), cases, tmp_path / "run", executor=LostExecutor(),
                       progress=False)
    lines = read_journal(RunFolder(tmp_path / "run").submission("team").journal, kind=None)
    assert [(r.case, r.status) for r in lines] == [("2DBox_CT_0000", "ok")]  # no harness_error
    again = run_submission(image_record(), cases, tmp_path / "run", executor=FakeExecutor(),
                           progress=False)
    assert [r.attempt for r in again] == [1, 1, 1]  # resumed, never counted as a failure


class WideExecutor(FakeExecutor):
    """Says it can run three jobs at once; records how many ran together."""

    def __init__(self):
        super().__init__()
        self.now = self.most = 0
        self.lock = threading.Lock()

    def capacity(self) -> int:
        return 3

    def run(self, job: RunJob) -> CaseRecord:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.3)
        with self.lock:
            self.now -= 1
        return super().run(job)


def test_run_submission_keeps_the_executors_capacity_in_flight(tmp_path):
    cases = [write_2d(tmp_path / f"2DBox_CT_{i:04d}.npz", seed=i) for i in range(4)]
    executor = WideExecutor()
    records = run_submission(image_record(), cases, tmp_path / "run", executor=executor,
                             progress=False)
    assert executor.most == 3 and [r.status for r in records] == ["ok"] * 4
    assert not any(j.degraded for j in executor.jobs)  # one case per slot: not side by side
