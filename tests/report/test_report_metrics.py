"""The report takes its metrics from the registry: a run that ranks one more metric
(here a made-up distance in mm, registered for the test) gets its leaderboard columns,
its own accuracy figure, a panel in the per-modality figure and the per-metric
ranking figures, with labels and decimals from the registry; the cvpr24 metrics keep
their figures."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from evalkit.metrics import registry
from evalkit.metrics.registry import Metric
from evalkit.ranking import rank_results, write_ranking
from evalkit.report import build_report
from evalkit.report.tables import format_leaderboard

EXTRA = Metric("XD95", "xd95", "smaller", float("inf"), unit="mm", optional=True,
               title="a test distance", instance="evalkit.metrics.distances:hd95",
               case="evalkit.metrics.case:case_mean")


@pytest.fixture
def run_with_extra_metric(run4, tmp_path, monkeypatch) -> Path:
    monkeypatch.setitem(registry.REGISTRY, EXTRA.name, EXTRA)
    run = tmp_path / "run"
    shutil.copytree(run4, run, symlinks=True)
    config = tomllib.loads((run / "challenge.toml").read_text())
    config["ranking"]["metrics"][EXTRA.name] = EXTRA.direction
    (run / "challenge.toml").write_text(tomli_w.dumps(config))
    results = pd.read_csv(run / "results.csv", dtype={"case": str})
    dsc = results[results["metric"] == "DSC"].copy()
    rng = np.random.default_rng(0)
    dsc["value"] = (1.0 - dsc["value"]) * 20.0 + rng.uniform(0, 1, len(dsc))
    dsc["metric"] = EXTRA.name
    results = pd.concat([results, dsc], ignore_index=True)
    results.to_csv(run / "results.csv", index=False)
    ranking = dict(config["ranking"], bootstrap_samples=10)
    write_ranking(rank_results(results, ranking), run / "ranking")
    return run


def test_an_extra_ranked_metric_gets_its_columns_and_figures(run_with_extra_metric):
    report = build_report(run_with_extra_metric, progress=False)
    names = {f.name for f in report.figures}
    for stem in ("significance", "blob_tasks", "case_rank_heatmap"):
        assert {f"{stem}_DSC", f"{stem}_XD95"} <= names, stem
    # DSC and NSD share an axis (bounded ratios); the mm metric gets its own figure
    assert {"scores_2d", "scores_2d_XD95", "scores_3d", "scores_3d_XD95"} <= names
    own = pd.read_csv(report.out_dir / "figures" / "scores_2d_XD95.csv")
    assert set(own["metric"]) == {"XD95"}
    shared = pd.read_csv(report.out_dir / "figures" / "scores_2d.csv")
    assert set(shared["metric"]) == {"DSC", "NSD"}
    panels = pd.read_csv(report.out_dir / "figures" / "modality_scores_top.csv")
    assert set(panels["metric"]) == {"DSC", "NSD", "XD95"}

    board = pd.read_csv(report.out_dir / "leaderboard.csv")
    assert {"XD95_all", "XD95_CT", "XD95_US"} <= set(board.columns)
    md = (report.out_dir / "leaderboard.md").read_text()
    assert "## XD95 per modality (mean mm per case)" in md
    assert "## DSC per modality (mean per case)" in md
    assert "## RunningTime per modality (mean s per case)" in md


def test_leaderboard_decimals_follow_the_metric_unit(monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, EXTRA.name, EXTRA)
    board = pd.DataFrame(
        {"algorithm": ["a"], "DSC_CT": [0.912345], "XD95_CT": [3.14159], "RunningTime_CT": [1.23456]}
    )
    fmt = format_leaderboard(board)
    assert fmt.loc[0, "DSC_CT"] == "0.9123"
    assert fmt.loc[0, "XD95_CT"] == "3.14"
    assert fmt.loc[0, "RunningTime_CT"] == "1.23"
