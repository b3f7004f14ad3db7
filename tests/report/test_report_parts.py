"""Demo-scale reports, missing optional parts, hostile files, table logic, CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.report import ReportInputError, build_report
from evalkit.report.examples import load_examples
from evalkit.report.inputs import last_log_line, load_run
from evalkit.report.tables import failure_counts, leaderboard, to_markdown


@pytest.fixture
def run4_copy(run4, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run4, dst, symlinks=True)
    return dst


def test_demo_scale_report_and_default_out(run4_copy):
    report = build_report(run4_copy, progress=False)
    assert report.out_dir == run4_copy / "report"
    assert report.notes == []
    board = pd.read_csv(report.out_dir / "leaderboard.csv")
    assert list(board["final_rank"]) == sorted(board["final_rank"]) and len(board) == 4
    ex = pd.read_csv(report.out_dir / "figures" / "examples.csv")
    assert ex["modality"].nunique() == 10
    # a prediction is drawn exactly where the runner produced one (a timed-out case has none)
    for _, r in ex.iterrows():
        journal = pd.read_json(
            run4_copy / "submissions" / r["algorithm"] / "journal.jsonl", lines=True
        ).set_index("case")
        assert r["has_prediction"] == (journal.loc[r["case"], "status"] == "ok"), tuple(r)
    assert (~ex["has_prediction"]).sum() == 1
    # 3D examples are drawn at a slice (the one with most reference voxels), 2D at none
    three_d = ex["case"].str.startswith("3D")
    assert ex.loc[three_d, "slice"].notna().all() and ex.loc[~three_d, "slice"].isna().all()
    # top algorithms = best three by final rank (no baseline among these four)
    assert set(ex["algorithm"]) == set(board["algorithm"].iloc[:3])


def test_missing_bootstrap_and_cases_are_notes_not_crashes(run4_copy):
    for name in ("bootstrap_ranks", "bootstrap_rank_frequencies", "kendall_tau"):
        (run4_copy / "ranking" / f"{name}.csv").unlink()
    (run4_copy / "cases.csv").unlink()
    report = build_report(run4_copy, run4_copy / "rep", progress=False)
    names = {f.name for f in report.figures}
    assert not {"blob_final", "blob_tasks_DSC", "kendall_tau", "examples"} & names
    assert {"scores_2d", "significance_DSC", "rank_heatmap"} <= names
    text = " ".join(report.notes)
    assert "bootstrap" in text and "cases.csv" in text and "kendall_tau" in text
    board = pd.read_csv(report.out_dir / "leaderboard.csv")
    assert board["rank_ci_lo"].isna().all() and board["mean_rank"].notna().all()
    index = (report.out_dir / "index.html").read_text()
    assert "bootstrap rank intervals omitted" in index


def test_hostile_prediction_files_drop_out_of_the_example(run4_copy, tmp_path):
    board = pd.read_csv(run4_copy / "ranking" / "final_ranking.csv").sort_values("final_rank")
    first, second = board["algorithm"].iloc[0], board["algorithm"].iloc[1]
    case = "2DBox_US_0001"
    # a pickled object array where segs should be, and a symlink pointing out of outputs
    bad = run4_copy / "submissions" / first / "outputs" / f"{case}.npz"
    np.savez(bad, segs=np.array([{"evil": 1}], dtype=object))
    link = run4_copy / "submissions" / second / "outputs" / f"{case}.npz"
    secret = tmp_path / "secret.npz"
    shutil.copy(link, secret)
    link.unlink()
    os.symlink(secret, link)
    run = load_run(run4_copy)
    algs = list(board["algorithm"])
    examples, table = load_examples(
        run.cases, run.scores, algs, ["US"], run4_copy, run.challenge.contract
    )
    row = table[table["case"] == case].set_index("algorithm")["has_prediction"]
    assert not row[first] and not row[second]
    assert row.sum() == len(row) - 2
    assert set(examples[0]["preds"]) == set(algs) - {first, second}


def test_results_missing_is_a_clear_error(run4_copy, capsys):
    (run4_copy / "results.csv").unlink()
    with pytest.raises(ReportInputError, match="results.csv"):
        build_report(run4_copy, progress=False)
    assert main(["report", "--run", str(run4_copy), "--no-progress"]) == 2
    assert "results.csv" in capsys.readouterr().err


def test_bad_columns_name_file_and_columns(run4_copy):
    pd.DataFrame({"algorithm": ["a"], "score": [1]}).to_csv(
        run4_copy / "ranking" / "final_ranking.csv", index=False
    )
    with pytest.raises(ReportInputError, match=r"final_ranking.csv.*consensus_score"):
        build_report(run4_copy, progress=False)


def test_cli_as_a_real_process(run4_copy, tmp_path):
    out = tmp_path / "cli_out"
    done = subprocess.run(
        [sys.executable, "-m", "evalkit.cli", "report", "--run", str(run4_copy), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "index.html")
    assert "report figures" in done.stderr  # tqdm progress on stderr
    assert (out / "figures" / "bubbles_2d.svg").is_file()


def test_last_log_line_is_bounded_and_refuses_symlinks(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 200_000 + b"\nfirst\n\x1b[31mlast \x00line\xff\n\n")
    assert last_log_line(log) == "[31mlast line\ufffd"
    long = tmp_path / "b.log"
    long.write_text("y" * 1000)
    assert len(last_log_line(long, max_chars=50)) == 51
    link = tmp_path / "c.log"
    os.symlink(log, link)
    assert last_log_line(link) == ""
    assert last_log_line(tmp_path / "missing.log") == ""


def test_leaderboard_by_hand():
    final = pd.DataFrame(
        {"algorithm": ["B", "A"], "consensus_score": [1.5, 2.0], "final_rank": [1, 2]}
    )
    results = pd.DataFrame(
        {
            "task": ["CT"] * 4 + ["US"] * 4,
            "case": ["c1", "c2"] * 4,
            "algorithm": ["A", "A", "B", "B"] * 2,
            "metric": ["DSC"] * 8,
            "value": [0.5, 0.7, 0.9, np.nan, 0.2, 0.4, 1.0, 0.8],
        }
    )
    boot = pd.DataFrame(
        {
            "scope": ["final", "final", "task"],
            "task": ["", "", "CT"],
            "metric": ["", "", "DSC"],
            "algorithm": ["A", "B", "A"],
            "median_rank": [2, 1, 9],
            "rank_lo": [1, 1, 9],
            "rank_hi": [2, 2, 9],
            "p_rank1": [0.25, 0.75, 0.0],
        }
    )
    scores = pd.DataFrame(
        {
            "algorithm": ["A", "A", "B"],
            "case": ["c1", "c2", "c2"],
            "status": ["ok", "timeout", "oom"],
        }
    )
    fails = failure_counts(scores, {}, ["B", "A"])
    board = leaderboard(final, results, ["CT", "US"], ["DSC"], boot, fails)
    assert list(board["algorithm"]) == ["B", "A"]
    b, a = board.iloc[0], board.iloc[1]
    assert b["DSC_CT"] == pytest.approx(0.9) and b["n_missing"] == 1  # NaN skipped, counted
    assert a["DSC_US"] == pytest.approx(0.3) and a["DSC_all"] == pytest.approx(0.45)
    assert a["p_rank1"] == 0.25 and b["rank_ci_hi"] == 2
    assert (a["failed_timeout"], a["failed_oom"], b["failed_oom"]) == (1, 0, 1)
    assert a["mean_rank"] == 2.0
    md = to_markdown(pd.DataFrame({"x": ["a|b"], "y": ["1\n2"]}))
    assert md.splitlines()[2] == "| a\\|b | 1 2 |"


def test_odd_algorithm_names_print_literally(tmp_path):
    from .synthetic import make_run

    # "$\\frac$" is invalid mathtext: drawn as TeX it would raise at savefig
    names = ["cost$\\frac$-team", "<b>bold</b>&co", "plain"]
    run = make_run(
        tmp_path / "run", names=names, per_modality=3, bootstrap_samples=10, examples=False
    )
    report = build_report(run, progress=False)
    assert len(report.figures) >= 15
    index = (report.out_dir / "index.html").read_text()
    assert "<b>bold</b>" not in index and "&lt;b&gt;bold&lt;/b&gt;&amp;co" in index
    svg = (report.out_dir / "figures" / "scores_2d.svg").read_text()
    assert "cost$\\frac$-team" in svg
    md = (report.out_dir / "leaderboard.md").read_text()
    assert "cost$\\frac$-team" in md
