"""``build_report(run_dir, out_dir)``: leaderboard tables, figures and ``index.html``.

Output folder layout::

    <out>/index.html                 self-contained page (figures beside it, no network)
    <out>/leaderboard.{csv,md,html}  the leaderboard (all columns in the CSV)
    <out>/failures.csv               failed cases: algorithm, case, status, reason, last log line
    <out>/figures/<name>.{png,svg,csv}  every figure and the data behind it
    <out>/cases/<stem>.html          case pages (bounded, evalkit.report.pages), img/<stem>.png
    <out>/algorithms/<stem>.html     one page per algorithm
    <out>/ranking/*.csv              subset reports only: the subset's own ranking
    <out>/report.json                what was written, notes on omitted sections, page rule

Figures 3e-h use the "top algorithms": the best ``TOP_K`` by final rank plus any
algorithm whose name marks it as a baseline (contains ``baseline`` or ``litemedsam``,
case-insensitive), as in the challenge paper.

Metrics come from :mod:`evalkit.metrics.registry`: the metrics of ``results.csv``
that the registry declares with ``source = "scores"`` are the accuracy metrics
(Fig. 3a,b,e and the bubbles' y axis and area), the first ``source = "runner"`` one
is the runtime (Fig. 3c,d,f,g). Metrics the registry does not know appear in the
leaderboard and the ranking figures only. Adding a figure: ``docs/design.md``,
"How to add".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from evalkit.metrics.registry import REGISTRY, Metric
from evalkit.progress import progress as progress_bar
from evalkit.report import figures as F
from evalkit.report import html as H
from evalkit.report import pages as P
from evalkit.report.inputs import RunData, last_log_line, load_run, report_scored, run_metrics
from evalkit.report.nodes import node_jobs
from evalkit.report.pages import PageLimits
from evalkit.report.tables import (
    failure_counts,
    failure_details,
    format_leaderboard,
    iteration_failures,
    leaderboard,
    run_count,
    run_curves,
    to_markdown,
)
from evalkit.runfolder import RunFolder

TOP_K = 3
BASELINE_PATTERN = re.compile(r"baseline|litemedsam", re.IGNORECASE)
PNG_DPI = 110
CASE_DPI = 100  # case-page pictures


@dataclass
class FigureEntry:
    """One written figure: ``name`` (file stem under figures/), section, caption."""

    name: str
    section: str
    caption: str


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    out_dir: Path
    figures: list[FigureEntry] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    example_cases: list[str] = field(default_factory=list)
    pages: dict[str, int] = field(default_factory=dict)
    subset: str | None = None
    iteration_failures: pd.DataFrame | None = None  # interactive runs: failures by run

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"


def safe_name(text: str) -> str:
    """A file-name-safe stem (letters, digits, ``.-_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


def top_algorithms(order: list[str], k: int = TOP_K) -> list[str]:
    """The first ``k`` algorithms of ``order`` plus baselines (see module docstring)."""
    top = list(order[:k])
    top += [a for a in order[k:] if BASELINE_PATTERN.search(a)]
    return top


def _metrics(run: RunData) -> list[str]:
    present = list(dict.fromkeys(run.results["metric"].astype(str)))
    known = [m for m in run.challenge.ranking["metrics"] if m in present]
    return known + [m for m in present if m not in known]


def _registered(names: list[str], source: str) -> list[Metric]:
    """The registry's metrics among ``names`` with that ``source``, in the order of ``names``."""
    return [REGISTRY[n] for n in names if n in REGISTRY and REGISTRY[n].source == source]


def _axis_groups(metrics: list[Metric]) -> list[list[Metric]]:
    """``metrics`` grouped by (bounds, unit): the metrics of a group share one axis."""
    groups: dict[tuple, list[Metric]] = {}
    for m in metrics:
        groups.setdefault((m.bounds, m.unit), []).append(m)
    return list(groups.values())


def _and(names: list[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def build_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    algorithms: list[str] | None = None,
    tasks: list[str] | None = None,
    pages: PageLimits | None = None,
) -> Report:
    """Write the report of a run folder into ``out_dir`` (default ``<run>/report``;
    for a subset ``<run>/report/subsets/subset-<hash>``).

    ``algorithms`` / ``tasks``: restrict the report to these (re-ranked on the subset,
    :mod:`evalkit.report.subset`). ``pages``: bounds of the case pages
    (:class:`evalkit.report.pages.PageLimits`; defaults when ``None``).

    Raises :class:`evalkit.report.inputs.ReportInputError` when the results table or
    the final ranking is missing, or a subset names an unknown algorithm or task;
    optional parts that are missing (bootstrap, case list, example images, scores)
    omit their section and add a note.
    """
    run = load_run(run_dir)
    limits = pages or PageLimits()
    subset_note = None
    if algorithms or tasks:
        from evalkit.report.subset import subset_label, subset_run

        run, subset_note = subset_run(run, algorithms, tasks, progress=progress)
    if out_dir is not None:
        out = Path(out_dir)
    else:
        out = RunFolder(run.run_dir).report_dir
        if subset_note is not None:
            out = out / "subsets" / subset_label(algorithms, tasks)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    report = Report(out_dir=out, notes=list(run.notes), subset=subset_note)
    if subset_note is not None:
        _write_subset_ranking(run, out / "ranking")

    order = run.algorithms
    ranks = dict(zip(run.final_ranking["algorithm"], run.final_ranking["final_rank"].astype(int)))
    modalities = run.modalities
    metrics = _metrics(run)
    results = run.results
    results = results[results["algorithm"].isin(order)]
    unranked = sorted(set(run.results["algorithm"]) - set(order))
    if unranked:
        report.notes.append(
            f"Algorithms in results.csv but not in final_ranking.csv were left "
            f"out: {', '.join(unranked)}."
        )
    top = top_algorithms(order)
    for alg, journal in run.journals.items():
        if "degraded_timing" in journal.columns:
            n = int(journal["degraded_timing"].fillna(False).astype(bool).sum())
            if n:
                report.notes.append(
                    f"{alg}: runtimes of {n} case(s) were measured with cases "
                    "running side by side (degraded_timing); compare runtimes "
                    "with care."
                )

    # ------------------------------------------------------------------ tables
    failures = failure_counts(run.scores, run.journals, order)
    board = leaderboard(
        run.final_ranking, results, modalities, metrics, run.table("bootstrap_ranks"), failures
    )
    board.to_csv(out / "leaderboard.csv", index=False)
    log_lines = _failure_log_lines(run)
    details = failure_details(run.scores, run.journals, log_lines)
    details.to_csv(out / "failures.csv", index=False)
    accuracy = _registered(metrics, "scores")
    lowest = (
        P.lowest_cases(results, accuracy[0], limits.lowest_per_algorithm)
        if accuracy
        else P.lowest_cases(results.iloc[:0], REGISTRY["DSC"], 0)
    )
    worst = lowest.groupby("algorithm", sort=False).head(1)
    worst_case = dict(zip(worst["algorithm"], worst["case"]))
    tables_md, tables_html = _leaderboard_views(board, modalities, metrics, worst_case)
    (out / "leaderboard.md").write_text(
        f"# Leaderboard: {run.challenge.name}\n\n" + "\n".join(tables_md), encoding="utf-8"
    )
    (out / "leaderboard.html").write_text(
        H.page(f"Leaderboard: {run.challenge.name}", "\n".join(tables_html)), encoding="utf-8"
    )
    report.tables += ["leaderboard.csv", "leaderboard.md", "leaderboard.html", "failures.csv"]
    if run.interactive:
        per_run = run_metrics(run.challenge)
        runs = run_count(run.scores, per_run)
        if runs:
            report.iteration_failures = iteration_failures(run.iterations, run.scores, order, runs)
            report.iteration_failures.to_csv(out / "failures_by_iteration.csv", index=False)
            report.tables.append("failures_by_iteration.csv")
        else:
            report.notes.append(
                "Interactive run without per-run columns in scores/<sub>/cases.csv: "
                "failures by run omitted."
            )

    # ------------------------------------------------------------------ figures
    jobs = _figure_jobs(run, results, order, ranks, modalities, metrics, top, report)
    jobs += node_jobs(run, report)  # cluster runs only: per-node runtimes and calibration
    bar = progress_bar(jobs, desc="report figures", unit="fig", enabled=progress, lines="end")
    for entry, make in bar:
        fig, data = make()
        _save(fig, data, figdir / entry.name)
        report.figures.append(entry)

    # ------------------------------------------------------------------ pages
    selected = P.select_case_pages(report.example_cases, details, lowest, limits.max_case_pages)
    scored = report_scored(run.challenge)
    runtimes = _registered(metrics, "runner")
    report.pages = P.write_pages(
        out,
        run,
        results,
        order,
        ranks,
        modalities,
        metrics,
        scored,
        selected,
        lowest,
        limits,
        runtimes[0].name if runtimes else None,
        lambda row: _draw_case(row, run, order, ranks, scored, limits, out / "cases" / "img"),
        lambda row, algs: _draw_runs(row, algs, run, ranks, limits, out / "cases" / "img"),
    )

    # ------------------------------------------------------------------ page
    html = H.index_page(run, report, tables_html, details, board, selected, limits)
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / "report.json").write_text(
        json.dumps(
            {
                "run": str(run.run_dir),
                "tables": report.tables,
                "figures": [
                    {"name": f.name, "section": f.section, "caption": f.caption}
                    for f in report.figures
                ],
                "notes": report.notes,
                "pages": report.pages,
                "page_rule": limits.rule(),
                "subset": report.subset,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return report


def _save(fig: Figure, data: pd.DataFrame, stem: Path) -> None:
    """PNG, then SVG with the layout frozen (constrained layout is solved once) and
    text kept as text (smaller, searchable SVG), then the data as CSV."""
    with matplotlib.rc_context({"text.parse_math": False}):  # names are data, not TeX
        F.finish(fig)
        fig.savefig(stem.with_suffix(".png"), dpi=PNG_DPI)
        fig.set_layout_engine("none")
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(stem.with_suffix(".svg"))
    data.to_csv(stem.with_suffix(".csv"), index=False)


def _failure_log_lines(run: RunData) -> dict[tuple[str, str], str]:
    out = {}
    folder = RunFolder(run.run_dir)
    for alg, journal in run.journals.items():
        if "status" not in journal.columns:
            continue
        for case in journal.loc[journal["status"].astype(str) != "ok", "case"].astype(str):
            out[(alg, case)] = last_log_line(folder.submission(alg).log(safe_name(case)))
    if not run.scores.empty:
        bad = run.scores[run.scores["status"].astype(str) != "ok"]
        for alg, case in zip(bad["algorithm"], bad["case"].astype(str)):
            if (alg, case) not in out:
                out[(alg, case)] = last_log_line(folder.submission(alg).log(safe_name(case)))
    return out


def _leaderboard_views(
    board: pd.DataFrame,
    modalities: list[str],
    metrics: list[str],
    worst_case: dict[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Markdown and HTML views: the main table, then one per-modality table per metric.
    In HTML, algorithm names link to their pages and ``lowest case`` (the algorithm's
    lowest-scoring case, ``worst_case``) to its case page."""
    per_mod = {f"{m}_{mod}" for m in metrics for mod in modalities}
    main_cols = [c for c in board.columns if c not in per_mod]
    fmt = format_leaderboard(board[main_cols])
    md = ["## Final ranking\n", to_markdown(fmt)]
    links = {"algorithm": P.algorithm_href, "lowest case": P.case_href}
    shown = fmt
    if worst_case:
        shown = fmt.copy()
        shown["lowest case"] = [worst_case.get(a, "") for a in board["algorithm"]]
    html = ["<h3>Final ranking</h3>", H.linked_table(shown, links)]
    for metric in metrics:
        cols = ["final_rank", "algorithm"] + [f"{metric}_{mod}" for mod in modalities]
        view = format_leaderboard(board[cols])
        view.columns = ["final_rank", "algorithm"] + modalities
        m = REGISTRY.get(metric)
        unit = f" (mean {m.unit} per case)" if m is not None and m.unit else " (mean per case)"
        md += [f"\n## {metric} per modality{unit}\n", to_markdown(view)]
        html += [f"<h3>{metric} per modality{unit}</h3>", H.linked_table(view, links)]
    return md, html


Job = tuple[FigureEntry, Callable[[], tuple[Figure, pd.DataFrame]]]


def _figure_jobs(
    run: RunData,
    results: pd.DataFrame,
    order: list[str],
    ranks: dict[str, int],
    modalities: list[str],
    metrics: list[str],
    top: list[str],
    report: Report,
) -> list[Job]:
    jobs: list[Job] = []
    seed = int(run.challenge.ranking.get("seed", 0))
    accuracy = _registered(metrics, "scores")
    runtimes = _registered(metrics, "runner")
    acc_names = [m.name for m in accuracy]
    case_table = results[results["metric"].isin(acc_names)][
        ["algorithm", "task", "case", "dim", "metric", "value"]
    ]

    for dim, letter in ((2, "a"), (3, "b")):
        sub = case_table[case_table["dim"] == dim]
        if sub.empty:
            report.notes.append(f"No {dim}D cases: Fig. 3{letter} omitted.")
            continue
        n = sub["case"].nunique()
        for gi, group in enumerate(_axis_groups(accuracy)):
            names = [m.name for m in group]
            gsub = sub[sub["metric"].isin(names)]
            stem = f"scores_{dim}d" if gi == 0 else f"scores_{dim}d_{safe_name('_'.join(names))}"
            jobs.append(
                (
                    FigureEntry(
                        stem,
                        "Accuracy",
                        f"Case {_and(names)} per algorithm on the {dim}D cases (n = {n}), "
                        "ordered by final rank; box = quartiles, whiskers 1.5 IQR, dots "
                        "= cases (Fig. 3" + letter + ").",
                    ),
                    lambda gsub=gsub, dim=dim, n=n, group=group: (
                        F.plot_case_scores(
                            gsub, order, ranks, f"{dim}D cases (n = {n})", seed, group
                        ),
                        gsub,
                    ),
                )
            )

    runner_names = ", ".join(m.name for m in REGISTRY.values() if m.source == "runner")
    runtime = runtimes[0] if runtimes else None
    if runtime is None:
        report.notes.append(f"No {runner_names} metric in results.csv: runtime figures omitted.")
    elif accuracy:
        y = accuracy[0]
        size = next((m for m in accuracy[1:] if m.bounds is not None), None)
        shown = [y] + ([size] if size is not None else []) + [runtime]
        for dim, letter in ((2, "c"), (3, "d")):
            sub = results[results["dim"] == dim]
            if sub.empty:
                continue
            means = sub.groupby(["algorithm", "metric"])["value"].mean().unstack("metric")
            summ = pd.DataFrame({"algorithm": order, "final_rank": [ranks[a] for a in order]})
            for m in shown:
                summ[m.name] = (
                    summ["algorithm"]
                    .map(means[m.name] if m.name in means.columns else {})
                    .astype(float)
                )
            area = f"; bubble area ∝ mean {size.name}" if size is not None else ""
            jobs.append(
                (
                    FigureEntry(
                        f"bubbles_{dim}d",
                        "Accuracy versus runtime",
                        f"Mean {y.name} versus mean runtime per case on the {dim}D cases"
                        f"{area}, numbers = final rank (Fig. 3" + letter + ").",
                    ),
                    lambda summ=summ, dim=dim, y=y, size=size: (
                        F.plot_bubbles(
                            summ,
                            f"Accuracy versus runtime, {dim}D cases",
                            x=runtime,
                            y=y,
                            size=size,
                        ),
                        summ,
                    ),
                )
            )

    mod_table = results[results["algorithm"].isin(top)][
        ["algorithm", "task", "case", "dim", "metric", "value"]
    ]
    acc = mod_table[mod_table["metric"].isin(acc_names)]
    if accuracy:
        jobs.append(
            (
                FigureEntry(
                    "modality_scores_top",
                    "Top algorithms per modality",
                    f"Case {_and(acc_names)} per modality of the top {len(top)} algorithms "
                    "(best three and baselines) (Fig. 3e).",
                ),
                lambda: (F.plot_modality_scores(acc, top, ranks, modalities, accuracy), acc),
            )
        )
    if runtime is not None:
        rt = mod_table[mod_table["metric"] == runtime.name]
        for dim, letter in ((3, "f"), (2, "g")):
            mods = [m for m in modalities if m in set(rt.loc[rt["dim"] == dim, "task"])]
            if not mods:
                continue
            sub = rt[rt["task"].isin(mods)]
            jobs.append(
                (
                    FigureEntry(
                        f"runtime_{dim}d_top",
                        "Top algorithms per modality",
                        f"Runtime per case ({runtime.unit}, log scale) of the top algorithms on "
                        f"the {dim}D modalities (Fig. 3{letter}).",
                    ),
                    lambda sub=sub, mods=mods, dim=dim: (
                        F.plot_modality_runtime(
                            sub, top, ranks, mods, f"Runtime per {dim}D modality", runtime
                        ),
                        sub,
                    ),
                )
            )

    jobs += _run_jobs(run, order, ranks, modalities, report)
    shown_metric = accuracy[0] if accuracy else None
    jobs += _example_job(run, top, ranks, modalities, report, shown_metric)
    jobs += _ranking_jobs(run, order, ranks, modalities, metrics, report)
    return jobs


def _run_jobs(
    run: RunData, order: list[str], ranks: dict[str, int], modalities: list[str], report: Report
) -> list[Job]:
    """Interactive runs: each per-run metric (DSC, NSD) per run, per algorithm and per
    modality (mean and 95 % bootstrap band over cases)."""
    if not run.interactive:
        return []
    metrics = run_metrics(run.challenge)
    runs = run_count(run.scores, metrics)
    if not runs:
        return []  # the note is written with the failures-by-run table
    scores = run.scores[run.scores["algorithm"].isin(order)]
    seed = int(run.challenge.ranking.get("seed", 0))
    samples = 1000
    names = _and([m.name for m in metrics])
    band = f"band = 95 % bootstrap interval of the mean over cases ({samples} resamples)"
    per_alg = run_curves(scores, metrics, runs, ("algorithm",), samples, seed)
    per_mod = run_curves(scores, metrics, runs, ("algorithm", "modality"), samples, seed)
    return [
        (
            FigureEntry(
                "runs",
                "Interactive: per run",
                f"Mean {names} per run and algorithm (run 1 = the box prompt, run k = after "
                f"click k-1); {band}. Skipped box runs (no boxes), failed runs without a "
                "prediction and cases over the time budget count 0.",
            ),
            lambda: (F.plot_run_curves(per_alg, order, ranks, metrics, runs), per_alg),
        ),
        (
            FigureEntry(
                "runs_by_modality",
                "Interactive: per run",
                f"Mean {names} per run, one panel per modality (rows: metrics); {band}.",
            ),
            lambda: (
                F.plot_run_curves_by_modality(per_mod, order, ranks, metrics, modalities, runs),
                per_mod,
            ),
        ),
    ]


def _example_job(
    run: RunData,
    top: list[str],
    ranks: dict[str, int],
    modalities: list[str],
    report: Report,
    metric: Metric | None,
) -> list[Job]:
    """Fig. 3h; each panel names the best case value of ``metric`` (default: the
    registry's first scored metric)."""
    if run.cases is None or not {"input_path", "gt_path"} <= set(run.cases.columns):
        report.notes.append(
            "No pinned case list with input/GT paths: example segmentations omitted."
        )
        return []
    from evalkit.report.examples import load_examples

    if metric is None:
        metric = next(m for m in REGISTRY.values() if m.source == "scores")
    examples, data = load_examples(
        run.cases, run.scores, top, modalities, run.run_dir, run.challenge.contract, metric
    )
    if not examples:
        report.notes.append(
            "No example case had a readable input and GT: example segmentations omitted."
        )
        return []
    report.example_cases = [e["case"] for e in examples]
    missing = [m for m in modalities if m not in {e["modality"] for e in examples}]
    if missing:
        report.notes.append(f"No readable example case for: {', '.join(missing)}.")
    return [
        (
            FigureEntry(
                "examples",
                "Example segmentations",
                "One case per modality: box prompt (blue), reference (green overlay) and "
                "the contour of each top algorithm; 3D cases at the slice with the "
                "largest reference area (Fig. 3h).",
            ),
            lambda: (F.plot_examples(examples, top, ranks, metric), data),
        )
    ]


def _ranking_jobs(
    run: RunData,
    order: list[str],
    ranks: dict[str, int],
    modalities: list[str],
    metrics: list[str],
    report: Report,
) -> list[Job]:
    jobs: list[Job] = []
    task_ranking = run.table("task_ranking")
    tasks_present: list[tuple[str, str]] = []
    task_order: dict[tuple[str, str], list[str]] = {}
    if task_ranking is not None:
        pos = {a: i for i, a in enumerate(order)}
        for m in metrics:
            for t in modalities:
                tr = task_ranking[(task_ranking["task"] == t) & (task_ranking["metric"] == m)]
                if tr.empty:
                    continue
                tr = tr.assign(_p=tr["algorithm"].map(pos)).sort_values(["rank", "_p"])
                tasks_present.append((t, m))
                task_order[(t, m)] = [a for a in tr["algorithm"] if a in pos]
        heat = task_ranking[["task", "metric", "algorithm", "score", "rank"]]
        jobs.append(
            (
                FigureEntry(
                    "rank_heatmap",
                    "Ranking",
                    "Rank of every algorithm in every ranking task (modality / "
                    "metric); columns in final-rank order.",
                ),
                lambda: (F.plot_rank_heatmap(heat, order, modalities, metrics, ranks), heat),
            )
        )
    else:
        report.notes.append(
            "ranking/task_ranking.csv not found: rank heatmap, significance "
            "maps and per-task blob plots omitted."
        )

    case_ranks = run.table("case_ranks")
    if case_ranks is not None and task_order:
        for m in metrics:
            tasks = [t for t, mm in tasks_present if mm == m]
            cr = case_ranks[(case_ranks["metric"] == m) & case_ranks["task"].isin(tasks)]
            if cr.empty:
                continue
            orders = {t: task_order[(t, m)] for t in tasks}
            jobs.append(
                (
                    FigureEntry(
                        f"case_rank_heatmap_{safe_name(m)}",
                        "Ranking",
                        f"Ranking heatmaps for {m} (challengeR): number of cases at "
                        "each per-case rank, per algorithm and modality.",
                    ),
                    lambda cr=cr, orders=orders, tasks=tasks, m=m: (
                        F.plot_case_rank_heatmaps(cr, orders, tasks, m, ranks),
                        cr,
                    ),
                )
            )
            jobs.append(
                (
                    FigureEntry(
                        f"podium_{safe_name(m)}",
                        "Ranking",
                        f"Podium plots for {m} (challengeR): each case's value at every algorithm's task-rank place, lines join a case; bars: how often each algorithm took per-case rank 1, 2, ...",
                    ),
                    lambda cr=cr, orders=orders, tasks=tasks, m=m: (
                        F.plot_podium(cr, orders, tasks, m, ranks),
                        cr,
                    ),
                )
            )
    elif case_ranks is None:
        report.notes.append("ranking/case_ranks.csv not found: per-case ranking heatmaps omitted.")

    boot = run.table("bootstrap_ranks")
    freq = run.table("bootstrap_rank_frequencies")
    if boot is not None and freq is not None:
        fb, ff = boot[boot["scope"] == "final"], freq[freq["scope"] == "final"]
        if not fb.empty:
            data = ff.merge(
                fb[["algorithm", "median_rank", "rank_lo", "rank_hi", "p_rank1"]],
                on="algorithm",
                how="left",
            )
            jobs.append(
                (
                    FigureEntry(
                        "blob_final",
                        "Ranking stability",
                        "Bootstrap distribution of the final rank: circle area ∝ "
                        "how often each rank occurred, × median, line 95 % interval.",
                    ),
                    lambda: (
                        F.plot_blob(ff, fb, order, ranks, "Final rank over bootstrap samples"),
                        data,
                    ),
                )
            )
        for m in metrics:
            tasks = [t for t, mm in tasks_present if mm == m]
            tb = boot[(boot["scope"] == "task") & (boot["metric"] == m)]
            tf = freq[(freq["scope"] == "task") & (freq["metric"] == m)]
            if not tasks or tb.empty:
                continue
            data = tf.merge(
                tb[["task", "algorithm", "median_rank", "rank_lo", "rank_hi", "p_rank1"]],
                on=["task", "algorithm"],
                how="left",
            )
            orders = {t: task_order[(t, m)] for t in tasks}
            jobs.append(
                (
                    FigureEntry(
                        f"blob_tasks_{safe_name(m)}",
                        "Ranking stability",
                        f"Bootstrap rank distribution per modality for {m}; "
                        "algorithms in that task's rank order, labelled by their "
                        "final rank.",
                    ),
                    lambda tf=tf, tb=tb, orders=orders, tasks=tasks, m=m, data=data: (
                        F.plot_blob_tasks(tf, tb, orders, tasks, m, ranks),
                        data,
                    ),
                )
            )
    else:
        report.notes.append("No bootstrap tables in ranking/: blob plots omitted.")

    tau = run.table("kendall_tau")
    if tau is not None and not tau.empty:
        tmetrics = [m for m in metrics if m in set(tau["metric"])]
        tt = [t for t in modalities if t in set(tau["task"])]
        jobs.append(
            (
                FigureEntry(
                    "kendall_tau",
                    "Ranking stability",
                    "Kendall's τ between each bootstrap ranking and the full-data "
                    "ranking, per task (1 = identical order).",
                ),
                lambda: (F.plot_kendall(tau, tt, tmetrics), tau),
            )
        )
    else:
        report.notes.append("ranking/kendall_tau.csv not found: Kendall's τ violins omitted.")

    sig = run.table("significance")
    if sig is not None and task_order:
        for m in metrics:
            tasks = [t for t, mm in tasks_present if mm == m]
            s = sig[(sig["metric"] == m) & sig["task"].isin(tasks)]
            if s.empty:
                continue
            orders = {t: task_order[(t, m)] for t in tasks}
            jobs.append(
                (
                    FigureEntry(
                        f"significance_{safe_name(m)}",
                        "Significance maps",
                        f"Significance maps per modality for {m}: red = row "
                        "algorithm significantly better than column algorithm "
                        "(one-sided Wilcoxon, Holm-adjusted); axes in task-rank "
                        "order, labelled by final rank.",
                    ),
                    lambda s=s, orders=orders, tasks=tasks, m=m: (
                        F.plot_significance(s, orders, tasks, m, ranks),
                        s,
                    ),
                )
            )
    elif sig is None:
        report.notes.append("ranking/significance.csv not found: significance maps omitted.")
    return jobs


def _write_subset_ranking(run: RunData, out: Path) -> None:
    """The subset's ranking tables beside its report (``<out>/ranking/*.csv``)."""
    from evalkit.ranking import RankingResult, write_ranking

    tables = {n: run.table(n) for n in RankingResult.__dataclass_fields__ if n != "meta"}
    tables["final_ranking"] = run.final_ranking
    freq = tables.get("bootstrap_rank_frequencies")
    if freq is not None:
        tables["bootstrap_rank_frequencies"] = freq.drop(columns="share", errors="ignore")
    write_ranking(RankingResult(**tables, meta=run.ranking_meta or {}), out)


def _draw_case(
    row: dict,
    run: RunData,
    order: list[str],
    ranks: dict[str, int],
    scored: list[Metric],
    limits: PageLimits,
    img_dir: Path,
) -> tuple[str | None, str]:
    """The picture of one case page: ``(png file name, "")`` or ``(None, why not)``."""
    from evalkit.report.examples import load_case_view

    case = str(row["case"])
    metric = scored[0] if scored else REGISTRY["DSC"]
    score = {}
    if not run.scores.empty and metric.column in run.scores.columns:
        s = run.scores[run.scores["case"] == case]
        score = dict(zip(s["algorithm"], s[metric.column].astype(float)))
    view, why = load_case_view(
        row, order, run.run_dir, run.challenge.contract, score, limits.max_image_input_bytes
    )
    if view is None:
        return None, why
    fig = F.plot_case(view, order, ranks, metric)
    name = f"{P.page_stem(case)}.png"
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(img_dir / name, dpi=CASE_DPI)
    return name, ""


def _draw_runs(
    row: dict,
    algs: list[str],
    run: RunData,
    ranks: dict[str, int],
    limits: PageLimits,
    img_dir: Path,
) -> tuple[str | None, str]:
    """Interactive runs: the per-run picture of one case page, ``(png name, "")`` or
    ``(None, why not)``."""
    from evalkit.report.examples import load_run_view

    case = str(row["case"])
    it = run.iterations
    mine = it[it["case"] == case] if not it.empty else it
    runs = {a: P.run_info(mine[mine["algorithm"] == a]) for a in algs} if not it.empty else {}
    runs = {a: r for a, r in runs.items() if r}
    if not runs:
        return None, "no runs recorded for this case"
    n_runs = max(
        run_count(run.scores, run_metrics(run.challenge)), max(max(r) for r in runs.values())
    )
    view, why = load_run_view(
        row,
        [a for a in algs if a in runs],
        run.run_dir,
        run.challenge.contract,
        runs,
        n_runs,
        limits.max_image_input_bytes,
    )
    if view is None:
        return None, why
    fig = F.plot_runs(view, algs, ranks)
    name = f"{P.page_stem(case)}.runs.png"
    with matplotlib.rc_context({"text.parse_math": False}):
        F.finish(fig)
        fig.savefig(img_dir / name, dpi=CASE_DPI)
    return name, ""
