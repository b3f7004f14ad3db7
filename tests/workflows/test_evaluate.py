"""`evalkit evaluate` end to end on the real engine: run folder, leaderboard, resume, additive runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main

pytestmark = pytest.mark.docker


def _journal(run: Path, name: str) -> list[dict]:
    return [json.loads(x) for x in (run / "submissions" / name / "journal.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, test_images, tiny_cases, small_config):
    reports = tmp_path_factory.mktemp("reports")
    rc = main(["evaluate", f"boxfill={test_images['ok']}", f"empty={test_images['nothing']}",
               "--cases", str(tiny_cases), "--config", str(small_config), "--reports", str(reports),
               "--run", "e2e", "--no-progress"])
    assert rc == 0
    return reports / "e2e"


def test_run_folder_holds_what_the_readme_promises(run_dir, tiny_cases):
    for rel in ("challenge.toml", "run.json", "cases.csv", "results.csv",
                "submissions/boxfill/image.json", "submissions/boxfill/journal.jsonl",
                "scores/boxfill/cases.csv", "scores/boxfill/instances.csv",
                "ranking/final_ranking.csv", "ranking/task_ranking.csv", "ranking/significance.csv",
                "report/index.html", "report/leaderboard.md"):
        assert (run_dir / rel).is_file(), rel
    cases = pd.read_csv(run_dir / "cases.csv")
    assert sorted(cases["case"]) == sorted(p.stem for p in (tiny_cases / "gts").glob("*.npz"))
    assert cases["input_sha256"].str.len().eq(64).all()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["seed"] == 20240617 and meta["versions"]["numpy"]
    image = json.loads((run_dir / "submissions/boxfill/image.json").read_text())
    assert image["image_id"].startswith("sha256:")


def test_leaderboard_ranks_the_real_answer_first(run_dir):
    final = pd.read_csv(run_dir / "ranking/final_ranking.csv")
    assert final.sort_values("final_rank")["algorithm"].tolist() == ["boxfill", "empty"]
    scores = pd.read_csv(run_dir / "scores/empty/cases.csv")
    assert (scores["status"] == "missing_output").all() and (scores["dsc"] == 0).all()
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results["metric"]) == {"DSC", "NSD", "RunningTime"}
    assert len(results) == 2 * 4 * 3
    # the table values come from the scores and the journal
    mine = results[(results.algorithm == "boxfill") & (results.metric == "DSC")].set_index("case")["value"]
    ref = pd.read_csv(run_dir / "scores/boxfill/cases.csv").set_index("case")["dsc"]
    assert (mine.sort_index() == ref.sort_index()).all()


def test_rerunning_resumes_and_adding_a_submission_runs_only_it(run_dir, test_images, tiny_cases,
                                                                  small_config):
    before = {n: _journal(run_dir, n) for n in ("boxfill", "empty")}
    args = ["--cases", str(tiny_cases), "--config", str(small_config), "--reports",
            str(run_dir.parent), "--run", "e2e", "--no-progress"]
    assert main(["evaluate", f"boxfill={test_images['ok']}", *args]) == 0
    assert _journal(run_dir, "boxfill") == before["boxfill"]  # nothing ran again
    assert main(["evaluate", f"shape={test_images['wrongshape']}", *args]) == 0
    assert {n: _journal(run_dir, n) for n in ("boxfill", "empty")} == before
    assert [r["status"] for r in _journal(run_dir, "shape")] == ["invalid_output"] * 4
    final = pd.read_csv(run_dir / "ranking/final_ranking.csv")
    assert set(final["algorithm"]) == {"boxfill", "empty", "shape"}


def test_reusing_a_run_with_another_config_is_refused(run_dir, test_images, tiny_cases, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text('[metrics]\nmode = "strict"\n')
    rc = main(["evaluate", f"boxfill={test_images['ok']}", "--cases", str(tiny_cases), "--config",
               str(other), "--reports", str(run_dir.parent), "--run", "e2e", "--no-progress"])
    assert rc == 2
    assert "another challenge configuration" in capsys.readouterr().err


def test_rerun_reproduces_and_compare_reports_differences(run_dir, capsys):
    rc = main(["rerun", str(run_dir), "--submission", "boxfill", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "VERDICT: reproduced" in out, out
    rerun = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    summary = pd.read_csv(rerun / "comparison/summary.csv")
    assert (summary["max_abs_diff"] == 0).all()
    assert (rerun / "comparison/comparison.png").stat().st_size > 1000
    rc = main(["compare", str(run_dir), str(run_dir), "--a", "boxfill", "--b", "empty"])
    out = capsys.readouterr().out
    assert rc == 1 and "VERDICT: not reproduced" in out
