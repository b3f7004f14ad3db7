"""Figures of the report: each ``plot_xxx(table, ...) -> Figure`` takes the tidy table
that is also written beside it as CSV, and returns a ``matplotlib.figure.Figure``
built directly (no pyplot state, no backend switch: ``savefig`` renders PNG and SVG
with matplotlib's own canvases whatever backend the process uses). Algorithms are
always drawn in final-rank order, labelled ``"<rank> <name>"``.

Metrics are :class:`evalkit.metrics.registry.Metric` objects: axis labels are
``Metric.label`` (name and unit), limits follow ``Metric.bounds`` (a bounded metric
gets its full range, padded; an unbounded one the data's range), colours follow the
metric's position in the list it is drawn with.

Sizes grow with the number of algorithms / tasks so that a 23-algorithm, 10-modality
challenge stays legible: tick labels are rotated and long names shortened to
``MAX_LABEL`` characters (the full names are in the CSV and the leaderboard).
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    FuncFormatter,
    LogFormatterMathtext,
    MaxNLocator,
    NullFormatter,
)

from evalkit.metrics.registry import Metric

MAX_LABEL = 22
# metric colours by position in the drawn list (the first two: DSC and NSD in cvpr24)
METRIC_PALETTE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f", "#17becf"]
# top-algorithm colours: no blue (box prompt) and no green (reference overlay)
TOP_COLOURS = ["#d62728", "#ff7f0e", "#e377c2", "#17becf", "#8c564b", "#bcbd22"]
BOX_COLOUR = "#1f3fff"  # prompt box
REF_COLOUR = "#00c000"  # reference overlay


def plain_text(func: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a plot function with mathtext off: names and modalities come from the run
    (participants choose them) and a ``$`` in one must print, not fail to parse."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)

    return wrapper


def short(name: str, n: int = MAX_LABEL) -> str:
    """A label of at most ``n`` characters (ellipsis in the middle keeps both ends)."""
    name = str(name)
    if len(name) <= n:
        return name
    keep = n - 1
    return name[: (keep + 1) // 2] + "…" + name[len(name) - keep // 2 :]


def rank_label(algorithm: str, rank: float | None) -> str:
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        return short(algorithm)
    return f"{int(rank)} {short(algorithm)}"


def _xticks(ax, labels: Sequence[str], positions: Sequence[float] | None = None) -> None:
    pos = list(range(len(labels))) if positions is None else list(positions)
    ax.set_xticks(pos)
    if len(labels) > 6:
        ax.set_xticklabels(labels, rotation=55, ha="right", rotation_mode="anchor", fontsize=8)
    else:
        ax.set_xticklabels(labels, fontsize=9)


def plain_log_axis(axis) -> None:
    """Label a log ``axis`` with plain numbers: majors ``0.1, 1, 10, 100``, minors
    ``2, 5, 20, 50 ...``. matplotlib's default log labels are mathtext
    (``$\\mathdefault{10^{2}}$``), which print raw because mathtext is off for
    participant names (:func:`plain_text`)."""
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(_minor_log_label))


def _minor_log_label(x: float, _pos: int) -> str:
    """Label the 2x and 5x minor ticks of a log axis (1, 2, 5, 10, 20, 50 ...)."""
    lead = x / 10 ** math.floor(math.log10(x)) if x > 0 else 0
    return f"{x:g}" if round(lead) in (2, 5) else ""


def _grid_layout(fig: Figure, nrows: int, key_lines: int = 0, wspace: float = 0.28) -> None:
    """Fixed margins for panel grids (constrained layout costs seconds there)."""
    h = fig.get_figheight()
    fig.subplots_adjust(
        left=0.035,
        right=0.975,
        bottom=(0.75 + key_lines * KEY_LINE_IN) / h,
        top=1 - 0.75 / h,
        wspace=wspace,
        hspace=1.1 / max(h / nrows - 1.0, 1.0),
    )


def _panel_labels(order: Sequence[str], ranks: dict[str, int]) -> list[str]:
    """Tick labels in panel grids: the final rank (names are in the key below)."""
    return [str(ranks.get(a, "?")) for a in order]


def _rank_key(fig: Figure, order: Sequence[str], ranks: dict[str, int]) -> int:
    """Write "rank name" pairs, wrapped, along the bottom of ``fig``; returns the
    number of lines (the caller reserves ``lines * KEY_LINE_IN`` inches)."""
    items = [
        f"{ranks.get(a, '?')}\u00a0{short(a)}".replace(" ", "\u00a0")
        for a in sorted(order, key=lambda a: ranks.get(a, 0))
    ]
    width_chars = max(40, int(fig.get_figwidth() * 72 / 4.6))  # ~4.6 pt per character at 7 pt
    text = textwrap.fill(
        "   ".join(items), width=width_chars, break_long_words=False, break_on_hyphens=False
    )
    fig.text(
        0.5,
        0.12 / fig.get_figheight(),
        "Key (final rank, algorithm):  " + text,
        ha="center",
        va="bottom",
        fontsize=7,
        wrap=False,
    )
    return text.count("\n") + 1


KEY_LINE_IN = 0.16


def metric_colours(metrics: Sequence[Metric]) -> dict[str, str]:
    """Metric name -> colour, by position in ``metrics``."""
    return {m.name: METRIC_PALETTE[i % len(METRIC_PALETTE)] for i, m in enumerate(metrics)}


def padded_limits(metrics: Sequence[Metric], pad: float = 0.03) -> tuple[float, float] | None:
    """Axis limits for values of ``metrics`` drawn on one axis: their common
    ``bounds`` widened by ``pad`` of the range on both sides (``(0, 1)`` ->
    ``(-0.03, 1.03)``); ``None`` (let the data decide) when a metric is unbounded or
    the bounds differ."""
    bounds = {m.bounds for m in metrics}
    if len(bounds) != 1 or None in bounds:
        return None
    lo, hi = next(iter(bounds))
    return lo - pad * (hi - lo), hi + pad * (hi - lo)


def _empty(fig: Figure, ax, text: str) -> Figure:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


# --------------------------------------------------------------------- Fig. 3a,b: dot-and-box


@plain_text
def plot_case_scores(
    table: pd.DataFrame,
    order: Sequence[str],
    ranks: dict[str, int],
    title: str,
    seed: int = 0,
    metrics: Sequence[Metric] = (),
) -> Figure:
    """Dot-and-box plot of case values per algorithm, the ``metrics`` side by side on
    one axis (Fig. 3a,b: DSC and NSD).

    ``table``: long ``algorithm, case, metric, value`` (one dimensionality); metrics
    of ``metrics`` absent from it are skipped. Boxes show median and quartiles,
    whiskers 1.5 IQR; dots are the cases (jittered, rasterised in SVG). NaN values
    are dropped. The y range is :func:`padded_limits` of the metrics.
    """
    k = len(order)
    fig = Figure(figsize=(max(7.0, 0.62 * k + 2.5), 5.2), layout="constrained")
    ax = fig.add_subplot()
    if table.empty:
        return _empty(fig, ax, "no cases")
    rng = np.random.default_rng(seed)
    colour = metric_colours(metrics)
    limits = padded_limits(metrics)
    drawn = [m for m in metrics if m.name in set(table["metric"])]
    metrics = [m.name for m in drawn]
    width = 0.34
    offsets = {m: (i - (len(metrics) - 1) / 2) * (width + 0.04) for i, m in enumerate(metrics)}
    for m in metrics:
        sub = table[table["metric"] == m]
        data = [sub.loc[sub["algorithm"] == a, "value"].dropna().to_numpy() for a in order]
        pos = np.arange(k) + offsets[m]
        for x, vals in zip(pos, data):
            if len(vals):
                jitter = rng.uniform(-width / 3, width / 3, len(vals))
                few = len(vals) <= 50
                ax.scatter(
                    x + jitter,
                    vals,
                    s=12 if few else 4,
                    color="black" if few else colour[m],
                    alpha=0.6 if few else 0.35,
                    linewidths=0,
                    rasterized=True,
                    zorder=3,
                )
        keep = [i for i, v in enumerate(data) if len(v)]
        if keep:
            bp = ax.boxplot(
                [data[i] for i in keep],
                positions=pos[keep],
                widths=width,
                showfliers=False,
                patch_artist=True,
                zorder=2,
                medianprops={"color": "black", "linewidth": 1.2},
            )
            for patch in bp["boxes"]:
                patch.set_facecolor(colour[m])
                patch.set_alpha(0.45)
    _xticks(ax, [rank_label(a, ranks.get(a)) for a in order])
    ax.set_xlim(-0.6, k - 0.4)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_ylabel(f"{drawn[0].label} per case" if len(drawn) == 1 else "score per case")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        handles=[Patch(color=colour[m], alpha=0.6, label=m) for m in metrics],
        loc="lower left",
        fontsize=8,
        ncols=len(metrics),
    )
    return fig


# --------------------------------------------------------------------- Fig. 3c,d: bubbles


@plain_text
def plot_bubbles(
    summary: pd.DataFrame, title: str, *, x: Metric, y: Metric, size: Metric | None = None
) -> Figure:
    """Accuracy versus runtime per algorithm (Fig. 3c,d): mean ``y`` (DSC) against mean
    ``x`` (RunningTime), bubble area ∝ mean ``size`` (NSD; a metric bounded to
    ``(0, 1)``; constant bubbles without one).

    ``summary``: ``algorithm, final_rank`` and one column per metric, named by its
    ``name`` (means over the cases of one dimensionality, in the metric's unit).
    Bubbles are numbered by final rank; a key beside the axes maps numbers to names.
    The x axis is logarithmic when the x values span more than a factor 10.
    """
    k = len(summary)
    fig = Figure(figsize=(10.5 if k > 8 else 8.5, 6.0), layout="constrained")
    ax = fig.add_subplot()
    s = summary.dropna(subset=[y.name, x.name])
    if s.empty:
        return _empty(fig, ax, "no runtimes")
    cmap = colormaps["viridis"]
    ranks = s["final_rank"].to_numpy(float)
    colours = cmap((ranks - ranks.min()) / max(1.0, ranks.max() - ranks.min()) * 0.9)
    area = 0.5
    if size is not None:  # the share of the metric's range (NSD: 0..1; NSD_AUC: 0..5)
        lo, hi = size.bounds if size.bounds is not None else (0.0, 1.0)
        area = ((s[size.name].fillna(lo) - lo) / (hi - lo)).clip(0, 1).to_numpy()
    ax.scatter(
        s[x.name],
        s[y.name],
        s=50 + 1100 * area,
        c=colours,
        alpha=0.55,
        edgecolors="black",
        linewidths=0.6,
    )
    for (_, r), c in zip(s.iterrows(), colours):
        ax.annotate(
            str(int(r["final_rank"])),
            (r[x.name], r[y.name]),
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
        )
    rt = s[x.name].to_numpy(float)
    if rt.min() > 0 and rt.max() / rt.min() > 10:
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
    ax.set_xlabel(f"mean {x.label} per case")
    ax.set_ylabel(f"mean {y.label}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    lo, hi = float(s[y.name].min()), float(s[y.name].max())
    if y.bounds is not None:
        b_lo, b_hi = y.bounds
        pad = max(0.03 * (b_hi - b_lo), (hi - lo) * 0.15)
        ax.set_ylim(lo - pad, min(b_hi + 0.05 * (b_hi - b_lo), hi + pad))
    key = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=6,
            color=c,
            label=f"{int(r['final_rank'])} {short(r['algorithm'])}"
            + (f"  ({size.name} {r[size.name]:.3f})" if size is not None else ""),
        )
        for (_, r), c in zip(s.iterrows(), colours)
    ]
    ax.legend(
        handles=key,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7.5,
        frameon=False,
        title="rank, algorithm" + (f" (bubble area ∝ {size.name})" if size is not None else ""),
        title_fontsize=8,
    )
    return fig


# --------------------------------------------------------------------- Fig. 3e,f,g: modality


def _grouped_boxes(
    ax, table: pd.DataFrame, groups: Sequence[str], algs: Sequence[str], colours: dict[str, str]
) -> None:
    n = len(algs)
    width = 0.8 / max(n, 1)
    for ai, alg in enumerate(algs):
        data, pos = [], []
        for gi, g in enumerate(groups):
            vals = table.loc[(table["task"] == g) & (table["algorithm"] == alg), "value"].dropna()
            if len(vals):
                data.append(vals.to_numpy())
                pos.append(gi - 0.4 + width * (ai + 0.5))
        if data:
            bp = ax.boxplot(
                data,
                positions=pos,
                widths=width * 0.85,
                patch_artist=True,
                showfliers=True,
                flierprops={"markersize": 2, "alpha": 0.5},
                medianprops={"color": "black"},
            )
            for patch in bp["boxes"]:
                patch.set_facecolor(colours[alg])
                patch.set_alpha(0.75)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(
        groups,
        rotation=30 if len(groups) > 6 else 0,
        ha="right" if len(groups) > 6 else "center",
        fontsize=9,
    )
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.grid(axis="y", alpha=0.3)


def _alg_colours(algs: Sequence[str]) -> dict[str, str]:
    return {a: TOP_COLOURS[i % len(TOP_COLOURS)] for i, a in enumerate(algs)}


@plain_text
def plot_modality_scores(
    table: pd.DataFrame,
    algs: Sequence[str],
    ranks: dict[str, int],
    modalities: Sequence[str],
    metrics: Sequence[Metric],
) -> Figure:
    """Per-modality case values of selected algorithms, one panel per metric, top to
    bottom in the order of ``metrics`` (Fig. 3e: DSC, then NSD).

    ``table``: long ``algorithm, task, case, metric, value`` restricted to ``algs``.
    Each panel's y range is :func:`padded_limits` of its metric.
    """
    n = max(len(metrics), 1)
    fig = Figure(figsize=(max(8.0, 1.25 * len(modalities) + 1.5), 3.75 * n), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n, 1, sharex=True, squeeze=False)).ravel()
    colours = _alg_colours(algs)
    for ax, metric in zip(axes, metrics):
        _grouped_boxes(ax, table[table["metric"] == metric.name], modalities, algs, colours)
        ax.set_ylabel(f"{metric.label} per case")
        limits = padded_limits([metric])
        if limits is not None:
            ax.set_ylim(*limits)
    axes[0].set_title("Accuracy per modality of the top algorithms")
    fig.legend(
        handles=[Patch(color=colours[a], label=rank_label(a, ranks.get(a))) for a in algs],
        loc="outside upper center",
        ncols=min(len(algs), 6),
        fontsize=8,
    )
    return fig


@plain_text
def plot_modality_runtime(
    table: pd.DataFrame,
    algs: Sequence[str],
    ranks: dict[str, int],
    modalities: Sequence[str],
    title: str,
    metric: Metric,
) -> Figure:
    """Case values of ``metric`` (runtime, s) per modality of selected algorithms
    (Fig. 3f,g); log axis when every value is positive.

    ``table``: long ``algorithm, task, case, value`` of that metric."""
    fig = Figure(figsize=(max(6.5, 1.3 * len(modalities) + 2.0), 4.8), layout="constrained")
    ax = fig.add_subplot()
    if table.empty or not modalities:
        return _empty(fig, ax, "no runtimes")
    colours = _alg_colours(algs)
    _grouped_boxes(ax, table, modalities, algs, colours)
    if (table["value"] > 0).all():
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
    ax.set_ylabel(f"{metric.label} per case")
    ax.set_title(title)
    ax.legend(
        handles=[Patch(color=colours[a], label=rank_label(a, ranks.get(a))) for a in algs],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
    )
    return fig


# --------------------------------------------------------------------- interactive: per run

FG_COLOUR = "#ffd000"  # foreground click (a missed region): gold plus
BG_COLOUR = "#ff00ff"  # background click (a false positive): magenta cross
PRED_COLOUR = "#d62728"  # the standing prediction's contour


def run_tick_labels(runs: int) -> list[str]:
    """x tick labels of the per-run figures: ``"1 box"``, then the run numbers."""
    return ["1 box"] + [str(k) for k in range(2, runs + 1)]


LINE_STYLES = ["-", "--", ":", "-."]


def line_styles(order: Sequence[str]) -> dict[str, tuple[tuple, str]]:
    """Algorithm -> (colour, line style): tab10's ten colours with a solid line, then
    the same colours dashed, dotted and dash-dotted (40 distinct lines)."""
    palette = list(colormaps["tab10"].colors)
    return {
        a: (palette[i % 10], LINE_STYLES[(i // 10) % len(LINE_STYLES)]) for i, a in enumerate(order)
    }


def _run_axis(
    ax, table: pd.DataFrame, order, styles, metric: Metric, runs: int, band_alpha: float
) -> None:
    """Mean line and 95 % band of each algorithm of ``table`` (one metric) on ``ax``
    (``styles``: :func:`line_styles`)."""
    for alg in order:
        t = table[table["algorithm"] == alg].sort_values("run")
        if t.empty:
            continue
        colour, style = styles[alg]
        ax.fill_between(
            t["run"], t["ci_lo"], t["ci_hi"], color=colour, alpha=band_alpha, linewidth=0
        )
        ax.plot(
            t["run"],
            t["mean"],
            color=colour,
            marker="o",
            markersize=3,
            linewidth=1.3,
            linestyle=style,
        )
    ax.set_xticks(range(1, runs + 1))
    ax.set_xticklabels(run_tick_labels(runs), fontsize=8)
    ax.set_xlim(0.8, runs + 0.2)
    limits = padded_limits([metric])
    if limits is not None:
        ax.set_ylim(*limits)
    ax.grid(alpha=0.3)


@plain_text
def plot_run_curves(
    table: pd.DataFrame,
    order: Sequence[str],
    ranks: dict[str, int],
    metrics: Sequence[Metric],
    runs: int,
) -> Figure:
    """Interactive runs: the mean per run of each per-run metric (DSC, NSD), one panel
    per metric, one line per algorithm (final-rank order) with its 95 % bootstrap
    band over cases; x = run 1 (the box) .. ``runs`` (after the last click).

    ``table``: :func:`evalkit.report.tables.run_curves` by algorithm (``algorithm,
    metric, run, n, mean, ci_lo, ci_hi``).
    """
    n = max(len(metrics), 1)
    k = len(order)
    fig = Figure(figsize=(4.2 * n + (3.2 if k > 8 else 2.4), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
    if table.empty:
        return _empty(fig, axes[0], "no per-run scores")
    styles = line_styles(order)
    for ax, m in zip(axes, metrics):
        _run_axis(ax, table[table["metric"] == m.name], order, styles, m, runs, 0.15)
        ax.set_title(f"{m.name} per run")
        ax.set_ylabel(f"mean {m.label} per case")
        ax.set_xlabel("run (1 = box; run k after click k-1)")
    handles = [
        Line2D(
            [],
            [],
            color=styles[a][0],
            marker="o",
            markersize=3,
            linestyle=styles[a][1],
            label=rank_label(a, ranks.get(a)),
        )
        for a in order
    ]
    fig.legend(
        handles=handles,
        loc="outside right upper",
        fontsize=7.5,
        frameon=False,
        title="final rank, algorithm",
        title_fontsize=8,
    )
    return fig


@plain_text
def plot_run_curves_by_modality(
    table: pd.DataFrame,
    order: Sequence[str],
    ranks: dict[str, int],
    metrics: Sequence[Metric],
    modalities: Sequence[str],
    runs: int,
) -> Figure:
    """:func:`plot_run_curves` per modality as small multiples: one row per metric,
    one column per modality (shared y per row), the algorithms' mean lines and 95 %
    bootstrap bands.

    ``table``: :func:`evalkit.report.tables.run_curves` by algorithm and modality
    (``algorithm, modality, metric, run, n, mean, ci_lo, ci_hi``).
    """
    mods = [m for m in modalities if m in set(table["modality"])] if not table.empty else []
    nr, nc = max(len(metrics), 1), max(len(mods), 1)
    fig = Figure(
        figsize=(max(7.0, 2.6 * nc + 1.0), 2.5 * nr + 0.9 + 0.16 * math.ceil(len(order) / 6)),
        layout="constrained",
    )
    axes = fig.subplots(nr, nc, squeeze=False, sharey="row")
    if not mods:
        return _empty(fig, axes[0][0], "no per-run scores")
    styles = line_styles(order)
    for r, m in enumerate(metrics):
        for c, mod in enumerate(mods):
            ax = axes[r][c]
            t = table[(table["metric"] == m.name) & (table["modality"] == mod)]
            _run_axis(ax, t, order, styles, m, runs, 0.10)
            if r == 0:
                ax.set_title(mod, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"mean {m.label}", fontsize=8)
            if r == nr - 1:
                ax.set_xlabel("run (1 = box)", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [
        Line2D(
            [],
            [],
            color=styles[a][0],
            linestyle=styles[a][1],
            label=rank_label(a, ranks.get(a)),
        )
        for a in order
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(order), 6), fontsize=7)
    return fig


def _fmt_value(v) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


@plain_text
def plot_runs(view: dict, algs: Sequence[str], ranks: dict[str, int]) -> Figure:
    """One interactive case for its case page: per algorithm (a row) one panel per run
    (1 = the box, k = after click k-1) with the reference contour (green), the
    contour of the prediction standing after that run (red), the box on run 1 (blue)
    and that run's new clicks (foreground: gold plus, background: magenta cross).
    Panel titles: run, status, DSC, NSD, time, and ``stale: run j`` when the run was
    scored with an earlier run's prediction.

    ``view``: :func:`evalkit.report.examples.load_run_view` (``rows``: algorithm ->
    panels, ``info``: algorithm -> run -> status and values, ``runs``).
    """
    runs = int(view["runs"])
    algs = [a for a in algs if a in view["rows"]]
    nrows = max(len(algs), 1)
    fig = Figure(figsize=(1.75 * runs + 0.4, 2.05 * nrows + 0.75), layout="constrained")
    axes = fig.subplots(nrows, runs, squeeze=False)
    green = ListedColormap([[0, 0, 0, 0], [0.0, 0.85, 0.0, 0.22]])
    for r, alg in enumerate(algs):
        for k in range(1, runs + 1):
            ax = axes[r][k - 1]
            ax.set_xticks([])
            ax.set_yticks([])
            panel = view["rows"][alg][k - 1]
            info = view["info"].get(alg, {}).get(k, {})
            if k == 1:
                ax.set_ylabel(rank_label(alg, ranks.get(alg)), fontsize=7.5)
            if panel is None:
                ax.text(
                    0.5,
                    0.5,
                    "not run",
                    ha="center",
                    va="center",
                    fontsize=8,
                    transform=ax.transAxes,
                )
                ax.set_title(f"run {k}", fontsize=7)
                continue
            ax.imshow(panel["image"], cmap="gray", interpolation="nearest")
            gt = panel["gt"]
            ax.imshow(gt.astype(np.uint8), cmap=green, vmin=0, vmax=1, interpolation="nearest")
            if gt.any() and not gt.all():
                ax.contour(gt.astype(float), levels=[0.5], colors=[REF_COLOUR], linewidths=0.8)
            pred = panel["pred"]
            if pred is not None and pred.any() and not pred.all():
                ax.contour(pred.astype(float), levels=[0.5], colors=[PRED_COLOUR], linewidths=0.9)
            for x0, y0, x1, y1 in panel["boxes"]:
                ax.add_patch(
                    Rectangle(
                        (x0 - 0.5, y0 - 0.5),
                        x1 - x0 + 1,
                        y1 - y0 + 1,
                        fill=False,
                        edgecolor=BOX_COLOUR,
                        linewidth=1.0,
                    )
                )
            for y, x, kind in panel["clicks"]:
                if kind == "fg":
                    ax.plot(
                        x,
                        y,
                        marker="P",
                        markersize=7,
                        color=FG_COLOUR,
                        markeredgecolor="black",
                        markeredgewidth=0.6,
                        linestyle="none",
                    )
                else:
                    ax.plot(
                        x,
                        y,
                        marker="X",
                        markersize=7,
                        color=BG_COLOUR,
                        markeredgecolor="black",
                        markeredgewidth=0.6,
                        linestyle="none",
                    )
            status = str(info.get("status", "–"))
            j = int(info.get("scored_run", -1))
            lines = [
                f"run {k} z={panel['z']}: {status}",
                f"DSC {_fmt_value(info.get('dsc'))} NSD {_fmt_value(info.get('nsd'))}",
            ]
            wall = info.get("wall_s")
            extra = (
                [] if wall is None or not math.isfinite(float(wall)) else [f"{float(wall):.1f} s"]
            )
            if 1 <= j != k:
                extra.append(f"stale: run {j}")
            elif j < 1 and status not in ("skipped",):
                extra.append("no prediction")
            if str(info.get("reason", "")).startswith("case over budget"):
                extra.append("case over budget: 0")
            if panel["elsewhere"]:
                extra.append(f"+{panel['elsewhere']} click(s) off slice")
            lines.append("; ".join(extra))
            ax.set_title("\n".join(ln for ln in lines if ln), fontsize=6.5)
    if not algs:
        _empty(fig, axes[0][0], "no runs recorded")
    handles = [
        Line2D([], [], color=REF_COLOUR, label="reference"),
        Line2D([], [], color=PRED_COLOUR, label="standing prediction"),
        Patch(fill=False, edgecolor=BOX_COLOUR, label="box (run 1)"),
        Line2D(
            [],
            [],
            marker="P",
            color=FG_COLOUR,
            markeredgecolor="black",
            linestyle="none",
            label="foreground click",
        ),
        Line2D(
            [],
            [],
            marker="X",
            color=BG_COLOUR,
            markeredgecolor="black",
            linestyle="none",
            label="background click",
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize=7, frameon=False)
    fig.suptitle(f"{short(view['case'], 40)}: each run of each algorithm", fontsize=8)
    return fig


# --------------------------------------------------------------------- Fig. 3h: examples


@plain_text
def plot_examples(
    examples: list[dict], algs: Sequence[str], ranks: dict[str, int], metric: Metric
) -> Figure:
    """Example segmentations, one panel per modality (Fig. 3h).

    Each example is a dict with ``modality, case, image`` (2-D grey ``(H, W)`` or RGB
    ``(H, W, 3)`` uint8), ``boxes`` (list of ``(x0, y0, x1, y1)`` pixel boxes in this
    slice), ``gt`` (``(H, W)`` bool), ``preds`` (algorithm -> ``(H, W)`` bool, absent
    when the algorithm has no valid output), ``score`` (algorithm -> case value of
    ``metric``; the panel title names the best one, by the metric's direction) and
    optional ``slice`` (3-D slice index). The reference is a green overlay, the box
    blue, each algorithm a coloured contour.
    """
    n = max(len(examples), 1)
    ncols = min(5, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.1 * ncols, 3.3 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colours = _alg_colours(algs)
    green = ListedColormap([[0, 0, 0, 0], [0.0, 0.85, 0.0, 0.38]])
    for ax, ex in zip(axes, examples):
        img = ex["image"]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.imshow(ex["gt"].astype(np.uint8), cmap=green, vmin=0, vmax=1, interpolation="nearest")
        for x0, y0, x1, y1 in ex["boxes"]:
            ax.add_patch(
                Rectangle(
                    (x0 - 0.5, y0 - 0.5),
                    x1 - x0 + 1,
                    y1 - y0 + 1,
                    fill=False,
                    edgecolor=BOX_COLOUR,
                    linewidth=1.3,
                )
            )
        for alg in reversed(list(algs)):  # best-ranked contour drawn last, on top
            mask = ex["preds"].get(alg)
            if mask is not None and mask.any() and not mask.all():
                ax.contour(mask.astype(float), levels=[0.5], colors=[colours[alg]], linewidths=1.1)
        pick = max if metric.larger_is_better else min
        best = pick(
            ((a, d) for a, d in ex["score"].items() if d is not None and not np.isnan(d)),
            key=lambda t: t[1],
            default=None,
        )
        where = f" z={ex['slice']}" if ex.get("slice") is not None else ""
        sub = (
            f"best {metric.name} {best[1]:.3f} ({short(best[0], 14)})"
            if best
            else "no valid prediction"
        )
        ax.set_title(f"{ex['modality']}: {short(ex['case'], 26)}{where}\n{sub}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(examples) :]:
        ax.set_axis_off()
    handles = [
        Patch(color=REF_COLOUR, alpha=0.5, label="reference"),
        Line2D([], [], color=BOX_COLOUR, label="box prompt"),
    ]
    handles += [Line2D([], [], color=colours[a], label=rank_label(a, ranks.get(a))) for a in algs]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8)
    return fig


def _draw_panel(ax, image, boxes, gt, contour=None, colour: str = "#d62728") -> None:
    """Grey/RGB ``image`` with the reference (green overlay), the box prompts (blue)
    and optionally one algorithm's ``contour`` mask."""
    green = ListedColormap([[0, 0, 0, 0], [0.0, 0.85, 0.0, 0.38]])
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.imshow(gt.astype(np.uint8), cmap=green, vmin=0, vmax=1, interpolation="nearest")
    for x0, y0, x1, y1 in boxes:
        ax.add_patch(
            Rectangle(
                (x0 - 0.5, y0 - 0.5),
                x1 - x0 + 1,
                y1 - y0 + 1,
                fill=False,
                edgecolor=BOX_COLOUR,
                linewidth=1.1,
            )
        )
    if contour is not None and contour.any() and not contour.all():
        ax.contour(contour.astype(float), levels=[0.5], colors=[colour], linewidths=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


@plain_text
def plot_case(view: dict, algs: Sequence[str], ranks: dict[str, int], metric: Metric) -> Figure:
    """One case for its case page: a panel with the reference and box prompts at the
    slice of the largest reference area, then one panel per algorithm with its contour
    at the slice where *its* error (voxels where prediction and reference differ) is
    largest (2D cases: the image itself).

    ``view`` (:func:`evalkit.report.examples.load_case_view`): ``case, dim,
    ref_slice`` (``None`` in 2D) and ``panels``: ``slice -> (image (H, W) or (H, W, 3),
    boxes [(x0, y0, x1, y1)], gt (H, W) bool)``; ``preds``: algorithm -> ``(slice,
    mask (H, W) bool, error voxels)``; ``score``: algorithm -> case value of
    ``metric``. Algorithms without a valid output get an empty panel saying so.
    """
    n = 1 + len(algs)
    ncols = min(6, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.3 * ncols, 2.55 * nrows + 0.35), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    z = view.get("ref_slice")
    image, boxes, gt = view["panels"][z]
    _draw_panel(axes[0], image, boxes, gt)
    where = f", z={z}" if z is not None else ""
    axes[0].set_title(f"reference{where}", fontsize=8)
    for ax, alg in zip(axes[1:], algs):
        pred = view["preds"].get(alg)
        value = view["score"].get(alg, float("nan"))
        shown = "–" if value is None or np.isnan(value) else f"{value:.3f}"
        head = f"{rank_label(alg, ranks.get(alg))}"
        if pred is None:
            ax.text(
                0.5,
                0.5,
                "no valid output",
                ha="center",
                va="center",
                fontsize=7,
                transform=ax.transAxes,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{short(head, 22)}", fontsize=7.5)
            continue
        pz, mask, err = pred
        image, boxes, gt = view["panels"][pz]
        _draw_panel(ax, image, boxes, gt, mask)
        zt = f"slice z={pz}: " if pz is not None else ""
        ax.set_title(f"{short(head, 22)}\n{metric.name} {shown}; {zt}{err} px wrong", fontsize=7.5)
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(
        f"{short(view['case'], 40)}: reference (green), box (blue), contour (red); "
        "each algorithm at its slice of largest error",
        fontsize=8,
    )
    return fig


@plain_text
def plot_podium(
    case_ranks: pd.DataFrame,
    task_order: dict[str, list[str]],
    tasks: Sequence[str],
    metric: str,
    ranks: dict[str, int],
    bars: bool = True,
) -> Figure:
    """challengeR's podium plot, one panel per task of one metric: the algorithms stand
    at their task rank's place (x = place 1, 2, ...; labelled by final rank), each
    case's value of every algorithm is a dot at that place, and a thin line joins the
    values of one case across the algorithms. With ``bars``, a strip below each panel
    shows, at each place, how often that algorithm took per-case rank 1, 2, ... (bar
    heights, darker = better rank).

    ``case_ranks``: ``task, case, algorithm, value, rank`` for one metric (NaN values
    are left out of the dots and lines). The value axis is logarithmic when every
    value is positive and they span more than a factor 100 (runtimes).
    """
    from matplotlib.collections import LineCollection

    n = len(tasks)
    ncols = min(5, n) if n else 1
    nrows = max(1, math.ceil(n / ncols))
    k = max((len(v) for v in task_order.values()), default=1)
    side = max(3.0, min(4.6, 0.17 * k + 1.0))
    all_algs = sorted({a for v in task_order.values() for a in v})
    fig = Figure(
        figsize=(side * ncols, side * nrows * (1.35 if bars else 1.0) + 0.7 + 3 * KEY_LINE_IN),
        layout=None,
    )
    grid = fig.add_gridspec(nrows, ncols)
    cmap = colormaps["viridis"]
    for ti, task in enumerate(tasks):
        r, c = divmod(ti, ncols)
        cell = grid[r, c].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.06) if bars else None
        ax = fig.add_subplot(cell[0] if bars else grid[r, c])
        order = task_order[task]
        idx = {a: i for i, a in enumerate(order)}
        cr = case_ranks[(case_ranks["task"] == task) & case_ranks["algorithm"].isin(idx)]
        wide = cr.pivot_table(index="case", columns="algorithm", values="value", aggfunc="first")
        wide = wide.reindex(columns=order)
        xs = np.arange(len(order), dtype=float)
        vals = wide.to_numpy(float)
        segs = [np.column_stack([xs, row]) for row in vals]
        ax.add_collection(
            LineCollection(segs, colors="#888888", linewidths=0.4, alpha=0.35, rasterized=True)
        )
        for j, a in enumerate(order):
            v = vals[:, j]
            v = v[~np.isnan(v)]
            ax.scatter(
                np.full(len(v), xs[j]),
                v,
                s=6,
                color=cmap(0.9 * j / max(len(order) - 1, 1)),
                alpha=0.7,
                linewidths=0,
                rasterized=True,
                zorder=3,
            )
        finite = vals[np.isfinite(vals)]
        if len(finite):
            lo, hi = float(finite.min()), float(finite.max())
            if lo > 0 and hi / lo > 100:
                ax.set_yscale("log")
                plain_log_axis(ax.yaxis)
            else:
                pad = 0.05 * (hi - lo) or 0.05
                ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(-0.6, len(order) - 0.4)
        labels = _panel_labels(order, ranks)
        ax.set_xticks(range(len(order)), labels, fontsize=6 if k > 15 else 8)
        ax.set_title(f"{task} · {metric}", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.2)
        if bars:
            bx = fig.add_subplot(cell[1], sharex=ax)
            ax.tick_params(axis="x", labelbottom=False)
            kk = len(order)
            width = 0.8 / max(kk, 1)
            for j, a in enumerate(order):
                rk = np.ceil(cr.loc[cr["algorithm"] == a, "rank"].dropna().to_numpy(float))
                counts = np.bincount(np.clip(rk.astype(int), 1, kk), minlength=kk + 1)[1:]
                bx.bar(
                    j - 0.4 + width * (np.arange(kk) + 0.5),
                    counts,
                    width,
                    color=cmap(np.linspace(0, 0.9, kk)),
                    linewidth=0,
                )
            bx.tick_params(axis="x", labelsize=6 if k > 15 else 8)
            bx.tick_params(axis="y", labelsize=6)
            bx.set_ylabel("cases at\nrank 1..K", fontsize=6)
    _grid_layout(fig, nrows, _rank_key(fig, all_algs, ranks))
    fig.suptitle(
        f"Podium plots, {metric}: per-case values at each algorithm's task-rank place "
        "(label = final rank), lines join a case"
        + ("; bars: per-case rank frequencies" if bars else ""),
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------- ranking stability


def _blob(
    ax,
    freq: pd.DataFrame,
    summary: pd.DataFrame,
    order: Sequence[str],
    title: str,
    labels: Sequence[str],
    max_area: float,
) -> None:
    k = len(order)
    idx = {a: i for i, a in enumerate(order)}
    f = freq[freq["algorithm"].isin(idx)]
    ax.scatter(
        f["algorithm"].map(idx),
        f["rank"],
        s=max_area * f["share"],
        color="#4c72b0",
        alpha=0.55,
        linewidths=0,
    )
    s = summary[summary["algorithm"].isin(idx)]
    xs = s["algorithm"].map(idx).to_numpy()
    ax.vlines(xs, s["rank_lo"], s["rank_hi"], color="black", linewidth=1.0)
    ax.scatter(xs, s["median_rank"], marker="x", color="black", s=18, linewidths=1.0, zorder=3)
    ax.plot([-0.5, k - 0.5], [0.5, k + 0.5], color="grey", linewidth=0.6, linestyle=":")
    _xticks(ax, labels)
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(k + 0.8, 0.2)
    ax.set_ylabel("rank")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.2)


@plain_text
def plot_blob(
    freq: pd.DataFrame,
    summary: pd.DataFrame,
    order: Sequence[str],
    ranks: dict[str, int],
    title: str,
) -> Figure:
    """Bootstrap blob plot: circle area ∝ frequency of each rank over the bootstrap
    samples; × = median rank, vertical line = 2.5 %–97.5 % interval (challengeR).

    ``freq``: ``algorithm, rank, share`` (share of bootstrap samples, 0..1); ``summary``:
    ``algorithm, median_rank, rank_lo, rank_hi``.
    """
    k = len(order)
    fig = Figure(figsize=(max(6.0, 0.5 * k + 2.0), max(4.5, 0.22 * k + 2.5)), layout="constrained")
    ax = fig.add_subplot()
    _blob(ax, freq, summary, order, title, [rank_label(a, ranks.get(a)) for a in order], 420)
    ax.legend(
        handles=[
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                color="#4c72b0",
                alpha=0.55,
                markersize=math.sqrt(420 * q),
                label=f"{q:.0%}",
            )
            for q in (0.1, 0.5, 1.0)
        ]
        + [
            Line2D([], [], marker="x", linestyle="none", color="black", label="median"),
            Line2D([], [], color="black", label="95 % interval"),
        ],
        loc="lower left",
        fontsize=7,
        title="rank frequency",
        title_fontsize=7,
        ncols=2,
    )
    return fig


@plain_text
def plot_blob_tasks(
    freq: pd.DataFrame,
    summary: pd.DataFrame,
    task_order: dict[str, list[str]],
    tasks: Sequence[str],
    metric: str,
    ranks: dict[str, int],
) -> Figure:
    """Blob plots of every task of one metric in a grid (one panel per modality).

    Each panel orders algorithms by that task's full-data rank; the x tick labels are
    the algorithms' *final* ranks (compact at 23 algorithms; names in the leaderboard
    and the CSV), so a label far from the diagonal position shows a task where an
    algorithm ranks unlike overall.
    """
    n = len(tasks)
    ncols = min(5, n) if n else 1
    nrows = max(1, math.ceil(n / ncols))
    k = max((len(v) for v in task_order.values()), default=1)
    side = max(3.0, min(4.6, 0.17 * k + 1.0))
    all_algs = sorted({a for v in task_order.values() for a in v})
    fig = Figure(figsize=(side * ncols, side * nrows + 0.6 + 3 * KEY_LINE_IN), layout=None)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    step_pt = side * 0.8 * 72 / max(k, 1)
    max_area = (0.85 * step_pt) ** 2
    for ax, task in zip(axes, tasks):
        order = task_order[task]
        f = freq[freq["task"] == task]
        s = summary[summary["task"] == task]
        labels = _panel_labels(order, ranks)
        _blob(ax, f, s, order, f"{task} · {metric}", labels, max_area)
        ax.set_xticklabels(labels, fontsize=6 if k > 15 else 8, rotation=0, ha="center")
        ax.set_xlabel("algorithms in task-rank order (label = final rank)", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes[n:]:
        ax.set_axis_off()
    _grid_layout(fig, nrows, _rank_key(fig, all_algs, ranks))
    fig.suptitle(
        f"Bootstrap rank distribution per modality, {metric} "
        "(area ∝ frequency, × median, line 95 % interval)",
        fontsize=10,
    )
    return fig


def significance_matrix(sig: pd.DataFrame, order: Sequence[str]) -> np.ndarray:
    """``K x K`` matrix in ``order``: 1 where row i is significantly better than
    column j (``significant`` true), 0 elsewhere, 0.5 on the diagonal."""
    k = len(order)
    idx = {a: i for i, a in enumerate(order)}
    mat = np.zeros((k, k))
    s = sig[sig["algorithm"].isin(idx) & sig["other"].isin(idx)]
    flag = s["significant"].astype(str).str.lower().isin(("true", "1", "1.0"))
    mat[s["algorithm"].map(idx).to_numpy(int), s["other"].map(idx).to_numpy(int)] = flag.to_numpy(
        float
    )
    np.fill_diagonal(mat, 0.5)
    return mat


@plain_text
def plot_significance(
    sig: pd.DataFrame,
    task_order: dict[str, list[str]],
    tasks: Sequence[str],
    metric: str,
    ranks: dict[str, int],
) -> Figure:
    """Significance maps of every task of one metric, one panel per task.

    In a panel, cell (row i, column j) is red when algorithm i is significantly
    better than j (one-sided Wilcoxon, Holm-adjusted, as in ``significance.csv``);
    rows and columns follow that task's rank and are labelled with the algorithms'
    *final* ranks (names in the leaderboard and the CSV). The diagonal is grey.

    ``sig``: ``task, algorithm, other, significant`` for one metric.
    """
    n = len(tasks)
    ncols = min(5, n) if n else 1
    nrows = max(1, math.ceil(n / ncols))
    k = max((len(v) for v in task_order.values()), default=1)
    side = max(3.0, min(4.6, 0.17 * k + 1.0))
    all_algs = sorted({a for v in task_order.values() for a in v})
    fig = Figure(figsize=(side * ncols, side * nrows + 0.7 + 3 * KEY_LINE_IN), layout=None)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    cmap = ListedColormap(["#f4f4f4", "#bdbdbd", "#c0392b"])
    fs = 6 if k > 15 else 8
    for ax, task in zip(axes, tasks):
        order = task_order[task]
        mat = significance_matrix(sig[sig["task"] == task], order)
        ax.imshow(mat, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        labels = _panel_labels(order, ranks)
        ax.set_xticks(range(len(order)), labels, fontsize=fs)
        ax.set_yticks(range(len(order)), labels, fontsize=fs)
        ax.set_title(f"{task} · {metric}", fontsize=9)
        ax.set_xlabel("… significantly better than column", fontsize=7)
        ax.set_ylabel("row …", fontsize=7)
    for ax in axes[n:]:
        ax.set_axis_off()
    _grid_layout(fig, nrows, _rank_key(fig, all_algs, ranks))
    fig.suptitle(
        f"Significance maps, {metric}: red = row better than column (one-sided "
        "Wilcoxon, Holm); axes in task-rank order, labels = final rank",
        fontsize=10,
    )
    return fig


@plain_text
def plot_rank_heatmap(
    task_ranking: pd.DataFrame,
    order: Sequence[str],
    tasks: Sequence[str],
    metrics: Sequence[str],
    ranks: dict[str, int],
) -> Figure:
    """Rank of every algorithm (columns, final-rank order) in every ranking task (rows:
    ``modality / metric``); darker = better, the rank printed in each cell.

    ``task_ranking``: ``task, metric, algorithm, rank``.
    """
    rows = [(t, m) for m in metrics for t in tasks]
    k = len(order)
    mat = np.full((len(rows), k), np.nan)
    tr = task_ranking.set_index(["task", "metric", "algorithm"])["rank"]
    for i, (t, m) in enumerate(rows):
        for j, a in enumerate(order):
            mat[i, j] = tr.get((t, m, a), np.nan)
    fig = Figure(
        figsize=(max(7.0, 0.42 * k + 3.0), max(4.0, 0.3 * len(rows) + 2.2)), layout="constrained"
    )
    ax = fig.add_subplot()
    im = ax.imshow(
        mat, cmap="viridis_r", aspect="auto", interpolation="nearest", vmin=1, vmax=max(k, 2)
    )
    if k * len(rows) <= 1200:
        for i in range(len(rows)):
            for j in range(k):
                if not np.isnan(mat[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{int(mat[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color="black" if mat[i, j] <= k / 2 else "white",
                    )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{t} / {m}" for t, m in rows], fontsize=7.5)
    _xticks(ax, [rank_label(a, ranks.get(a)) for a in order])
    for i in range(1, len(metrics)):
        ax.axhline(i * len(tasks) - 0.5, color="white", linewidth=2)
    ax.set_title("Rank per ranking task (columns in final-rank order)")
    fig.colorbar(im, ax=ax, label="task rank", shrink=0.6)
    return fig


@plain_text
def plot_case_rank_heatmaps(
    case_ranks: pd.DataFrame,
    task_order: dict[str, list[str]],
    tasks: Sequence[str],
    metric: str,
    ranks: dict[str, int],
) -> Figure:
    """challengeR's ranking heatmap, one panel per task of one metric: column = algorithm
    (task-rank order, labelled by final rank), row = per-case rank, colour = number of
    cases at that rank. A good, consistent algorithm has its mass near the top.

    ``case_ranks``: ``task, case, algorithm, rank`` for one metric (ties keep their
    tied rank; missing values carry the worst rank the ranking gave them).
    """
    n = len(tasks)
    ncols = min(5, n) if n else 1
    nrows = max(1, math.ceil(n / ncols))
    k = max((len(v) for v in task_order.values()), default=1)
    side = max(3.0, min(4.6, 0.17 * k + 1.0))
    all_algs = sorted({a for v in task_order.values() for a in v})
    fig = Figure(figsize=(side * ncols, side * nrows + 0.7 + 3 * KEY_LINE_IN), layout=None)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, task in zip(axes, tasks):
        order = task_order[task]
        cr = case_ranks[(case_ranks["task"] == task) & case_ranks["algorithm"].isin(order)]
        kmax = max(len(order), int(np.ceil(cr["rank"].max())) if len(cr) else 1)
        mat = np.zeros((kmax, len(order)))
        idx = {a: i for i, a in enumerate(order)}
        rows = np.clip(np.ceil(cr["rank"].to_numpy(float)).astype(int) - 1, 0, kmax - 1)
        np.add.at(mat, (rows, cr["algorithm"].map(idx).to_numpy(int)), 1)
        im = ax.imshow(mat, cmap="Blues", aspect="auto", interpolation="nearest")
        labels = _panel_labels(order, ranks)
        ax.set_xticks(range(len(order)), labels, fontsize=6 if k > 15 else 8)
        step = 1 if kmax <= 12 else 5
        ticks = [0] + list(range(step - 1, kmax, step))[1 if step == 1 else 0 :]
        ax.set_yticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
        ax.set_ylabel("rank per case", fontsize=7)
        ax.set_title(f"{task} · {metric}", fontsize=9)
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        cbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        cbar.ax.tick_params(labelsize=6)
    for ax in axes[n:]:
        ax.set_axis_off()
    _grid_layout(fig, nrows, _rank_key(fig, all_algs, ranks), wspace=0.45)
    fig.suptitle(
        f"Ranking heatmaps, {metric}: cases (colour) at each per-case rank (row) per "
        "algorithm (column, task-rank order, label = final rank)",
        fontsize=10,
    )
    return fig


@plain_text
def plot_kendall(tau: pd.DataFrame, tasks: Sequence[str], metrics: Sequence[str]) -> Figure:
    """Violins of Kendall's tau-b between each bootstrap ranking and the full-data
    ranking, per task (one row of panels per metric), median marked. A task whose
    samples are all equal is drawn as a short line. The y axis starts at 0.5 or
    below the lowest tau, whichever is lower.

    ``tau``: ``task, metric, sample, tau``.
    """
    fig = Figure(
        figsize=(max(7.0, 0.85 * len(tasks) + 2.0), 2.7 * len(metrics) + 0.6), layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(len(metrics), 1, sharex=True, squeeze=False)).ravel()
    lowest = tau["tau"].min() if len(tau) else 0.0
    lower = max(-1.02, min(0.5, float(lowest) - 0.05)) if np.isfinite(lowest) else 0.0
    for ax, metric in zip(axes, metrics):
        data = [
            tau.loc[(tau["task"] == t) & (tau["metric"] == metric), "tau"].dropna().to_numpy()
            for t in tasks
        ]
        for i, d in enumerate(data):
            if len(d) == 0:
                continue
            if np.ptp(d) == 0:
                ax.hlines(d[0], i - 0.3, i + 0.3, color="#2d6a3e")
            else:
                parts = ax.violinplot([d], positions=[i], widths=0.8, showmedians=True)
                for body in parts["bodies"]:
                    body.set_facecolor("#55a868")
                    body.set_alpha(0.6)
                for key in ("cmedians", "cmins", "cmaxes", "cbars"):
                    if key in parts:
                        parts[key].set_color("#2d6a3e")
                        parts[key].set_linewidth(1.0)
        ax.set_ylabel(f"{metric}\nKendall's τ")
        ax.set_ylim(lower, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(tasks)))
    axes[-1].set_xticklabels(
        tasks, rotation=30 if len(tasks) > 6 else 0, ha="right" if len(tasks) > 6 else "center"
    )
    axes[0].set_title("Ranking stability: Kendall's τ, bootstrap vs full-data ranking, per task")
    return fig


# --------------------------------------------------------------------- compare: two evaluations


@plain_text
def plot_comparison(
    by_modality: pd.DataFrame,
    runtime_ratio: Sequence[float] | pd.Series,
    metrics: Sequence[Metric],
    label_a: str,
    label_b: str,
    title: str,
) -> Figure:
    """Two evaluations of the same cases (``evalkit compare``): per metric, the mean
    per modality of both sides as paired bars (like Fig. 4c of the challenge paper),
    then the per-case runtime ratios B/A (box and dots, dashed line at 1).

    ``by_modality``: ``modality`` and ``<column>_a``, ``<column>_b`` per metric
    (:attr:`Metric.column`, means in the metric's unit); ``runtime_ratio``: one ratio
    per case (non-finite ones are left out). Metric axes span :attr:`Metric.bounds`
    (plus 5 % above) when bounded, the data otherwise.
    """
    mods = by_modality["modality"].tolist()
    x = np.arange(len(mods))
    n = len(metrics)
    fig = Figure(figsize=(min(18, max(10, 1.1 * len(mods) + 4)) * (2 * n + 1.2) / 5.2, 4.6))
    axes = np.atleast_1d(
        fig.subplots(1, n + 1, squeeze=False, gridspec_kw={"width_ratios": [2] * n + [1.2]})
    ).ravel()
    for ax, m in zip(axes[:n], metrics):
        ax.bar(x - 0.2, by_modality[f"{m.column}_a"], 0.4, label=label_a, color="#4C72B0")
        ax.bar(x + 0.2, by_modality[f"{m.column}_b"], 0.4, label=label_b, color="#DD8452")
        ax.set_xticks(x, mods, rotation=35, ha="right")
        if m.bounds is not None:
            lo, hi = m.bounds
            ax.set_ylim(lo, hi + 0.05 * (hi - lo))
        ax.set_ylabel(f"mean {m.label}")
        ax.set_title(f"{m.name} per modality")
        ax.grid(axis="y", alpha=0.3)
    if n:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    ratios = pd.Series(runtime_ratio, dtype=float).replace([np.inf, -np.inf], np.nan).dropna()
    rax = axes[n]
    rax.boxplot([ratios.to_numpy()], widths=0.5)
    rax.scatter(
        np.ones(len(ratios)) + np.random.default_rng(0).uniform(-0.1, 0.1, len(ratios)),
        ratios,
        s=12,
        alpha=0.7,
        color="k",
    )
    rax.axhline(1.0, color="grey", lw=0.8, ls="--")
    rax.set_xticks([1], [f"{label_b} / {label_a}"], fontsize=8)
    rax.set_ylabel("runtime ratio per case")
    rax.set_title("runtime")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


# --------------------------------------------------------------------- finishing every figure

MIN_TICK_FONT = 5.0  # points: tick labels are never shrunk below this
ROTATION = 55  # degrees, for x tick labels that do not fit side by side
TICK_GAP = 3.0  # pixels (at 100 dpi) kept free between neighbouring tick labels


def _label_rects(labels, renderer) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """Each label as a rotated rectangle (centre, unit direction, width, height; pixels):
    the centre of its rendered box and the renderer's extent of the unrotated string."""
    out = []
    for t in labels:
        box = t.get_window_extent(renderer)
        w, h, _d = renderer.get_text_width_height_descent(
            t.get_text(), t.get_fontproperties(), ismath=False
        )
        theta = math.radians(t.get_rotation())
        centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
        out.append((centre, np.array([math.cos(theta), math.sin(theta)]), w, h))
    return out


def overlapping(labels, renderer, gap: float = 0.0) -> bool:
    """True when two of ``labels`` (texts of one axis, same rotation) are closer than
    ``gap`` pixels both along and across their direction (``gap = 0``: they overlap)."""
    rects = _label_rects(labels, renderer)
    for i, (ca, ua, wa, ha) in enumerate(rects):
        n = np.array([-ua[1], ua[0]])
        for cb, _ub, wb, hb in rects[i + 1 :]:
            d = cb - ca
            if abs(d @ ua) < (wa + wb) / 2 + gap and abs(d @ n) < (ha + hb) / 2 + gap:
                return True
    return False


def _shown(labels) -> list:
    return [t for t in labels if t.get_visible() and t.get_text().strip()]


def _untangle(axis, renderer) -> bool:
    """One step towards tick labels of ``axis`` that do not overlap; False when there
    was nothing (left) to do. Order: hide minor labels, rotate x labels, shrink the
    font down to :data:`MIN_TICK_FONT`, then show every other label."""
    major, minor = _shown(axis.get_majorticklabels()), _shown(axis.get_minorticklabels())
    if minor and overlapping(major + minor, renderer, TICK_GAP):
        axis.set_minor_formatter(NullFormatter())
        return True
    if not overlapping(major, renderer, TICK_GAP):
        return False
    if axis.axis_name == "x" and all(t.get_rotation() == 0 for t in major):
        for t in major:
            t.set_rotation(ROTATION)
            t.set_ha("right")
            t.set_rotation_mode("anchor")
        return True
    size = major[0].get_fontsize()
    if size > MIN_TICK_FONT:
        for t in major:
            t.set_fontsize(max(MIN_TICK_FONT, size * 0.85))
        return True
    for t in major[1::2]:
        t.set_visible(False)
    return len(major) > 1


def finish(fig: Figure, max_rounds: int = 8) -> Figure:
    """Make ``fig`` print cleanly whatever its names: every log axis still on a
    mathtext formatter gets :func:`plain_log_axis`, and tick labels that overlap on
    the rendered figure are rotated, shrunk or thinned (:func:`_untangle`, redrawn
    until none overlap or after ``max_rounds``). Called by the report before saving."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log" and isinstance(
                axis.get_major_formatter(), LogFormatterMathtext
            ):
                plain_log_axis(axis)
    canvas = FigureCanvasAgg(fig)
    for _ in range(max_rounds):
        fig.draw_without_rendering()  # layout and text extents, no pixels
        renderer = canvas.get_renderer()
        changed = False
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                changed |= _untangle(axis, renderer)
        if not changed:
            break
    return fig
