"""Fairness across the machines of a cluster run (the ``dask`` executor).

A run on several machines records the node of every case (journal column ``node``)
and each node's calibration (``<run>/nodes.csv``: the seconds a fixed CPU workload took
in a locked-down container there). The report shows per-node runtime distributions
beside the calibration and warns when the nodes' calibration times differ by more than
``[executor] node_tolerance`` (default 0.05 = 5 %): then a case's runtime depends on
the machine it happened to run on. A run on one machine (``node`` empty) gets nothing.

Under a multi-run protocol (interactive) the runs of one case may land on different
nodes, and the case record names only the last run's node while summing every run's
time; the figure then reads the container runs (:func:`journal_rows`), each on its node.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from evalkit.report.figures import _empty, _xticks, plain_text, short

RUNTIME_COLUMNS = ["algorithm", "node", "case", "status", "wall_s", "relative_wall"]
TABLE_COLUMNS = ["node", "cases", "runs", "median_wall_s", "median_relative_wall", "calibration_s",
                 "calibration_relative", "cpu_model"]


def journal_rows(run_dir: str | Path, journals: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """What :func:`node_runtimes` reads per algorithm: ``journals`` (one case record per
    case, as :class:`~evalkit.report.inputs.RunData` holds them) or, for an algorithm whose
    journal under ``run_dir`` has ``record = "run"`` lines (a multi-run protocol), one row
    per container run of each case's latest attempt (``case, status, node, wall_s,
    iteration``), restricted to the cases of ``journals`` (a subset report keeps its
    subset). A case's runs can run on different nodes; its case record names only the last."""
    from evalkit.report.inputs import read_run_records
    from evalkit.runfolder import JournalError, RunFolder, RunFolderError

    folder = RunFolder(Path(run_dir))
    out: dict[str, pd.DataFrame] = {}
    for alg, j in journals.items():
        out[alg] = j
        if j is None or j.empty or "attempt" not in j.columns:
            continue
        try:
            runs = read_run_records(folder.submission(alg).journal)
        except (JournalError, RunFolderError):  # a journal the report cannot read: the case rows
            continue
        if not runs:
            continue
        attempts = dict(zip(j["case"].astype(str), j["attempt"], strict=True))
        rows = [{"case": r.case, "status": r.status, "node": r.node, "wall_s": r.wall_s,
                 "iteration": r.iteration}
                for case, recs in runs.items() if case in attempts
                for r in recs if r.attempt == attempts[case]]
        out[alg] = pd.DataFrame(rows, columns=["case", "status", "node", "wall_s", "iteration"])
    return out


