"""CVPR25 text track: evalkit equals the official CVPR25_text_eval.py (748e862) to 1e-9.

Expected values were produced by running the official functions (tests/data/cvpr25_text/README.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from evalkit.config import load_challenge
from evalkit.contract.text import TextPrompts
from evalkit.metrics import settings_from_challenge
from evalkit.metrics.case import score_arrays
from evalkit.metrics.instance_match import match_instances

DATA = Path(__file__).parents[1] / "data" / "cvpr25_text"
EXPECTED = json.loads((DATA / "expected.json").read_text())["cases"]
SETTINGS = settings_from_challenge(load_challenge("cvpr25-text"))


def _case(name):
    d = np.load(DATA / "cases" / f"{name}.npz")
    label = int(d["instance_label"])
    prompts = TextPrompts({int(c): f"class {c}" for c in d["class_ids"]}, label)
    return d["gts"], d["segs"], tuple(float(s) for s in d["spacing"]), prompts


def _same(found: float, want: float | None) -> bool:
    if want is None:
        return math.isnan(found)
    return abs(found - want) <= 1e-9


def test_the_data_covers_what_the_issue_asks():
    names = set(EXPECTED)
    assert {"inst_binary", "inst_empty_pred", "inst_nonseq", "inst_above_255", "inst_many",
            "sem_nonseq", "sem_empty_pred", "sem_above_255"} <= names
    assert sum(n.startswith("sem_") for n in names) >= 10 and sum(n.startswith("inst_") for n in names) >= 15
    assert max(EXPECTED[n]["tp"] + EXPECTED[n]["fn"] for n in names if n.startswith("inst_")) >= 100


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_values_equal_the_official_script(name):
    gts, segs, spacing, prompts = _case(name)
    values, _ = score_arrays(gts, segs, spacing=spacing, dim=3, settings=SETTINGS, prompts=prompts)
    want = EXPECTED[name]
    for metric, column in (("DSC", "dsc"), ("NSD", "nsd"), ("F1", "f1"), ("DSC_TP", "dsc_tp")):
        assert _same(values[f"{column}_unrounded"], want[metric]), (metric, values, want)
        assert _same(values[column], want[f"{metric}_rounded"]), (metric, values, want)
        if want[f"{metric}_rounded"] is not None:
            assert values[column] == want[f"{metric}_rounded"]


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("inst_")))
def test_matching_counts_equal_the_official_script(name):
    gts, segs, _, _ = _case(name)
    s = match_instances(gts, segs, uint8_cast=True, split_binary=True, empty_as_zero=True)
    want = EXPECTED[name]
    assert (s.tp, s.fp, s.fn) == (want["tp"], want["fp"], want["fn"])
    assert _same(s.precision, want["precision"]) and _same(s.recall, want["recall"])
