"""The CVPR25 text track end to end on the real engine: the text-threshold baseline image on
three text demo cases through `evalkit evaluate --config cvpr25-text` (results, ranking, report)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from demo_cases import demo_subset
from reference_images import build_reference_images

from evalkit.cli import main

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CASES = ("3DText_CT_0001", "3DText_CT_0002", "3DText_Microscopy_0001")  # semantic + 2 instance


def _nothing_image(client) -> str:
    from evalkit.runner.engine import base_image_ref

    spec = importlib.util.spec_from_file_location("evalkit_test_images", REPO / "tests/images/build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_image(client, "nothing", base_image_ref(client))


@pytest.fixture(scope="module")
def text_image(docker_client) -> str:
    return build_reference_images("text-threshold")["text-threshold"]


@pytest.fixture(scope="module")
def text_cases(tmp_path_factory) -> Path:
    return demo_subset(tmp_path_factory.mktemp("textdemo"), tmp_path_factory.mktemp("textcases"),
                       "cvpr25-text", CASES)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, docker_client, text_image, text_cases):
    reports = tmp_path_factory.mktemp("reports")
    rc = main(["evaluate", f"text-threshold={text_image}", f"empty={_nothing_image(docker_client)}",
               "--cases", str(text_cases), "--config", "cvpr25-text", "--reports", str(reports),
               "--run", "text", "--no-progress"])
    assert rc == 0
    return reports / "text"


def test_text_cases_are_scored_by_their_kind(text_run):
    scores = pd.read_csv(text_run / "scores/text-threshold/cases.csv").set_index("case")
    assert list(scores.columns[3:7]) == ["dsc", "nsd", "f1", "dsc_tp"]
    assert (scores["status"] == "ok").all()
    sem, inst = scores.loc["3DText_CT_0001"], scores.loc[["3DText_CT_0002", "3DText_Microscopy_0001"]]
    assert sem["dsc"] > 0.5 and sem["nsd"] > 0.5 and pd.isna(sem["f1"]) and pd.isna(sem["dsc_tp"])
    assert (inst["f1"] > 0.3).all() and (inst["dsc_tp"] > 0.7).all() and inst["dsc"].isna().all()
    empty = pd.read_csv(text_run / "scores/empty/cases.csv").set_index("case")
    assert (empty["status"] == "missing_output").all()
    assert empty.loc["3DText_CT_0001", "dsc"] == 0 and empty.loc["3DText_CT_0002", "f1"] == 0


def test_results_ranking_and_report_carry_f1_and_dsc_tp(text_run):
    results = pd.read_csv(text_run / "results.csv")
    assert set(results["metric"]) == {"DSC", "NSD", "F1", "DSC_TP", "RunningTime"}
    pairs = set(zip(results["case"], results["metric"]))   # a metric that does not apply: no rows
    assert ("3DText_CT_0001", "F1") not in pairs and ("3DText_CT_0002", "DSC") not in pairs
    assert ("3DText_CT_0002", "F1") in pairs and ("3DText_CT_0001", "NSD") in pairs
    assert not results[results["algorithm"] == "text-threshold"]["value"].isna().any()
    final = pd.read_csv(text_run / "ranking/final_ranking.csv")
    assert final.sort_values("final_rank")["algorithm"].tolist()[0] == "text-threshold"
    html = (text_run / "report/index.html").read_text()
    assert "F1" in html and "DSC_TP" in html
    figures = {p.stem for p in (text_run / "report/figures").glob("*.png")}
    assert figures, "the report drew no figures"


def test_check_runs_a_text_image_and_prints_its_metrics(text_image, text_cases, tmp_path, capsys):
    rc = main(["check", text_image, "--config", "cvpr25-text", "--cases", str(text_cases),
               "--out", str(tmp_path / "check"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "VERDICT: PASS" in out and "F1" in out and "DSC_TP" in out
    line = next(x for x in out.splitlines() if x.startswith("3DText_CT_0002"))
    assert line.split()[1] == "ok" and line.split()[-2] != "-"       # F1 of an instance case


def test_a_text_rerun_reproduces_with_not_applicable_pairs_counted(text_run, capsys):
    """Rerun the baseline by image ID on the same text cases: compare says it reproduces,
    the metrics that do not apply to a case's kind counted "n/a" (F1 and DSC_TP of the
    semantic case, DSC and NSD of the two instance cases)."""
    rc = main(["rerun", str(text_run), "--submission", "text-threshold", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "VERDICT: reproduced" in out, out
    assert "F1: 1 of 3 paired cases not applicable (semantic cases" in out
    rerun = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    summary = pd.read_csv(rerun / "comparison/summary.csv").set_index("metric")
    assert summary["n_na"].to_dict() == {"DSC": 2, "NSD": 2, "F1": 1, "DSC_TP": 1}
    assert (summary["max_abs_diff"] == 0).all() and summary["within"].all()
    cases = pd.read_csv(rerun / "comparison/cases.csv").set_index("case")
    assert cases.loc["3DText_CT_0001", "kind"] == "semantic"
    assert cases.loc["3DText_Microscopy_0001", "kind"] == "instance"
    # the empty image against itself (no engine): failed cases, same status, n/a pairs equal
    rc = main(["compare", str(text_run), str(text_run), "--submission", "empty"])
    out = capsys.readouterr().out
    assert rc == 0 and "VERDICT: reproduced" in out, out
