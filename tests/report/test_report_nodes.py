"""The report's per-node fairness part (evalkit/report/nodes.py)."""

from __future__ import annotations

import math

import pandas as pd

from evalkit.report.nodes import node_runtimes, node_table, node_warning, plot_nodes


def _journals() -> dict[str, pd.DataFrame]:
    a = pd.DataFrame({"case": ["c1", "c2", "c3", "c4"], "status": ["ok"] * 4,
                      "node": ["w0", "w1", "w0", "w1"], "wall_s": [1.0, 2.0, 1.0, 2.0]})
    b = pd.DataFrame({"case": ["c1", "c2"], "status": ["ok", "timeout"], "node": ["w0", ""],
                      "wall_s": [10.0, 30.0]})
    local = pd.DataFrame({"case": ["c1"], "status": ["ok"], "node": [""], "wall_s": [1.0]})
    return {"a": a, "b": b, "local": local}


def test_runtimes_keep_cases_run_on_a_named_node_relative_to_their_algorithm():
    t = node_runtimes(_journals())
    assert list(t["algorithm"]) == ["a"] * 4 + ["b"]  # b's unnamed case and 'local' are left out
    assert list(t.loc[t["algorithm"] == "a", "relative_wall"]) == [2 / 3, 4 / 3, 2 / 3, 4 / 3]
    assert node_runtimes({"local": _journals()["local"]}).empty


def test_table_joins_the_calibration_and_the_warning_follows_the_tolerance():
    runtimes = node_runtimes(_journals())
    cal = pd.DataFrame({"node": ["w0", "w1", "w2"], "calibration_s": [1.0, 1.04, float("nan")],
                        "cpu_model": ["x", "x", "y"]})
    table = node_table(runtimes, cal)
    assert list(table["node"]) == ["w0", "w1", "w2"]
    assert list(table["cases"]) == [3, 2, 0]
    assert table.loc[1, "calibration_relative"] == 1.04
    assert node_warning(table, 0.05) is None  # 4 % apart
    warning = node_warning(table, 0.03)
    assert warning is not None and "4.0 %" in warning and "w0" in warning and "w1" in warning
    one = node_table(runtimes, cal.iloc[:1])
    assert node_warning(one, 0.0) is None  # one calibrated node: nothing to compare
    assert math.isnan(node_table(runtimes, None)["calibration_s"].iloc[0])


def test_plot_nodes_draws_with_and_without_runtimes():
    runtimes = node_runtimes(_journals())
    cal = pd.DataFrame({"node": ["w0", "w1"], "calibration_s": [1.0, 1.2], "cpu_model": ["x", "x"]})
    table = node_table(runtimes, cal)
    assert len(plot_nodes(runtimes, table).axes) == 2
    assert len(plot_nodes(runtimes.iloc[:0], node_table(runtimes.iloc[:0], cal)).axes) == 2


def test_interactive_runs_count_on_the_node_each_ran_on(tmp_path):
    """A case of a multi-run protocol can run on several nodes: its case record names the
    last run's node and sums every run's time, so the figure reads the runs (of the case's
    latest attempt) instead."""
    from evalkit.report.inputs import read_journal_table
    from evalkit.report.nodes import journal_rows
    from evalkit.runfolder import CaseRecord, RunFolder
    from evalkit.runfolder.journal import open_journal

    sub = RunFolder(tmp_path).submission("team")
    with open_journal(sub.journal) as j:
        j.append(CaseRecord("c1", "harness_error", wall_s=5.0, node="w1", record="run"))  # attempt 1
        j.append(CaseRecord("c1", "harness_error", wall_s=5.0, node="w1"))
        for k, (node, wall) in enumerate([("w0", 10.0), ("w1", 1.0), ("w1", 2.0)], start=1):
            j.append(CaseRecord("c1", "ok", wall_s=wall, node=node, record="run", iteration=k,
                                attempt=2))
        j.append(CaseRecord("c1", "ok", wall_s=13.0, node="w1", attempt=2, iteration=3))
        j.append(CaseRecord("c2", "skipped", wall_s=0.0, record="run"))  # run 1: no boxes
        j.append(CaseRecord("c2", "ok", wall_s=4.0, node="w0", record="run", iteration=2))
        j.append(CaseRecord("c2", "ok", wall_s=4.0, node="w0", iteration=2))
        j.append(CaseRecord("c3", "ok", wall_s=3.0, node="w0", record="run"))  # no case line yet
    journals = {"team": read_journal_table(sub.journal)}
    t = node_runtimes(journal_rows(tmp_path, journals))
    got = sorted(zip(t["case"], t["node"], t["wall_s"], strict=True))
    assert got == [("c1", "w0", 10.0), ("c1", "w1", 1.0), ("c1", "w1", 2.0), ("c2", "w0", 4.0)]
    table = node_table(t, None)
    assert list(table["node"]) == ["w0", "w1"]
    assert list(table["cases"]) == [2, 1] and list(table["runs"]) == [2, 2]
    # a single-run journal (no run lines) is read as it is
    single = {"a": _journals()["a"]}
    assert journal_rows(tmp_path, single)["a"].equals(single["a"])