def node_runtimes(journals: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per case (or container run, :func:`journal_rows`) on a named node: ``algorithm, node,
    case, status, wall_s, relative_wall`` (``wall_s`` over the algorithm's median ``wall_s``:
    comparable across algorithms). Rows without a node (this machine) or without a wall
    time are left out; empty journals give an empty table with these columns."""
    frames = []
    for alg, j in journals.items():
        if j is None or j.empty or "node" not in j.columns or "wall_s" not in j.columns:
            continue
        t = j[["case", "status", "node", "wall_s"]].copy()
        t["node"] = t["node"].fillna("").astype(str)
        t["wall_s"] = pd.to_numeric(t["wall_s"], errors="coerce")
        t = t[(t["node"] != "") & t["wall_s"].notna()]
        if t.empty:
            continue
        med = t["wall_s"].median()
        t["relative_wall"] = t["wall_s"] / med if med > 0 else math.nan
        t.insert(0, "algorithm", alg)
        frames.append(t)
    if not frames:
        return pd.DataFrame(columns=RUNTIME_COLUMNS)
    return pd.concat(frames, ignore_index=True)[RUNTIME_COLUMNS]


def node_table(runtimes: pd.DataFrame, calibration: pd.DataFrame | None) -> pd.DataFrame:
    """One row per node (of the journals or of ``nodes.csv``): cases with a run there,
    container runs (= cases for a single-run protocol), median wall and relative wall,
    calibration seconds and relative to the fastest node (1.0 = fastest)."""
    g = runtimes.groupby("node")
    cases = runtimes.drop_duplicates(["node", "algorithm", "case"]).groupby("node").size()
    table = pd.DataFrame({"cases": cases, "runs": g.size(), "median_wall_s": g["wall_s"].median(),
                          "median_relative_wall": g["relative_wall"].median()})
    if calibration is not None and not calibration.empty:
        cal = calibration.set_index(calibration["node"].astype(str))
        table = table.join(cal[["calibration_s", "cpu_model"]], how="outer")
    else:
        table["calibration_s"], table["cpu_model"] = math.nan, ""
    table["cases"] = table["cases"].fillna(0).astype(int)
    table["runs"] = table["runs"].fillna(0).astype(int)
    table["calibration_s"] = pd.to_numeric(table["calibration_s"], errors="coerce")
    fastest = table["calibration_s"].min()
    table["calibration_relative"] = table["calibration_s"] / fastest if fastest > 0 else math.nan
    table.index.name = "node"
    return table.reset_index()[TABLE_COLUMNS]


def calibration_spread(calibration_s: pd.Series) -> float:
    """(slowest - fastest) / fastest of the calibration seconds; NaN for fewer than two."""
    values = pd.to_numeric(calibration_s, errors="coerce").dropna()
    if len(values) < 2 or values.min() <= 0:
        return math.nan
    return float((values.max() - values.min()) / values.min())


def node_warning(table: pd.DataFrame, tolerance: float) -> str | None:
    """The report's warning when the nodes' calibration differs by more than ``tolerance``."""
    spread = calibration_spread(table["calibration_s"])
    if math.isnan(spread) or spread <= tolerance:
        return None
    cal = table.dropna(subset=["calibration_s"]).sort_values("calibration_s")
    return (f"The nodes differ in speed by {100 * spread:.1f} % (more than the tolerance of "
            f"{100 * tolerance:g} %): calibration {cal['calibration_s'].iloc[0]:.2f} s on "
            f"{cal['node'].iloc[0]} to {cal['calibration_s'].iloc[-1]:.2f} s on "
            f"{cal['node'].iloc[-1]}; a case's runtime depends on where it ran "
            "(figures/nodes.png).")


@plain_text
def plot_nodes(runtimes: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Left: each node's case (or container-run, when a case had several) runtimes relative
    to their algorithm's median (boxes, dots = cases or runs); right: each node's calibration
    seconds (bars; lower is faster)."""
    per_run = bool((table["runs"] != table["cases"]).any())
    nodes = list(table["node"])
    fig = Figure(figsize=(max(7.0, 1.1 * len(nodes) + 4.5), 4.2), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[3, 2])
    if runtimes.empty:
        _empty(fig, ax, "no cases ran on a named node")
    else:
        data = [runtimes.loc[runtimes["node"] == n, "relative_wall"].dropna().to_numpy()
                for n in nodes]
        ax.boxplot([d if len(d) else [math.nan] for d in data], positions=range(len(nodes)),
                   widths=0.6, showfliers=False)
        for i, d in enumerate(data):
            ax.scatter([i] * len(d), d, s=8, alpha=0.5, color="#1f77b4", zorder=3)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        _xticks(ax, [f"{short(n)} (n = {c})" for n, c in zip(nodes, table["runs"])])
        ax.set_ylabel("wall time / algorithm's median")
        ax.set_title("Run runtimes per node" if per_run else "Case runtimes per node")
    cal = table["calibration_s"]
    bx.bar(range(len(nodes)), cal.fillna(0), color="#ff7f0e")
    for i, v in enumerate(cal):
        bx.text(i, 0 if math.isnan(v) else v, "n/a" if math.isnan(v) else f"{v:.2f}",
                ha="center", va="bottom", fontsize=8)
    _xticks(bx, [short(n) for n in nodes])
    bx.set_ylabel("calibration workload (s)")
    bx.set_title("Node calibration")
    return fig


def node_jobs(run, report) -> list:
    """The report job of the node figure (none for a run on one machine); adds the
    speed warning or a missing-calibration note to ``report.notes``."""
    from evalkit.report.build import FigureEntry
    from evalkit.runfolder import RunFolder

    runtimes = node_runtimes(journal_rows(run.run_dir, run.journals))
    path = RunFolder(Path(run.run_dir)).nodes_path
    if runtimes.empty and not path.is_file():
        return []
    calibration = pd.read_csv(path, dtype={"node": str}, keep_default_na=False) if path.is_file() else None
    if calibration is not None and "calibration_s" in calibration.columns:
        calibration["calibration_s"] = pd.to_numeric(calibration["calibration_s"], errors="coerce")
    else:
        report.notes.append("Cases ran on several nodes but nodes.csv (their calibration) is missing.")
        calibration = None
    table = node_table(runtimes, calibration)
    tolerance = float((run.challenge.data.get("executor") or {}).get("node_tolerance", 0.05))
    warning = node_warning(table, tolerance)
    if warning:
        report.notes.append(warning)
    entry = FigureEntry("nodes", "Fairness across machines",
                        "Per node: case wall times (each container run's, when a case had "
                        "several: they may run on different nodes) relative to their algorithm's "
                        "median (left) and "
                        "the calibration workload's seconds (right, same locked-down container "
                        f"on every node); the report warns above a {100 * tolerance:g} % spread.")
    return [(entry, lambda: (plot_nodes(runtimes, table), table))]
