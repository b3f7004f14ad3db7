"""``compare`` on text-track case tables (no engine): a (case, metric) that does not apply to
the case's kind (F1 of a semantic case, DSC of an instance case) is NaN in both runs and
counts as equal, reported as "n/a"; a NaN in one run only, or in both where the metric
applies, is a difference. Box cases (cvpr24) have no kind: every NaN is a difference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evalkit.config import load_challenge
from evalkit.metrics import registry
from evalkit.metrics.case import applies
from evalkit.workflows.compare_cli import print_comparison
from evalkit.workflows.reproduce import case_kinds, compare, write_comparison

NAN = math.nan


def text_side() -> pd.DataFrame:
    """Two semantic and two instance cases, as ``side_table`` returns them for cvpr25-text."""
    return pd.DataFrame({
        "case": ["3DText_CT_0001", "3DText_CT_0002", "3DText_MR_0001", "3DText_Microscopy_0001"],
        "modality": ["CT", "CT", "MR", "Microscopy"],
        "kind": ["semantic", "instance", "semantic", "instance"],
        "dsc": [0.91, NAN, 0.85, NAN],
        "nsd": [0.88, NAN, 0.80, NAN],
        "f1": [NAN, 0.62, NAN, 0.45],
        "dsc_tp": [NAN, 0.81, NAN, 0.77],
        "runtime_s": [2.0, 3.0, 2.5, 4.0],
        "status": "ok",
    })


@pytest.fixture(scope="module")
def text():
    return load_challenge("cvpr25-text")


def test_applies_follows_the_case_kind():
    assert applies(registry.DSC, "semantic") and not applies(registry.F1, "semantic")
    assert applies(registry.DSC_TP, "instance") and not applies(registry.NSD, "instance")
    assert all(applies(m, None) for m in registry.REGISTRY.values())
    with pytest.raises(ValueError, match="case kind"):
        applies(registry.DSC, "box")


def test_two_identical_text_runs_reproduce_with_not_applicable_pairs_counted(text, capsys,
                                                                           tmp_path):
    a = text_side()
    cmp = compare(a, a.copy(), text)
    assert cmp.reproduced, cmp.reasons
    s = cmp.summary.set_index("metric")
    assert list(s.index) == ["DSC", "NSD", "F1", "DSC_TP"]
    assert s["n_na"].tolist() == [2, 2, 2, 2] and s["n_cases"].tolist() == [2, 2, 2, 2]
    assert (s["max_abs_diff"] == 0).all() and s["within"].tolist() == [True] * 4
    assert any(n.startswith("F1: 2 of 4 paired cases not applicable") for n in cmp.notes)
    print_comparison(cmp, "A", "B", tmp_path)
    out = capsys.readouterr().out
    assert "VERDICT: reproduced" in out and "n/a" in out
    write_comparison(cmp, tmp_path / "cmp", "A", "B")
    assert pd.read_csv(tmp_path / "cmp/summary.csv")["n_na"].tolist() == [2, 2, 2, 2]


def test_a_nan_in_one_run_only_is_a_difference(text):
    a = text_side()
    b = a.copy()
    b.loc[1, "f1"] = NAN  # an instance case: F1 applies, B lost it
    cmp = compare(a, b, text)
    assert not cmp.reproduced
    assert [r for r in cmp.reasons if r.startswith("F1")] == [
        "F1: 1 paired case(s) with a value in one run only, e.g. 3DText_CT_0002"]
    s = cmp.summary.set_index("metric")
    assert s.loc["F1", "n_na"] == 2 and not s.loc["F1", "within"]
    assert s.loc["DSC", "within"] and s.loc["DSC_TP", "within"]


def test_a_value_where_it_does_not_apply_is_a_difference(text):
    a = text_side()
    b = a.copy()
    b.loc[0, "f1"] = 0.5  # a semantic case that suddenly has an F1
    cmp = compare(a, b, text)
    assert not cmp.reproduced and any(r.startswith("F1: 1 paired case(s)") for r in cmp.reasons)


def test_a_nan_in_both_where_the_metric_applies_is_a_difference(text):
    a = text_side()
    a.loc[2, ["dsc", "nsd"]] = NAN  # a semantic case without DSC: a failure, not "n/a"
    a.loc[2, "status"] = "harness_error"
    cmp = compare(a, a.copy(), text)
    assert not cmp.reproduced
    assert any(r.startswith("DSC: 1 paired case(s) NaN in both runs where DSC applies, "
                            "e.g. 3DText_MR_0001") for r in cmp.reasons)
    row = cmp.summary.set_index("metric").loc["DSC"]
    assert row["n_na"] == 2 and row["n_cases"] == 2 and np.isnan(row["ci_lo"])  # the instance cases


def test_unknown_kinds_treat_every_nan_as_a_difference(text):
    a = text_side()
    a["kind"] = ""  # the inputs could not be read: nothing is known not to apply
    cmp = compare(a, a.copy(), text)
    assert not cmp.reproduced and len(cmp.reasons) == 4
    assert any("kind unknown" in n for n in cmp.notes)


def test_a_box_case_nan_in_both_runs_still_fails_cvpr24():
    """cvpr24 tables have no kind column: a NaN (a harness error, a label gap under the
    official mean) is a difference as before, in both runs or one."""
    a = pd.DataFrame({"case": ["2DBox_US_0000", "2DBox_US_0001"], "modality": "US",
                      "dsc": [0.9, NAN], "nsd": [0.8, NAN], "runtime_s": [1.0, 1.0],
                      "status": ["ok", "harness_error"]})
    cmp = compare(a, a.copy(), load_challenge())
    assert not cmp.reproduced and len(cmp.reasons) == 2
    assert cmp.summary["n_na"].tolist() == [0, 0] and cmp.notes == []


def test_case_kinds_read_the_inputs_text_prompts(tmp_path, text):
    paths = []
    for name, prompts in [("3DText_CT_0001", {"1": "liver", "2": "spleen", "instance_label": 0}),
                          ("3DText_Microscopy_0001", {"1": "cells", "instance_label": 1})]:
        p = tmp_path / f"{name}.npz"
        np.savez(p, imgs=np.zeros((2, 4, 4), np.uint8), spacing=np.ones(3),
                 text_prompts=np.array(prompts, dtype=object))
        paths.append(str(p))
    paths.append(str(tmp_path / "3DText_CT_0009.npz"))  # gone: kind unknown
    cases = pd.DataFrame({"case": ["3DText_CT_0001", "3DText_Microscopy_0001", "3DText_CT_0009"],
                          "input_path": paths})
    assert case_kinds(cases, text).tolist() == ["semantic", "instance", ""]
