"""Parity of the click simulation with the official CVPR25_iter_eval.py (commit 748e862).

For every submission, case, click iteration k + 1 (k = 1..5) and class: our
``next_clicks`` on the official prediction of iteration k (its saved uint8
``all_segs[k]``, which is the file it generated the clicks from; zeros when no
file existed) and the GT gives exactly the click the official run printed
(coordinates, fg/bg, ``None`` for a perfect class). Data: tests/data/cvpr25/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from evalkit.runner.clicks import Click, ClickHistory, next_clicks

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the official-data loaders
import cvpr25_official as official

CASES = [(t, c) for t in official.teams() for c in sorted(official.clicks()["submissions"][t])]


@pytest.mark.parametrize("team,case", CASES)
def test_clicks_equal_the_official_clicks(team, case):
    expected = official.clicks()["submissions"][team][case]
    gts = official.gts(case)
    preds = official.predictions(team, case)
    assert [it["iteration"] for it in expected["iterations"]] == [2, 3, 4, 5, 6]
    history = ClickHistory(expected["labels"])
    for it in expected["iterations"]:
        k = it["iteration"] - 1
        ours = next_clicks(preds[k - 1], gts)
        assert [c.to_dict() for c in ours] == it["clicks"], (team, case, it["iteration"])
        history.add(ours, it["iteration"])
    assert history.to_dict()["iterations"] == expected["iterations"]


def test_the_data_cover_the_cases_that_matter():
    data = official.clicks()["submissions"]
    kinds = {c["kind"] for t in data.values() for case in t.values()
             for it in case["iterations"] for c in it["clicks"]}
    assert kinds == {"fg", "bg", None}
    assert any(not case["boxes"] for case in data["clickfill"].values())
    # skipiter wrote nothing in iteration 3 of CT_abdomen_0001: iteration 3 is iteration 2's stale file
    p = official.predictions("skipiter", "CT_abdomen_0001")
    assert np.array_equal(p[2], p[1]) and not np.array_equal(p[3], p[2])
    # ... and nothing at all in iteration 1 of MR_brain_0001: zeros, and clicks from zeros
    p = official.predictions("skipiter", "MR_brain_0001")
    assert not p[0].any()
    first = data["skipiter"]["MR_brain_0001"]["iterations"][0]["clicks"]
    assert [c["kind"] for c in first] == ["fg"] * len(first)
    assert next_clicks(None, official.gts("MR_brain_0001")) == [Click.from_dict(c) for c in first]
    # skipiter's label 1 of study_0007 is exact from iteration 3 on: no click for it in 4..6
    its = data["skipiter"]["study_0007"]["iterations"]
    assert [it["clicks"][0]["kind"] for it in its][2:] == [None, None, None]
    assert all(it["clicks"][1]["kind"] in ("fg", "bg") for it in its)
