"""The interactive protocol's loop, with a fake executor (logic only; the real engine runs
it in tests/runner/test_interactive_docker.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evalkit.config import load_challenge
from evalkit.runfolder import CaseRecord, RunFolder, open_journal, read_journal
from evalkit.runfolder.journal import runs_by_case
from evalkit.runner.execute import CaseJob
from evalkit.runner.executor import Executor, RunJob
from evalkit.runner.intake import ImageRecord
from evalkit.runner.interactive import Interactive, InteractiveSettings
from evalkit.runner.limits import RunnerLimits

CH = load_challenge("cvpr25-interactive")
SHAPE = (6, 20, 20)


class ClickFollower(Executor):
    """Fake engine: predicts the box (run 1), then adds/removes a 3x3x3 ball per click.

    ``fail``: iteration -> status to return instead (no output written).
    """

    kind = "fake"

    def __init__(self, fail: dict[int, str] | None = None, wall: float = 1.0):
        self.fail, self.wall, self.calls = dict(fail or {}), wall, []

    def prepare(self, submission, name=None):  # pragma: no cover - unused
        raise NotImplementedError

    def run(self, job: RunJob) -> CaseRecord:
        self.calls.append((job.case.name, job.iteration))
        rec = CaseRecord(case=job.case.name, status="ok", wall_s=self.wall, engine_s=self.wall,
                         image_id=job.image.image_id, attempt=job.attempt, iteration=job.iteration)
        if job.iteration in self.fail:
            return replace(rec, status=self.fail[job.iteration], reason="fake failure")
        with np.load(job.case.input_path, allow_pickle=True) as f:  # the fake is the participant
            data = dict(f)
        segs = data["prev_pred"].astype(np.uint8) if "prev_pred" in data else np.zeros(SHAPE, np.uint8)
        if job.iteration == 1:
            for i, b in enumerate(data["boxes"], 1):
                segs[b["z_min"]:b["z_max"] + 1, b["z_mid_y_min"]:b["z_mid_y_max"] + 1,
                     b["z_mid_x_min"]:b["z_mid_x_max"] + 1] = i
        else:
            for i, cl in enumerate(data["clicks"], 1):
                for kind, value in (("fg", i), ("bg", 0)):
                    for z, y, x in cl[kind]:
                        segs[max(z - 1, 0):z + 2, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = value
        out = job.submission.output(job.case.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, segs=segs)
        return replace(rec, output=job.submission.relative(out))


def _case(tmp: Path, name: str, boxes: bool = True) -> CaseJob:
    gts = np.zeros(SHAPE, np.uint8)
    gts[1:5, 4:12, 4:12] = 1
    gts[2:4, 14:18, 14:18] = 2
    members = {"imgs": (gts * 60).astype(np.uint8), "spacing": np.array([2.0, 1.0, 1.0])}
    if boxes:
        members["boxes"] = [
            {"z_min": 1, "z_max": 4, "z_mid": 2, "z_mid_x_min": 3, "z_mid_y_min": 3,
             "z_mid_x_max": 13, "z_mid_y_max": 13},
            {"z_min": 2, "z_max": 3, "z_mid": 2, "z_mid_x_min": 14, "z_mid_y_min": 14,
             "z_mid_x_max": 17, "z_mid_y_max": 17}]
    (tmp / "imgs").mkdir(exist_ok=True)
    (tmp / "gts").mkdir(exist_ok=True)
    np.savez_compressed(tmp / "imgs" / f"{name}.npz", **members)
    np.savez_compressed(tmp / "gts" / f"{name}.npz", gts=gts)
    return CaseJob(name, tmp / "imgs" / f"{name}.npz", SHAPE, 3, tmp / "gts" / f"{name}.npz")


def _run(tmp: Path, executor: Executor, case: CaseJob, settings=None, previous=None, attempt=1):
    sub = RunFolder(tmp / "run").submission("team")
    sub.root.mkdir(parents=True, exist_ok=True)
    image = ImageRecord("team", "team:test", "sha256:" + "0" * 64, None, None, 0, "", "amd64", "")
    job = RunJob(image, case, sub, RunnerLimits.from_config(CH.runner), dict(CH.contract),
                 attempt=attempt)
    protocol = Interactive(settings or InteractiveSettings.from_challenge(CH))
    with open_journal(sub.journal) as journal:
        rec = protocol.run_case(executor, job, previous or [], journal)
        journal.append(rec)
    return sub, rec


def test_box_then_five_click_runs(tmp_path):
    ex = ClickFollower()
    sub, rec = _run(tmp_path, ex, _case(tmp_path, "CT_a"))
    assert [k for _, k in ex.calls] == [1, 2, 3, 4, 5, 6]
    runs = runs_by_case(read_journal(sub.journal, kind=None))["CT_a"]
    assert [r.iteration for r in runs] == [1, 2, 3, 4, 5, 6]
    assert all(r.status == "ok" and r.output == f"iterations/CT_a/{r.iteration}.npz" for r in runs)
    assert rec.status == "ok" and rec.record == "case" and rec.wall_s == pytest.approx(6.0)
    assert (sub.root / rec.output).is_file() and rec.output == "outputs/CT_a.npz"
    clicks = json.loads((sub.iterations_dir("CT_a") / "clicks.json").read_text())
    assert [it["iteration"] for it in clicks["iterations"]] == [2, 3, 4, 5, 6]


def test_case_without_boxes_skips_run_one(tmp_path):
    ex = ClickFollower()
    sub, rec = _run(tmp_path, ex, _case(tmp_path, "vessel", boxes=False))
    assert [k for _, k in ex.calls] == [2, 3, 4, 5, 6]
    first = runs_by_case(read_journal(sub.journal, kind=None))["vessel"][0]
    assert first.status == "skipped" and first.output is None and first.wall_s == 0.0
    assert rec.status == "ok"


@pytest.mark.parametrize("mode, expect_output", [("official", "iterations/CT_a/2.npz"), ("strict", None)])
def test_failed_run_stale_file_or_zero(tmp_path, mode, expect_output):
    settings = replace(InteractiveSettings.from_challenge(CH),
                       keep_outputs=mode == "official", uint8_prev=mode == "official")
    sub, rec = _run(tmp_path, ClickFollower(fail={3: "timeout"}), _case(tmp_path, "CT_a"), settings)
    runs = runs_by_case(read_journal(sub.journal, kind=None))["CT_a"]
    assert runs[2].status == "timeout" and runs[2].output == expect_output
    assert rec.status == "timeout" and rec.reason.startswith("run 3:")
    assert len(runs) == 6 and runs[5].status == "ok"


def test_resume_mid_case_runs_each_iteration_once_with_the_same_clicks(tmp_path):
    case = _case(tmp_path, "CT_a")
    full_dir = tmp_path / "full"
    full_dir.mkdir()
    _, _ = _run(full_dir, ClickFollower(), _case(full_dir, "CT_a"))
    want = (full_dir / "run/submissions/team/iterations/CT_a/clicks.json").read_text()

    class Killed(Exception):
        pass

    class DiesAt4(ClickFollower):
        def run(self, job):
            if job.iteration == 4:
                raise Killed
            return super().run(job)

    with pytest.raises(Killed):
        _run(tmp_path, DiesAt4(), case)
    sub = RunFolder(tmp_path / "run").submission("team")
    previous = runs_by_case(read_journal(sub.journal, kind=None))["CT_a"]
    assert [r.iteration for r in previous] == [1, 2, 3]
    ex = ClickFollower()
    _, rec = _run(tmp_path, ex, case, previous=previous)
    assert [k for _, k in ex.calls] == [4, 5, 6]
    runs = runs_by_case(read_journal(sub.journal, kind=None))["CT_a"]
    assert [r.iteration for r in runs] == [1, 2, 3, 4, 5, 6]
    assert (sub.iterations_dir("CT_a") / "clicks.json").read_text() == want
    assert rec.status == "ok"


def test_over_budget_stops_and_says_so(tmp_path):
    settings = replace(InteractiveSettings.from_challenge(CH), budget_s_per_class=1.0)
    ex = ClickFollower(wall=0.8)
    _sub, rec = _run(tmp_path, ex, _case(tmp_path, "CT_a"), settings)
    assert rec.status == "over_budget" and "budget of 2 s" in rec.reason
    assert [k for _, k in ex.calls] == [1, 2, 3]  # 2.4 s > 2 s after run 3: the rest not started


def test_harness_error_in_a_run_ends_the_case_for_a_retry(tmp_path):
    _sub, rec = _run(tmp_path, ClickFollower(fail={2: "harness_error"}), _case(tmp_path, "CT_a"))
    assert rec.status == "harness_error" and rec.reason.startswith("run 2:")


def test_perfect_class_gets_no_click(tmp_path):
    ex = ClickFollower()
    sub, _ = _run(tmp_path, ex, _case(tmp_path, "CT_a"))
    clicks = json.loads((sub.iterations_dir("CT_a") / "clicks.json").read_text())
    # class 2's box is exact after run 1 (its box equals its GT): no click, None in the order
    assert clicks["iterations"][0]["clicks"][1]["kind"] is None
    with np.load(sub.iterations_dir("CT_a") / "2.npz") as f:
        assert f["segs"].shape == SHAPE


def test_over_budget_case_scores_zero_and_every_run_says_why(tmp_path):
    from evalkit.metrics.interactive_scoring import InteractiveScoring, score_interactive_case

    settings = replace(InteractiveSettings.from_challenge(CH), budget_s_per_class=1.0)
    case = _case(tmp_path, "CT_a")
    sub, rec = _run(tmp_path, ClickFollower(wall=0.8), case, settings)
    runs = runs_by_case(read_journal(sub.journal, kind=None))["CT_a"]
    row, per_run = score_interactive_case("CT_a", "CT", case.gt_path, case.input_path, sub.root,
                                          runs, rec, InteractiveScoring(), limits=dict(CH.contract))
    assert row["status"] == "over_budget" and row["dsc_1"] == 0.0 and row["dsc_auc"] == 0.0
    assert list(per_run["status"][:3]) == ["ok", "ok", "ok"]
    assert all(r.startswith("case over budget: scores 0") for r in per_run["reason"])
