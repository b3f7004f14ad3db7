"""The one scores + journal join (results.csv, per-submission case tables) on a hand-made run folder.

The two functions it replaced (``workflows.evaluate.results_table`` and
``workflows.reproduce.side_table`` before the registry) are kept here verbatim in
logic as the reference: for cvpr24 the output must not change, row order and
NaN for a missing runtime included.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from evalkit.config import load_challenge
from evalkit.metrics.case import CASE_COLUMNS
from evalkit.metrics.results import ResultsError, results_table, submission_cases
from evalkit.runfolder import CaseRecord, RunFolder, RunFolderError, latest_by_case, read_journal
from evalkit.workflows.reproduce import side_table

CVPR24_RANKED = ["DSC", "NSD", "RunningTime"]  # keys of cvpr24's [ranking] metrics


def _old_results_table(run: RunFolder) -> pd.DataFrame:
    rows = []
    for name in run.submissions():
        scores_csv = run.scores_dir(name) / "cases.csv"
        if not scores_csv.is_file():
            continue
        scores = pd.read_csv(scores_csv)
        journal = latest_by_case(read_journal(run.submission_dir(name) / "journal.jsonl"))
        for row in scores.itertuples(index=False):
            rec = journal.get(row.case)
            wall = rec.wall_s if rec is not None else None
            for metric, value in (("DSC", row.dsc), ("NSD", row.nsd), ("RunningTime", wall)):
                rows.append((row.modality, row.case, name, metric,
                             float("nan") if value is None else float(value)))
    return pd.DataFrame(rows, columns=["task", "case", "algorithm", "metric", "value"])


def _old_side_table(run: RunFolder, name: str) -> pd.DataFrame:
    scores = pd.read_csv(run.scores_dir(name) / "cases.csv")
    journal = latest_by_case(read_journal(run.submission_dir(name) / "journal.jsonl"))
    scores["runtime_s"] = [getattr(journal.get(c), "wall_s", None) for c in scores["case"]]
    return scores[["case", "modality", "dsc", "nsd", "runtime_s", "status"]]


def _row(case, modality, dim, dsc, nsd, status="ok", reason="", **extra):
    return {"case": case, "modality": modality, "dim": dim, "n_instances": 2, "dsc": round(dsc, 4),
            "nsd": round(nsd, 4), "dsc_unrounded": dsc, "nsd_unrounded": nsd, "status": status,
            "reason": reason, **extra}


def _submission(run: RunFolder, name: str, rows: list[dict] | None, records: list[CaseRecord],
                mtime: float, columns=CASE_COLUMNS) -> None:
    sub = run.submission(name)
    sub.root.mkdir(parents=True)
    sub.image_record.write_text(json.dumps({"name": name}))
    os.utime(sub.image_record, (mtime, mtime))  # submissions() orders by image record time
    sub.journal.write_text("".join(r.to_json() + "\n" for r in records))
    if rows is not None:
        run.scores_cases(name).parent.mkdir(parents=True)
        pd.DataFrame(rows, columns=columns).to_csv(run.scores_cases(name), index=False)


@pytest.fixture
def run(tmp_path: Path) -> RunFolder:
    run = RunFolder(tmp_path / "run")
    run.root.mkdir(parents=True)
    run.config_path.write_text(load_challenge().to_toml())  # side_table reads the run's metrics
    # "zeta" is created first: submissions() order is creation order, not names.
    _submission(run, "zeta", [
        _row("2DBox_Microscopy_0001", "Microscopy", 2, 0.912345678, 0.81234567),
        _row("3DBox_CT_0001", "CT", 3, 0.5, 0.25),
        _row("3DBox_CT_0002", "CT", 3, 0.0, 0.0, status="timeout", reason="deadline"),
        _row("3DBox_MR_0003", "MR", 3, float("nan"), float("nan"), status="harness_error", reason="x"),
    ], [
        CaseRecord("2DBox_Microscopy_0001", "ok", wall_s=1.25),
        CaseRecord("3DBox_CT_0001", "harness_error", attempt=1),
        CaseRecord("3DBox_CT_0001", "ok", wall_s=3.5, attempt=2),  # the later attempt wins
        CaseRecord("3DBox_CT_0002", "timeout", wall_s=900.0),
        CaseRecord("3DBox_CT_0002", "ok", wall_s=1.0, record="run"),  # a run line: not a case outcome
        CaseRecord("3DBox_MR_0003", "harness_error"),  # no wall clock: NaN, ranked worst
    ], mtime=1_000)
    _submission(run, "alpha", [
        _row("2DBox_Microscopy_0001", "Microscopy", 2, 0.7, 0.6),
        _row("3DBox_CT_0001", "CT", 3, 0.1, 0.0),
        _row("3DBox_CT_0002", "CT", 3, 0.0, 0.0, status="missing_output"),
        _row("3DBox_MR_0003", "MR", 3, 0.3, 0.2),
    ], [
        CaseRecord("2DBox_Microscopy_0001", "ok", wall_s=2.0),
        CaseRecord("3DBox_CT_0001", "ok", wall_s=2.5),
        CaseRecord("3DBox_CT_0002", "missing_output", wall_s=0.5),
        # 3DBox_MR_0003 has no journal record at all: NaN
    ], mtime=2_000)
    _submission(run, "unscored", None, [CaseRecord("3DBox_CT_0001", "ok", wall_s=1.0)], mtime=3_000)
    return run


def test_results_table_equals_the_old_function_for_cvpr24(run):
    new = results_table(run, CVPR24_RANKED)
    old = _old_results_table(run)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert list(new["algorithm"].unique()) == ["zeta", "alpha"]
    assert new["metric"].tolist()[:3] == ["DSC", "NSD", "RunningTime"]
    runtime = new[new["metric"] == "RunningTime"].set_index(["algorithm", "case"])["value"]
    assert runtime["zeta", "3DBox_CT_0001"] == 3.5
    assert math.isnan(runtime["zeta", "3DBox_MR_0003"]) and math.isnan(runtime["alpha", "3DBox_MR_0003"])
    assert len(new) == 2 * 4 * 3


def test_results_table_follows_the_ranked_metrics_and_their_order(run):
    new = results_table(run, ["RunningTime", "DSC"])
    assert new["metric"].tolist()[:2] == ["RunningTime", "DSC"] and set(new["metric"]) == {"RunningTime", "DSC"}
    with pytest.raises(ResultsError, match=r"hd95.*HD95.*\[metrics\] enabled"):
        results_table(run, ["DSC", "HD95"])


def test_results_table_reads_an_enabled_distance_metric(tmp_path):
    run = RunFolder(tmp_path / "run")
    cols = [*CASE_COLUMNS[:6], "hd95", *CASE_COLUMNS[6:8], "hd95_unrounded", *CASE_COLUMNS[8:]]
    _submission(run, "a", [_row("3DBox_CT_0001", "CT", 3, 0.5, 0.4, hd95=float("inf"), hd95_unrounded=float("inf")),
                           _row("3DBox_CT_0002", "CT", 3, 0.5, 0.4, hd95=2.5, hd95_unrounded=2.5)],
                [CaseRecord("3DBox_CT_0001", "ok", wall_s=1.0)], mtime=1_000, columns=cols)
    new = results_table(run, ["DSC", "NSD", "HD95", "RunningTime"])
    hd = new[new["metric"] == "HD95"]["value"].tolist()
    assert math.isnan(hd[0]) and hd[1] == 2.5  # inf (an empty mask) is written as missing: ranked worst
    table = submission_cases(run, "a")
    assert list(table.columns) == ["case", "modality", "status", "dsc", "nsd", "hd95", "wall_s"]


def test_side_table_equals_the_old_function(run):
    for name in ("zeta", "alpha"):
        pd.testing.assert_frame_equal(side_table(run, name), _old_side_table(run, name), check_exact=True)
    with pytest.raises(RunFolderError, match="no scores for submission 'unscored'"):
        side_table(run, "unscored")


def test_submission_cases_has_one_column_per_metric(run):
    table = submission_cases(run, "zeta")
    assert list(table.columns) == ["case", "modality", "status", "dsc", "nsd", "wall_s"]
    assert table["wall_s"].tolist()[:2] == [1.25, 3.5]
    assert table["case"].tolist() == pd.read_csv(run.scores_cases("zeta"))["case"].tolist()
    only = submission_cases(run, "zeta", ["NSD"])
    assert list(only.columns) == ["case", "modality", "status", "nsd"]


def test_a_ranked_distance_metric_reaches_the_ranking(tmp_path):
    from evalkit.config import load_challenge
    from evalkit.ranking import rank_results

    run = RunFolder(tmp_path / "run")
    cols = [*CASE_COLUMNS[:6], "hd95", *CASE_COLUMNS[6:8], "hd95_unrounded", *CASE_COLUMNS[8:]]
    for k, (name, hds) in enumerate((("a", [1.0, 2.0, float("inf")]), ("b", [3.0, 4.0, 5.0]))):
        rows = [_row(f"3DBox_CT_{i:04d}", "CT", 3, 0.5, 0.4, hd95=h, hd95_unrounded=h) for i, h in enumerate(hds)]
        _submission(run, name, rows, [CaseRecord(r["case"], "ok", wall_s=1.0) for r in rows],
                    mtime=1_000 + k, columns=cols)
    results = results_table(run, ["HD95"])
    assert results["value"].isna().sum() == 1  # the inf case: missing, ranked worst
    ranking = {**load_challenge().ranking, "metrics": {"HD95": "smaller"}, "bootstrap_samples": 0}
    ranks = rank_results(results, ranking).case_ranks.set_index(["case", "algorithm"])["rank"]
    assert ranks["3DBox_CT_0000", "a"] == 1 and ranks["3DBox_CT_0002", "a"] == 2


def test_text_runs_drop_a_metric_that_no_submission_has_for_a_case(tmp_path):
    from evalkit.metrics.case import case_columns
    from evalkit.metrics.registry import metrics as named

    run = RunFolder(tmp_path / "run")
    cols = case_columns(named(["DSC", "F1"]))
    nan = float("nan")

    def row(case, dsc, f1, status="ok"):
        return {"case": case, "modality": "CT", "dim": 3, "n_instances": 1, "dsc": dsc, "f1": f1,
                "dsc_unrounded": dsc, "f1_unrounded": f1, "status": status, "reason": ""}

    _submission(run, "a", [row("3DText_CT_0001", 0.8, nan), row("3DText_CT_0002", nan, 0.5)],
                [CaseRecord("3DText_CT_0001", "ok", wall_s=1.0)], mtime=1_000, columns=cols)
    _submission(run, "b", [row("3DText_CT_0001", 0.0, nan, "timeout"), row("3DText_CT_0002", nan, nan,
                                                                            "harness_error")],
                [CaseRecord("3DText_CT_0001", "timeout", wall_s=9.0)], mtime=1_001, columns=cols)
    kept = results_table(run, ["DSC", "F1", "RunningTime"], drop_inapplicable=True)
    pairs = set(zip(kept["case"], kept["metric"]))
    assert ("3DText_CT_0001", "F1") not in pairs and ("3DText_CT_0002", "DSC") not in pairs
    assert ("3DText_CT_0002", "F1") in pairs and ("3DText_CT_0002", "RunningTime") in pairs
    b = kept[(kept.algorithm == "b") & (kept.metric == "F1")]["value"]
    assert b.isna().all() and len(b) == 1          # beside a's value: missing, ranked worst
    assert len(results_table(run, ["DSC", "F1", "RunningTime"])) == 12   # default: every row
