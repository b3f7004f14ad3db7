"""``compare`` on case tables (no engine): the metrics come from the registry and the
run's ``[metrics] enabled``, each with its own tolerance; the figure is drawn by the
report and written as PNG and SVG."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from evalkit.config import Challenge, load_challenge
from evalkit.metrics import registry
from evalkit.metrics.registry import Metric
from evalkit.workflows.compare_cli import print_comparison
from evalkit.workflows.reproduce import compare, tolerance, write_comparison


def side(seed: int = 0, n: int = 30) -> pd.DataFrame:
    """A case table as ``side_table`` returns it."""
    rng = np.random.default_rng(seed)
    dsc = np.round(rng.uniform(0.5, 1.0, n), 4)
    return pd.DataFrame(
        {
            "case": [f"2DBox_US_{i:04d}" for i in range(n)],
            "modality": np.where(np.arange(n) % 3 == 0, "CT", "US"),
            "dsc": dsc,
            "nsd": np.round(np.clip(dsc + rng.normal(0, 0.05, n), 0, 1), 4),
            "runtime_s": rng.uniform(1.0, 3.0, n),
            "status": "ok",
        }
    )


def challenge_with(**reproducibility) -> Challenge:
    data = copy.deepcopy(load_challenge().data)
    for key, value in reproducibility.items():
        if value is None:
            data["reproducibility"].pop(key, None)
        else:
            data["reproducibility"][key] = value
    return Challenge(data, "test")


def test_identical_sides_are_reproduced_with_every_enabled_metric():
    a = side()
    cmp = compare(a, a.copy(), load_challenge())
    assert cmp.reproduced and cmp.reasons == [] and cmp.notes == []
    assert list(cmp.summary["metric"]) == [m.name for m in registry.scored(["DSC", "NSD"])]
    assert (cmp.summary["max_abs_diff"] == 0).all() and (cmp.summary["p_wilcoxon"] == 1).all()
    assert list(cmp.by_modality.columns) == [
        "modality", "dsc_a", "dsc_b", "nsd_a", "nsd_b", "runtime_s_a", "runtime_s_b"
    ]


def test_a_shift_beyond_the_tolerance_fails_with_the_metric_named():
    a = side()
    b = a.copy()
    b["nsd"] = b["nsd"] - 0.02
    cmp = compare(a, b, load_challenge())
    assert not cmp.reproduced
    assert len(cmp.reasons) == 1 and cmp.reasons[0].startswith("NSD mean difference")
    row = cmp.summary.set_index("metric").loc["NSD"]
    assert not row["within"]
    assert row["ci_hi"] == pytest.approx(-0.02) and row["tolerance"] == 0.005


def test_tolerances_table_wins_over_the_column_key():
    ch = challenge_with(tolerances={"NSD": 0.05})
    assert tolerance(ch.data["reproducibility"], registry.get("NSD")) == 0.05
    assert tolerance(ch.data["reproducibility"], registry.get("DSC")) == 0.005
    a = side()
    b = a.copy()
    b["nsd"] = b["nsd"] - 0.02
    assert compare(a, b, ch).reproduced


def test_a_metric_without_tolerance_is_reported_not_judged(capsys, tmp_path):
    ch = challenge_with(nsd_tolerance=None)
    a = side()
    b = a.copy()
    b["nsd"] = b["nsd"] - 0.3  # far off, but NSD has no tolerance
    cmp = compare(a, b, ch)
    assert cmp.reproduced, cmp.reasons
    row = cmp.summary.set_index("metric").loc["NSD"]
    assert row["within"] is None and np.isnan(row["tolerance"])
    assert row["mean_diff"] == pytest.approx(-0.3)
    assert any("NSD" in n and "not part of the verdict" in n for n in cmp.notes)
    print_comparison(cmp, "A", "B", tmp_path)
    out = capsys.readouterr().out
    assert "note: NSD: no tolerance" in out and "VERDICT: reproduced" in out


def test_an_enabled_metric_with_a_unit_is_compared_and_printed_with_it(
    monkeypatch, capsys, tmp_path
):
    extra = Metric("XD95", "xd95", "smaller", float("inf"), unit="mm", optional=True,
                   instance="evalkit.metrics.distances:hd95", case="evalkit.metrics.case:case_mean")
    monkeypatch.setitem(registry.REGISTRY, extra.name, extra)
    data = copy.deepcopy(load_challenge().data)
    data["metrics"]["enabled"] = ["DSC", "NSD", "XD95"]
    data["reproducibility"]["tolerances"] = {"XD95": 0.5}
    ch = Challenge(data, "test")
    a = side()
    a["xd95"] = np.linspace(1.0, 9.0, len(a))
    b = a.copy()
    b["xd95"] = b["xd95"] + 2.0
    cmp = compare(a, b, ch)
    assert [m.name for m in cmp.metrics] == ["DSC", "NSD", "XD95"]
    assert not cmp.reproduced and cmp.reasons[0].startswith("XD95 mean difference")
    assert "mm" in cmp.reasons[0]
    assert {"xd95_a", "xd95_b"} <= set(cmp.by_modality.columns)
    print_comparison(cmp, "A", "B", tmp_path)
    assert "XD95 (mm)" in capsys.readouterr().out
    paths = write_comparison(cmp, tmp_path / "cmp", "A", "B")
    assert all(p.is_file() for p in paths)
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 1000


def test_an_enabled_metric_missing_from_the_tables_is_a_note(monkeypatch):
    extra = Metric("XD95", "xd95", "smaller", float("inf"), unit="mm", optional=True,
                   instance="evalkit.metrics.distances:hd95", case="evalkit.metrics.case:case_mean")
    monkeypatch.setitem(registry.REGISTRY, extra.name, extra)
    data = copy.deepcopy(load_challenge().data)
    data["metrics"]["enabled"] = ["DSC", "NSD", "XD95"]
    a = side()
    cmp = compare(a, a.copy(), Challenge(data, "test"))
    assert cmp.reproduced and list(cmp.summary["metric"]) == ["DSC", "NSD"]
    assert any("XD95" in n and "not compared" in n for n in cmp.notes)


def test_write_comparison_writes_tables_verdict_and_figure(tmp_path):
    a = side()
    b = a.copy()
    b["runtime_s"] = b["runtime_s"] * 3
    b.loc[0, "status"] = "timeout"
    cmp = compare(a, b, load_challenge())
    paths = write_comparison(cmp, tmp_path, "run/a", "run/b")
    assert [p.name for p in paths] == [
        "cases.csv", "summary.csv", "by_modality.csv", "verdict.json",
        "comparison.png", "comparison.svg",
    ]
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["reproduced"] is False and len(verdict["reasons"]) == 2
    assert pd.read_csv(tmp_path / "summary.csv")["within"].tolist() == [True, True]
    assert (tmp_path / "comparison.svg").read_text().lstrip().startswith("<?xml")


def test_cases_in_one_run_only_are_named_in_a_note():
    """compare pairs the cases both runs share (a subset rerun is allowed), but the cases it
    leaves out are counted and named, not dropped silently."""
    import pandas as pd

    from evalkit.config import load_challenge
    from evalkit.workflows.reproduce import compare

    a = pd.DataFrame({"case": ["2DBox_US_0000", "2DBox_US_0001", "2DBox_US_0002"], "modality": "US",
                      "dsc": [0.9, 0.8, 0.7], "nsd": [0.8, 0.7, 0.6], "runtime_s": [1.0, 1.0, 1.0],
                      "status": "ok"})
    b = a.iloc[:2].copy()
    b.loc[len(b)] = ["2DBox_US_0009", "US", 0.5, 0.5, 1.0, "ok"]
    cmp = compare(a, b, load_challenge())
    assert cmp.reproduced and len(cmp.cases) == 2
    assert "1 case only in A, not compared (2DBox_US_0002)" in cmp.notes
    assert "1 case only in B, not compared (2DBox_US_0009)" in cmp.notes
    assert compare(a, a.copy(), load_challenge()).notes == []
