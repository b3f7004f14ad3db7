"""Progress in a log file is one line per item, never carriage-return redraws."""

from __future__ import annotations

import io

from evalkit.progress import LineProgress, progress


def test_not_a_terminal_gives_plain_lines():
    log = io.StringIO()
    bar = progress(total=3, desc="run team", unit="case", file=log)
    assert isinstance(bar, LineProgress)
    for case in ("a", "b", "c"):
        bar.set_postfix_str(f"{case} ok")
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 3 and lines[0].startswith("run team: 1/3 case a ok")
    assert lines[2].startswith("run team: 3/3 case c ok")


def test_end_mode_prints_once_and_iterables_are_wrapped():
    log = io.StringIO()
    assert list(progress(range(4), desc="bootstrap", unit="task", lines="end", file=log)) == [0, 1, 2, 3]
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[0]]
    assert log.getvalue().startswith("bootstrap: 4/4 task")


def test_disabled_prints_nothing():
    log = io.StringIO()
    bar = progress(total=2, desc="x", enabled=False, file=log)
    bar.update(1)
    bar.close()
    assert log.getvalue() == ""


def test_per_node_counts_for_a_cluster_bar():
    from evalkit.progress import per_node

    assert per_node({"w1": 2, "w0": 3}) == "nodes w0=3 w1=2"
    assert per_node({}) == ""
