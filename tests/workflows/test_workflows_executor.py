"""The workflows through the executor seam (no engine): ``check`` runs on whatever executor
it is given, and its table's metric columns come from the metric registry."""

from __future__ import annotations

import numpy as np

from evalkit.config import load_challenge
from evalkit.runfolder import CaseRecord
from evalkit.runner.executor import Executor, RunJob
from evalkit.runner.intake import ImageRecord
from evalkit.workflows.check import check, check_metrics


class GroundTruthExecutor(Executor):
    """Answers every case with its ground truth (``<cases>/gts/<case>.npz``); an
    ``"empty"`` submission answers nothing."""

    kind = "fake"

    def __init__(self):
        self.closed = False
        self.runs: list[str] = []

    def prepare(self, submission: str, name: str | None = None) -> ImageRecord:
        return ImageRecord(name=name or submission, reference=submission, image_id="sha256:" + "12" * 32,
                           tarball=None, tarball_sha256=None, size_bytes=0, user="1000",
                           architecture="amd64", created="")

    def run(self, job: RunJob) -> CaseRecord:
        self.runs.append(job.case.name)
        rec = CaseRecord(case=job.case.name, status="missing_output", image_id=job.image.image_id,
                         attempt=job.attempt, wall_s=0.25, reason="nothing written")
        if job.image.name != "empty":
            gt = job.case.input_path.parent.parent / "gts" / job.case.input_path.name
            with np.load(gt) as z:
                segs = z["gts"].astype(np.uint16)
            out = job.submission.output(job.case.name)
            out.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(out, segs=segs)
            rec.status, rec.reason, rec.output = "ok", "", job.submission.relative(out)
        return rec

    def close(self) -> None:
        self.closed = True


def test_check_columns_come_from_the_registry():
    assert [m.column for m in check_metrics(load_challenge())] == ["dsc", "nsd"]


def test_check_runs_on_the_executor_it_is_given(one_case, tmp_path):
    challenge = load_challenge()
    executor = GroundTruthExecutor()
    result = check("perfect", one_case, tmp_path / "out", challenge, executor=executor, progress=False)
    assert result.passed and not executor.closed  # a passed-in executor is left open
    assert list(result.table.columns) == ["case", "status", "wall_s", "peak_memory_mb", "dsc", "nsd", "reason"]
    assert executor.runs == list(result.table["case"])
    assert (result.table["dsc"] == 1.0).all() and (result.table["nsd"] == 1.0).all()

    empty = check("empty", one_case, tmp_path / "out2", challenge, executor=executor, progress=False)
    assert not empty.passed and "[missing_output]" in empty.problems[0]
    assert (empty.table["dsc"] == 0.0).all()
