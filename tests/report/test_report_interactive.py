"""The report of an interactive (CVPR25) run: the AUC/Final leaderboard, DSC and NSD per
run (per algorithm and per modality), failures by run, and case pages with every run's
clicks and contours (issue 13 "Report", issue 17 "Interactive runs")."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from evalkit.config import load_challenge
from evalkit.metrics.registry import REGISTRY
from evalkit.report import build_report
from evalkit.report.examples import load_run_view, read_clicks
from evalkit.report.pages import PageLimits, run_info, run_row_algorithms
from evalkit.report.tables import iteration_failures, run_curves

from .conftest import build_keeping_figures
from .interactive_synthetic import (
    ALGORITHMS,
    CASES,
    EXPECTED_FAILURES,
    RUNS,
    interactive_metrics,
    make_interactive_run,
)
from .test_report_figure_text import SVG_TEXT, _overlaps
from .test_report_render import _body_counts, _chromium, _dump, _links_resolve

RANKED = list(load_challenge("cvpr25-interactive").ranking["metrics"])


@pytest.fixture(scope="module")
def ireport(tmp_path_factory):
    """(run folder, report) of the synthetic interactive run; the interactive metrics
    are in the registry for the whole module (added here until the clicks branch lands)."""
    with interactive_metrics():
        run = make_interactive_run(tmp_path_factory.mktemp("irun") / "run")
        report = build_keeping_figures(run)
        yield run, report


def _scores(run) -> pd.DataFrame:
    return pd.concat(
        pd.read_csv(run / "scores" / a / "cases.csv").assign(algorithm=a) for a in ALGORITHMS
    )


def test_leaderboard_and_figures_come_from_the_ranked_registry_metrics(ireport):
    run, report = ireport
    out = report.out_dir
    names = {f.name for f in report.figures}
    assert {"runs", "runs_by_modality", "scores_3d", "bubbles_3d", "examples"} <= names
    assert "scores_3d_DSC_Final_NSD_Final" in names  # AUC (0..5) and Final (0..1) axes apart
    assert {f"podium_{m}" for m in RANKED} <= names
    board = pd.read_csv(out / "leaderboard.csv").set_index("algorithm")
    results = pd.read_csv(run / "results.csv")
    for m in RANKED:
        sel = results[results["metric"] == m]
        for alg in ALGORITHMS:
            want = sel[sel["algorithm"] == alg]["value"].mean()
            assert board.loc[alg, f"{m}_all"] == pytest.approx(want), (alg, m)
    # the case columns of the scores are the registry's, shown on the case pages
    scores = _scores(run)
    col = REGISTRY["DSC_AUC"].column
    page = (out / "cases" / "CT_liver_001.html").read_text()
    for v in scores.loc[scores["case"] == "CT_liver_001", col]:
        assert f"{v:.4f}" in page
    assert "DSC_AUC" in page and "NSD_Final" in page
    assert "No 2D cases: Fig. 3a omitted." in report.notes
    assert not [n for n in report.notes if "example" in n.lower()], report.notes


def test_per_run_figures_hold_the_per_run_means(ireport):
    run, report = ireport
    scores = _scores(run)
    per_alg = pd.read_csv(report.out_dir / "figures" / "runs.csv")
    assert set(per_alg["metric"]) == {"DSC", "NSD"}
    assert len(per_alg) == len(ALGORITHMS) * 2 * RUNS
    for r in per_alg.itertuples():
        vals = scores.loc[scores["algorithm"] == r.algorithm, f"{r.metric.lower()}_{r.run}"]
        assert r.mean == pytest.approx(vals.mean()) and r.n == len(vals)
        assert r.ci_lo <= r.mean + 1e-12 and r.mean <= r.ci_hi + 1e-12
    per_mod = pd.read_csv(report.out_dir / "figures" / "runs_by_modality.csv")
    assert set(per_mod["modality"]) == {"CT", "MR"}
    mr = per_mod[(per_mod["modality"] == "MR") & (per_mod["algorithm"] == "alpha")]
    assert (mr["mean"] == 0).all()  # alpha's only MR case went over budget: 0 everywhere
    ct = scores[(scores["modality"] == "CT") & (scores["algorithm"] == "beta")]
    row = per_mod[
        (per_mod["modality"] == "CT")
        & (per_mod["algorithm"] == "beta")
        & (per_mod["metric"] == "DSC")
        & (per_mod["run"] == 3)
    ].iloc[0]
    assert row["mean"] == pytest.approx(ct["dsc_3"].mean()) and row["n"] == 2
    # the same table the figure function is given
    again = run_curves(
        scores, [REGISTRY["DSC"], REGISTRY["NSD"]], RUNS, ("algorithm",), 1000,
        int(load_challenge(run / "challenge.toml").ranking["seed"]),
    )
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True), per_alg, check_dtype=False, check_exact=False
    )


def test_failures_by_run_counts(ireport):
    _run, report = ireport
    table = pd.read_csv(report.out_dir / "failures_by_iteration.csv")
    assert list(table.columns[:4]) == ["algorithm", "run", "cases", "ok"]
    assert list(table.columns[-2:]) == ["stale", "over_budget"]
    assert len(table) == len(ALGORITHMS) * RUNS
    counted = [c for c in table.columns if c not in ("algorithm", "run", "cases", "ok")]
    for r in table.to_dict("records"):
        want = EXPECTED_FAILURES.get((r["algorithm"], r["run"]), {})
        got = {c: r[c] for c in counted if r[c]}
        assert got == want, (r["algorithm"], r["run"], got)
        assert r["cases"] == len(CASES)
        not_ok = sum(r[c] for c in counted if c not in ("stale", "over_budget"))
        assert r["ok"] == len(CASES) - not_ok
    index = (report.out_dir / "index.html").read_text()
    assert "Failures by run (interactive protocol)" in index
    assert 'href="failures_by_iteration.csv"' in index
    failures = pd.read_csv(report.out_dir / "failures.csv")
    assert set(zip(failures["algorithm"], failures["status"])) == {
        ("alpha", "over_budget"),
        ("beta", "timeout"),
    }


def test_failures_by_run_unit():
    it = pd.DataFrame(
        {
            "algorithm": ["a"] * 4,
            "case": ["c1", "c1", "c2", "c2"],
            "iteration": [1, 2, 1, 2],
            "status": ["ok", "oom", "ok", "not_run"],
            "scored_run": [1, 1, 1, -1],
        }
    )
    scores = pd.DataFrame({"algorithm": ["a", "a"], "case": ["c1", "c2"],
                           "status": ["oom", "over_budget"]})
    t = iteration_failures(it, scores, ["a", "b"], 2).set_index(["algorithm", "run"])
    assert t.loc[("a", 2)].to_dict() == {"cases": 2, "ok": 0, "oom": 1, "not_run": 1,
                                         "stale": 1, "over_budget": 0}
    assert t.loc[("a", 1), "over_budget"] == 1  # c2's last run
    assert t.loc[("b", 1)].sum() == 0  # an algorithm without runs: zeros


def test_case_pages_show_every_run(ireport):
    run, report = ireport
    out = report.out_dir
    assert report.pages["case_pages"] == len(CASES) and report.pages["run_images"] == len(CASES)
    its = {a: pd.read_csv(run / "scores" / a / "iterations.csv") for a in ALGORITHMS}
    for case, *_ in CASES:
        page = out / "cases" / f"{case}.html"
        html = page.read_text()
        assert "Runs (interactive protocol)" in html
        assert f'src="img/{case}.runs.png"' in html
        png = imread(out / "cases" / "img" / f"{case}.runs.png")
        assert png.shape[0] > 300 and png[..., :3].std() > 0.01
        for alg in ALGORITHMS:
            rows = its[alg][its[alg]["case"] == case]
            for r in rows.itertuples():
                assert f"{r.dsc:.4f}" in html, (case, alg, r.iteration)
        assert "placeholder" not in html and "will be drawn here" not in html
    liver = (out / "cases" / "CT_liver_001.html").read_text()
    assert "stale: scored run 2&#x27;s prediction" in liver and "timeout" in liver
    assert "over_budget" in (out / "cases" / "MR_brain_002.html").read_text()
    assert "not_run" in (out / "cases" / "MR_brain_002.html").read_text()
    vessel = (out / "cases" / "CT_vessel_003.html").read_text()
    assert "skipped" in vessel and "none (scores 0)" in vessel


def test_run_panels_sit_on_the_click_slice_with_its_clicks(ireport):
    run, _report = ireport
    cases = pd.read_csv(run / "cases.csv").set_index("case")
    its = pd.read_csv(run / "scores" / "alpha" / "iterations.csv")
    its["algorithm"] = "alpha"
    its["scored_run"] = its["scored_run"].fillna(-1).astype(int)
    info = {"alpha": run_info(its[its["case"] == "CT_liver_001"])}
    row = cases.loc["CT_liver_001"].to_dict() | {"case": "CT_liver_001"}
    limits = load_challenge(run / "challenge.toml").contract
    view, why = load_run_view(row, ["alpha"], run, limits, info, RUNS, 10**8)
    assert why == "" and view["has_boxes"]
    clicks = read_clicks(run / "submissions" / "alpha" / "iterations" / "CT_liver_001" / "clicks.json")
    panels = view["rows"]["alpha"]
    assert panels[0]["boxes"] and not panels[1]["boxes"]  # the box on run 1 only
    for k in range(2, RUNS + 1):
        new = [c for c in clicks[k] if c["zyx"] is not None]
        p = panels[k - 1]
        if new:
            z, y, x = new[0]["zyx"]
            assert p["z"] == z and (y, x, new[0]["kind"]) in p["clicks"]
            assert len(p["clicks"]) + p["elsewhere"] == len(new)
    assert {c["kind"] for k in clicks for c in clicks[k]} >= {"fg", "bg", None}


def test_read_clicks_is_strict_and_refuses_symlinks(tmp_path):
    path = tmp_path / "clicks.json"
    path.write_text(json.dumps({"labels": [1], "iterations": [
        {"iteration": 2, "clicks": [{"label": 1, "kind": "fg", "zyx": [1, 2, 3]}]},
        {"iteration": 3, "clicks": [{"label": 1, "kind": "rm -rf", "zyx": [1, 2]}]},
        {"iteration": "x"},
    ]}))
    assert read_clicks(path) == {
        2: [{"label": 1, "kind": "fg", "zyx": (1, 2, 3)}],
        3: [{"label": 1, "kind": None, "zyx": None}],
    }
    link = tmp_path / "link.json"
    os.symlink(path, link)
    assert read_clicks(link) == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert read_clicks(tmp_path / "bad.json") == {}


def test_run_rows_are_bounded_and_put_the_page_reason_first():
    order = ["a", "b", "c", "d"]
    assert run_row_algorithms("failed: c; lowest: a; example", order, 3) == ["c", "a", "b"]
    assert run_row_algorithms("example", order, 2) == ["a", "b"]
    assert "at most 6 algorithms" in PageLimits().run_rule()


def test_no_raw_mathtext_and_no_overlapping_ticks(ireport):
    _run, report = ireport
    assert {"runs", "runs_by_modality"} <= {name for name, *_ in report.drawn}
    bad, overlaps = [], {}
    for name, fig, svg in report.drawn:
        for el in ET.parse(svg).getroot().iter(SVG_TEXT):
            text = "".join(el.itertext())
            if "$" in text or "\\mathdefault" in text:
                bad.append((name, text))
        found = _overlaps(fig)
        if found:
            overlaps[name] = found[:3]
    assert not bad and not overlaps, (bad, overlaps)


def test_interactive_pages_load_and_link_inside_the_report(ireport, tmp_path):
    exe = _chromium()
    _run, report = ireport
    out = report.out_dir
    pages = [out / "index.html", out / "cases" / "CT_liver_001.html",
             out / "algorithms" / "beta.html"]
    for i, page in enumerate(pages):
        dom = _dump(exe, page, tmp_path / f"p{i}")
        n_images, n_broken = _body_counts(exe, page, tmp_path / f"p{i}", dom)
        assert n_broken == 0, page
        assert _links_resolve(dom, page, out) > 3, page
        if page.parent.name == "cases":
            assert n_images == 2  # the case's slices and its runs
        if page.name == "index.html":
            assert n_images == len(report.figures)


def test_dsc_per_run_improves_in_the_synthetic_story(ireport):
    """A sanity check of the fixture itself: the numbers the tests compare are not all 0."""
    run, _ = ireport
    s = _scores(run)
    beta = s[s["algorithm"] == "beta"]
    assert np.all(np.diff(beta[[f"dsc_{k}" for k in range(2, RUNS + 1)]].mean().to_numpy()) >= 0)
    assert beta["dsc_6"].mean() > beta["dsc_1"].mean()


def test_subset_keeps_only_its_runs(ireport):
    run, _ = ireport
    with interactive_metrics():
        report = build_report(run, run / "subset-ct", progress=False, tasks=["CT"])
    table = pd.read_csv(report.out_dir / "failures_by_iteration.csv")
    assert (table["cases"] == 2).all()  # the two CT cases
    assert table["over_budget"].sum() == 0 and "not_run" not in table.columns  # MR's story
    assert table.set_index(["algorithm", "run"]).loc[("beta", 3), "stale"] == 1
    runs = pd.read_csv(report.out_dir / "figures" / "runs_by_modality.csv")
    assert set(runs["modality"]) == {"CT"}
    assert not (report.out_dir / "cases" / "MR_brain_002.html").exists()


def test_run_curves_band_is_the_bootstrap_interval_of_the_mean():
    from evalkit.ranking.bootstrap import bootstrap_mean_ci

    rng = np.random.default_rng(5)
    scores = pd.DataFrame({"algorithm": ["a"] * 30 + ["b"] * 12, "modality": "CT",
                           **{f"dsc_{k}": rng.uniform(0, 1, 42) for k in (1, 2)}})
    scores.loc[3, "dsc_2"] = np.nan  # a harness error: left out, n = 29
    t = run_curves(scores, [REGISTRY["DSC"]], 2, ("algorithm",), 200, 9).set_index(
        ["algorithm", "run"])
    for (alg, k), r in t.iterrows():
        vals = scores.loc[scores["algorithm"] == alg, f"dsc_{k}"].dropna().to_numpy()
        assert r["n"] == len(vals) and r["mean"] == pytest.approx(vals.mean())
        assert (r["ci_lo"], r["ci_hi"]) == pytest.approx(bootstrap_mean_ci(vals, 200, 9))
    assert t.loc[("a", 2), "n"] == 29
