"""End-to-end parity with the official CVPR25_iter_eval.py: evalkit's interactive protocol
runs the same two images on the same cases and must give the same clicks and the same
per-run DSC/NSD, AUC and Final values.

The expected data (tests/data/cvpr25/, README there) were produced by the unmodified
official script; here evalkit runs everything itself (real engine, real containers).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cvpr25_official as official
from reference_images import build_reference_images

from evalkit.config import load_challenge
from evalkit.metrics import registry
from evalkit.runfolder import RunFolder

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def parity_run(tmp_path_factory, docker_client, test_images):
    from evalkit.demodata.generate import generate
    from evalkit.workflows.evaluate import Submission, evaluate

    cases = tmp_path_factory.mktemp("cvpr25")
    generate(cases, preset="cvpr25", seed=0)
    for case, info in official.case_info().items():  # the very cases the official run had
        got = hashlib.sha256((cases / "imgs" / f"{case}.npz").read_bytes()).hexdigest()
        assert got == info["input_sha256"], f"{case}: the cvpr25 demo preset changed"
    click_fill = build_reference_images("click-fill", timeout=1800)["click-fill"]
    run_dir = tmp_path_factory.mktemp("run") / "parity"
    evaluate([Submission(click_fill, "clickfill"), Submission(test_images["skipiter"], "skipiter")],
             cases, run_dir, load_challenge("cvpr25-interactive"), progress=False)
    return RunFolder(run_dir)


@pytest.mark.parametrize("team", ["clickfill", "skipiter"])
def test_clicks_equal_the_official_run(parity_run, team):
    want = official.clicks()["submissions"][team]
    sub = parity_run.submission(team)
    for case, expected in want.items():
        got = json.loads((sub.iterations_dir(case) / "clicks.json").read_text())
        assert got["labels"] == expected["labels"], case
        assert got["iterations"] == expected["iterations"], case


@pytest.mark.parametrize("team", ["clickfill", "skipiter"])
def test_metrics_equal_the_official_run(parity_run, team):
    want = official.metrics_table(team)
    got = pd.read_csv(parity_run.scores_cases(team)).set_index("case")
    assert sorted(got.index) == sorted(want.index)
    for case in want.index:
        for k in range(1, 7):
            assert got.loc[case, f"dsc_{k}"] == pytest.approx(want.loc[case, f"DSC_{k}"], abs=1e-12)
            assert got.loc[case, f"nsd_{k}"] == pytest.approx(want.loc[case, f"NSD_{k}"], abs=1e-12)
        for name in ("DSC_AUC", "NSD_AUC", "DSC_Final", "NSD_Final"):
            assert got.loc[case, registry.get(name).column] == pytest.approx(
                want.loc[case, name], abs=1e-12), (case, name)


def test_the_stale_file_quirk_is_visible_in_the_journal(parity_run):
    from evalkit.runfolder import read_journal

    runs = [r for r in read_journal(parity_run.submission("skipiter").journal, kind="run")
            if r.case == "CT_abdomen_0001"]
    third = runs[2]
    assert third.status == "missing_output" and third.output == "iterations/CT_abdomen_0001/2.npz"
    first_mr = next(r for r in read_journal(parity_run.submission("skipiter").journal, kind="run")
                if r.case == "MR_brain_0001")
    assert first_mr.status == "missing_output" and first_mr.output is None
