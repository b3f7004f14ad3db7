"""Case pages (``cases/<case>.html``) and algorithm pages (``algorithms/<name>.html``).

Which cases get a page (:func:`select_case_pages`, bounded by :class:`PageLimits`):

1. the example cases of Fig. 3h;
2. every case on which a shown algorithm did not finish ``ok`` (runner or metrics status);
3. the ``lowest_per_algorithm`` lowest-scoring cases of every algorithm on the first
   scored metric (missing values count as lowest), which is also each algorithm's
   "lowest case" link in the leaderboard;

in that order, each case once, at most ``max_case_pages`` pages. Of those, the first
``max_case_images`` get a picture (:func:`evalkit.report.figures.plot_case`), and only
when input + reference are at most ``max_image_input_bytes`` on disk. A case without a
page is still named in the tables, without a link. The rule is printed on the index
page. At 4,414 cases x 23 algorithms the defaults bound the pages to 500 (each holds
23 table rows and 23 log tails of at most 12 lines x 200 characters, < 100 kB) and the
pictures to 60 PNGs (each < 300 kB).

Interactive runs (``[protocol] kind = "interactive"``): a case page also lists every
algorithm's runs (status, the prediction scored, DSC, NSD, time) and, within the same
``max_case_images``, a picture of one panel per run for at most ``max_run_rows``
algorithms (:func:`run_row_algorithms`; :func:`evalkit.report.figures.plot_runs`).

Every text from a run (names, reasons, logs) is HTML-escaped; log tails are read by
:func:`evalkit.report.inputs.log_tail` (bounded, no symlinks, made printable).
File names come from :func:`page_stem` (case and algorithm names come from files).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from evalkit.metrics.registry import REGISTRY, Metric
from evalkit.report import html as H
from evalkit.report.inputs import log_tail, read_run_records
from evalkit.runfolder import RunFolder, RunFolderError
from evalkit.text import printable

if TYPE_CHECKING:
    from evalkit.report.inputs import RunData

PAGE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
OK = "ok"


@dataclass(frozen=True)
class PageLimits:
    """Bounds of the case pages (module docstring gives the rule)."""

    lowest_per_algorithm: int = 3
    max_case_pages: int = 500
    max_case_images: int = 60
    max_image_input_bytes: int = 64_000_000
    slowest_per_algorithm: int = 10  # rows of an algorithm page's "slowest cases"
    log_lines: int = 12
    max_run_rows: int = 6  # interactive runs: algorithms with per-run panels on a case page

    def rule(self) -> str:
        """The selection rule in one paragraph (index page and docs/design.md)."""
        return (
            f"A case gets a page when it is an example case (Fig. 3h), when any algorithm "
            f"failed on it, or when it is one of the {self.lowest_per_algorithm} lowest-"
            f"scoring cases of an algorithm (in that order, at most {self.max_case_pages} "
            f"pages). The first {self.max_case_images} pages show the case's slices, when "
            f"its input and reference are at most {self.max_image_input_bytes:,} bytes."
        )

    def run_rule(self) -> str:
        """Interactive runs: which algorithms get per-run panels on a case page."""
        return (
            f"Per-run panels for at most {self.max_run_rows} algorithms: those the page was "
            "made for (failed or lowest-scoring), then the others by final rank; the table "
            "lists every algorithm's runs."
        )


def page_stem(name: str) -> str:
    """A file stem for ``name``: the name itself when it is already safe (letters, digits,
    ``._-``, starting with a letter or digit, at most 100 characters), else a cleaned
    prefix plus 8 hex digits of its SHA-1 (distinct names never share a stem)."""
    name = str(name)
    if PAGE_STEM.fullmatch(name):
        return name
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "x"
    return f"{clean}-{hashlib.sha1(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def case_href(case: str, prefix: str = "") -> str:
    return f"{prefix}cases/{page_stem(case)}.html"


def algorithm_href(alg: str, prefix: str = "") -> str:
    return f"{prefix}algorithms/{page_stem(alg)}.html"


def lowest_cases(results: pd.DataFrame, metric: Metric, n: int) -> pd.DataFrame:
    """The ``n`` lowest-scoring cases of every algorithm on ``metric``: ``algorithm,
    case, metric, value`` (worst first; missing values count as worst; ties by case name)."""
    sub = results[results["metric"] == metric.name][["algorithm", "case", "metric", "value"]]
    if sub.empty or n <= 0:
        return pd.DataFrame(columns=["algorithm", "case", "metric", "value"])
    key = sub["value"] if metric.larger_is_better else -sub["value"]
    sub = sub.assign(_k=key.fillna(-math.inf)).sort_values(["algorithm", "_k", "case"])
    return sub.groupby("algorithm", sort=False).head(n).drop(columns="_k")


def select_case_pages(
    examples: list[str], failures: pd.DataFrame, lowest: pd.DataFrame, max_pages: int
) -> pd.DataFrame:
    """Cases that get a page, in priority order: ``case, why`` (module docstring).

    ``failures``: ``algorithm, case`` of failed cases; ``lowest``: ``algorithm, case``
    of :func:`lowest_cases`. ``why`` lists every reason a case was picked.
    """
    why: dict[str, list[str]] = {}
    for case in examples:
        why.setdefault(str(case), []).append("example")
    for alg, case in zip(failures["algorithm"], failures["case"]):
        why.setdefault(str(case), []).append(f"failed: {alg}")
    for alg, case in zip(lowest["algorithm"], lowest["case"]):
        why.setdefault(str(case), []).append(f"lowest: {alg}")
    rows = [{"case": c, "why": "; ".join(dict.fromkeys(w))} for c, w in why.items()]
    return pd.DataFrame(rows[: max(0, max_pages)], columns=["case", "why"])


# --------------------------------------------------------------------- page parts


def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–" if value is None or math.isnan(value) else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _text(value: object, n: int = 300) -> str:
    """Participant text: printable, cut to ``n`` characters, HTML-escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    t = printable(str(value))
    return escape(t[:n] + ("…" if len(t) > n else ""))


NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|–|inf|nan)")


def rows_table(head: list[str], rows: list[list[str]], failed: list[bool] | None = None) -> str:
    """An HTML table from already-escaped cell strings; numbers are right-aligned and
    rows flagged in ``failed`` tinted."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    flags = failed or [False] * len(rows)
    body = "".join(
        ('<tr class="failed">' if bad else "<tr>")
        + "".join(f'<td class="n">{c}</td>' if NUMBER.fullmatch(c) else f"<td>{c}</td>" for c in r)
        + "</tr>"
        for r, bad in zip(rows, flags)
    )
    return f'<div class="scroll"><table class="board cells"><tr>{th}</tr>{body}</table></div>'


def link(href: str | None, text: str) -> str:
    """``<a href>`` around already-escaped ``text``, or the text alone without a page."""
    return f'<a href="{escape(href)}">{text}</a>' if href else text


def run_info(rows: pd.DataFrame | None) -> dict[int, dict]:
    """One algorithm's run rows of one case (:attr:`RunData.iterations`) as run ``k`` ->
    ``status, scored_run, dsc, nsd, wall_s, reason`` (values ``None`` when missing)."""

    def num(v: object) -> float | None:
        return float(v) if v is not None and pd.notna(v) else None  # type: ignore[arg-type]

    out: dict[int, dict] = {}
    if rows is None or rows.empty:
        return out
    for r in rows.sort_values("iteration").to_dict("records"):
        reason = r.get("reason")
        out[int(r["iteration"])] = {
            "status": str(r["status"]),
            "scored_run": int(r["scored_run"]),
            "dsc": num(r.get("dsc")),
            "nsd": num(r.get("nsd")),
            "wall_s": num(r.get("wall_s")),
            "reason": reason if isinstance(reason, str) else "",
        }
    return out


class CaseLookup:
    """Per-(algorithm, case) rows of the scores tables and journals, and run records."""

    def __init__(self, run: RunData):
        self.run = run
        self.scores = (
            {(a, str(c)): r for (a, c), r in run.scores.set_index(["algorithm", "case"]).iterrows()}
            if not run.scores.empty
            else {}
        )
        self.journal = {
            (alg, str(r["case"])): r for alg, j in run.journals.items() for _, r in j.iterrows()
        }
        self._runs: dict[str, dict] = {}
        self.folder = RunFolder(run.run_dir)
        self.iterations: dict[tuple[str, str], pd.DataFrame] = {}
        if not run.iterations.empty:
            for (a, c), g in run.iterations.groupby(["algorithm", "case"], sort=False):
                self.iterations[(str(a), str(c))] = g.sort_values("iteration")

    def run_info(self, alg: str, case: str) -> dict[int, dict]:
        """Interactive runs: :func:`run_info` of ``alg`` on ``case``."""
        return run_info(self.iterations.get((alg, case)))

    def status(self, alg: str, case: str) -> tuple[str, str]:
        s, j = self.scores.get((alg, case)), self.journal.get((alg, case))
        for row in (s, j):
            if row is not None and pd.notna(row.get("status")):
                reason = row.get("reason")
                if (not isinstance(reason, str) or not reason) and j is not None:
                    reason = j.get("reason")
                return str(row["status"]), reason if isinstance(reason, str) else ""
        return "–", ""

    def wall(self, alg: str, case: str) -> float | None:
        j = self.journal.get((alg, case))
        v = None if j is None else j.get("wall_s")
        return float(v) if v is not None and pd.notna(v) else None

    def runs(self, alg: str) -> dict:
        if alg not in self._runs:
            try:
                self._runs[alg] = read_run_records(self.folder.submission(alg).journal)
            except RunFolderError:  # a name the run folder cannot hold has no journal
                self._runs[alg] = {}
        return self._runs[alg]

    def log(self, alg: str, case: str, lines: int) -> list[str]:
        try:
            path = self.folder.submission(alg).log(case)
        except RunFolderError:
            return []
        return log_tail(path, max_lines=lines)


def _label(name: str) -> str:
    """A metric's axis label (name and unit) when the registry knows it."""
    m = REGISTRY.get(name)
    return m.label if m is not None else name


def case_page(
    case: str,
    why: str,
    info: dict,
    order: list[str],
    ranks: dict[str, int],
    metrics: list[Metric],
    look: CaseLookup,
    image: str | None,
    image_note: str,
    limits: PageLimits,
    title: str,
    runs_image: str | None = None,
    runs_note: str = "",
) -> str:
    """The HTML of one case page (``info``: ``modality, dim`` of the case). Interactive
    runs add a table of every run and the per-run picture ``runs_image``."""
    rows, failed = [], []
    for alg in order:
        status, reason = look.status(alg, case)
        failed.append(status not in (OK, "–"))
        s = look.scores.get((alg, case))
        vals = [
            _fmt(float(s[m.column])) if s is not None and pd.notna(s.get(m.column)) else "–"
            for m in metrics
        ]
        wall = look.wall(alg, case)
        rows.append(
            [
                str(ranks.get(alg, "")),
                link(algorithm_href(alg, "../"), escape(alg)),
                escape(status) if status == OK else f"<b>{escape(status)}</b>",
                *vals,
                "–" if wall is None else f"{wall:.2f}",
                _text(reason),
            ]
        )
    interactive = look.run.interactive
    time_head = "total time (s)" if interactive else "time (s)"
    head = ["final rank", "algorithm", "status", *[m.label for m in metrics], time_head, "reason"]
    parts = [
        f'<p><a href="../index.html">← report</a> · {escape(title)}</p>',
        f"<h1>Case {escape(case)}</h1>",
        (
            f"<p>{escape(str(info.get('modality', '')))}, {escape(str(info.get('dim', '')))}D; "
            f"page made because: {escape(why)}.</p>"
        ),
        "<h2>Every algorithm</h2>",
        rows_table(head, rows, failed),
        "<h2>Slices (final prediction)</h2>" if interactive else "<h2>Slices</h2>",
        (
            f'<figure><img src="img/{escape(image)}" alt="slices of {escape(case)}" '
            'loading="eager"><figcaption>Reference (green overlay), box prompts (blue) and '
            "each algorithm's contour (red) at the slice where that algorithm's error is "
            "largest; the first panel is the slice with the largest reference area."
            "</figcaption></figure>"
            if image
            else f'<p class="note">No picture: {escape(image_note)}.</p>'
        ),
    ]
    if interactive:
        parts += _runs_section(case, order, look, runs_image, runs_note, limits)
        iterations = []
    else:
        iterations = [
            (alg, look.runs(alg).get(case, [])) for alg in order if look.runs(alg).get(case)
        ]
    if iterations:
        irows = [
            [
                link(algorithm_href(alg, "../"), escape(alg)),
                str(r.iteration),
                str(r.attempt),
                escape(r.status),
                "–" if r.wall_s is None else f"{float(r.wall_s):.2f}",
                _text(r.reason),
            ]
            for alg, recs in iterations
            for r in recs
        ]
        parts += [
            "<h2>Iterations (interactive protocol)</h2>",
            rows_table(
                ["algorithm", "iteration", "attempt", "status", "time (s)", "reason"], irows
            ),
            (
                '<p class="note">Each run\'s clicks and contours are drawn for runs made under '
                'the interactive protocol (<code>[protocol] kind = "interactive"</code>).</p>'
            ),
        ]
    parts.append(f"<h2>Log tails (last {limits.log_lines} lines)</h2>")
    for alg in order:
        status, _ = look.status(alg, case)
        tail = look.log(alg, case, limits.log_lines)
        body = escape("\n".join(tail)) if tail else "(no log)"
        opened = " open" if status not in (OK, "–") else ""
        parts.append(
            f"<details{opened}><summary>{escape(alg)} ({escape(status)})</summary>"
            f"<pre>{body}</pre></details>"
        )
    return H.page(f"{case}: {title}", "\n".join(parts), H.CHECK_SCRIPT)


def _runs_section(
    case: str,
    order: list[str],
    look: CaseLookup,
    image: str | None,
    note: str,
    limits: PageLimits,
) -> list[str]:
    """Interactive runs: every algorithm's runs (status, the prediction scored, DSC,
    NSD, time, reason) and the per-run picture."""
    rows, failed = [], []
    for alg in order:
        for k, r in sorted(look.run_info(alg, case).items()):
            j = r["scored_run"]
            if j == k:
                scored = "own"
            elif j >= 1:
                scored = f"stale: scored run {j}'s prediction"
            else:
                scored = "none (scores 0)"
            failed.append(r["status"] not in (OK, "skipped"))
            rows.append(
                [
                    link(algorithm_href(alg, "../"), escape(alg)),
                    str(k),
                    escape(r["status"]) if r["status"] == OK else f"<b>{escape(r['status'])}</b>",
                    escape(scored),
                    _fmt(r["dsc"]) if r["dsc"] is not None else "–",
                    _fmt(r["nsd"]) if r["nsd"] is not None else "–",
                    "–" if r["wall_s"] is None else f"{r['wall_s']:.2f}",
                    _text(r["reason"]),
                ]
            )
    parts = ["<h2>Runs (interactive protocol)</h2>"]
    if rows:
        parts.append(
            rows_table(
                [
                    "algorithm",
                    "run",
                    "status",
                    "prediction scored",
                    "DSC",
                    "NSD",
                    "time (s)",
                    "reason",
                ],
                rows,
                failed,
            )
        )
    else:
        parts.append("<p>No run rows (scores/&lt;sub&gt;/iterations.csv) for this case.</p>")
    if image:
        parts.append(
            f'<figure><img src="img/{escape(image)}" alt="runs of {escape(case)}" '
            'loading="eager"><figcaption>Each run (1 = the box, k = after click k-1): '
            "reference (green), the prediction standing after the run (red), the box on "
            "run 1 (blue; its mid-slice rectangle, drawn on the slices of its z range) and "
            "the run's new clicks (foreground: gold plus, background: magenta cross); "
            "each panel at the slice of its first new click, else of its largest error. "
            f"{escape(limits.run_rule())}</figcaption></figure>"
        )
    else:
        parts.append(f'<p class="note">No per-run picture: {escape(note)}.</p>')
    return parts


def run_row_algorithms(why: str, order: list[str], n: int) -> list[str]:
    """The algorithms that get per-run panels on a case page: those named in ``why``
    (``"failed: a; lowest: b"``) first, then the others in ``order``; at most ``n``."""
    named = []
    for part in why.split("; "):
        _, sep, alg = part.partition(": ")
        if sep and alg in order and alg not in named:
            named.append(alg)
    return (named + [a for a in order if a not in named])[: max(0, n)]


def algorithm_page(
    alg: str,
    rank: int | None,
    results: pd.DataFrame,
    modalities: list[str],
    metric_names: list[str],
    look: CaseLookup,
    paged: set[str],
    lowest: pd.DataFrame,
    limits: PageLimits,
    title: str,
    runtime: str | None,
) -> str:
    """The HTML of one algorithm page: means per modality of every metric, failed cases,
    slowest and lowest-scoring cases (case names link to case pages where one exists)."""
    r = results[results["algorithm"] == alg]

    def case_cell(case: str) -> str:
        return link(case_href(case, "../") if case in paged else None, escape(case))

    means = r.groupby(["task", "metric"])["value"].mean()
    counts = r[r["metric"] == (metric_names[0] if metric_names else "")].groupby("task").size()
    fails_by_mod: dict[str, int] = {}
    fail_rows = []
    mod_of = dict(zip(r["case"], r["task"]))
    for case in sorted(set(r["case"])):
        status, reason = look.status(alg, case)
        if status not in (OK, "–"):
            fails_by_mod[mod_of.get(case, "")] = fails_by_mod.get(mod_of.get(case, ""), 0) + 1
            fail_rows.append([case_cell(case), escape(status), _text(reason)])
    mod_rows = [
        [escape(mod), str(int(counts.get(mod, 0))), str(fails_by_mod.get(mod, 0))]
        + [_fmt(means.get((mod, m), float("nan"))) for m in metric_names]
        for mod in modalities
        if mod in set(r["task"])
    ]
    parts = [
        f'<p><a href="../index.html">← report</a> · {escape(title)}</p>',
        f"<h1>{escape(alg)}</h1>",
        (
            f"<p>Final rank {escape(str(rank))}; {r['case'].nunique()} cases, "
            f"{len(fail_rows)} failed.</p>"
        ),
        "<h2>Per modality (means per case)</h2>",
        rows_table(["modality", "cases", "failed", *[_label(m) for m in metric_names]], mod_rows),
        f"<h2>Failed cases ({len(fail_rows)})</h2>",
        rows_table(["case", "status", "reason"], fail_rows) if fail_rows else "<p>None.</p>",
    ]
    if runtime is not None:
        rt = r[r["metric"] == runtime].sort_values("value", ascending=False, na_position="last")
        slow = [
            [case_cell(c), escape(t), _fmt(v, 2), escape(look.status(alg, c)[0])]
            for c, t, v in zip(rt["case"], rt["task"], rt["value"])
        ][: limits.slowest_per_algorithm]
        parts += [
            f"<h2>Slowest cases ({runtime}, s)</h2>",
            rows_table(["case", "modality", "time (s)", "status"], slow),
        ]
    low = lowest[lowest["algorithm"] == alg]
    if not low.empty:
        parts += [
            f"<h2>Lowest-scoring cases ({escape(str(low['metric'].iloc[0]))})</h2>",
            rows_table(
                ["case", escape(str(low["metric"].iloc[0]))],
                [[case_cell(c), _fmt(v)] for c, v in zip(low["case"], low["value"])],
            ),
        ]
    return H.page(f"{alg}: {title}", "\n".join(parts), H.CHECK_SCRIPT)


def write_pages(
    out: Path,
    run: RunData,
    results: pd.DataFrame,
    order: list[str],
    ranks: dict[str, int],
    modalities: list[str],
    metric_names: list[str],
    scored: list[Metric],
    selected: pd.DataFrame,
    lowest: pd.DataFrame,
    limits: PageLimits,
    runtime: str | None,
    draw_case,
    draw_runs=None,
) -> dict[str, int]:
    """Write every case and algorithm page; ``draw_case(case_row) -> png name | (None,
    why)`` makes a case picture, ``draw_runs(case_row, algorithms)`` (interactive runs)
    the per-run picture of those algorithms, within the same ``max_case_images``.
    Returns counts (``case_pages, case_images``, and ``run_images`` for interactive runs)."""
    title = run.challenge.name
    look = CaseLookup(run)
    (out / "cases" / "img").mkdir(parents=True, exist_ok=True)
    (out / "algorithms").mkdir(parents=True, exist_ok=True)
    info = {}
    if run.cases is not None:
        info = {str(c): r for c, r in run.cases.set_index("case").iterrows()}
    mods = dict(zip(results["case"], results["task"]))
    n_images = n_run_images = 0
    for i, (case, why) in enumerate(zip(selected["case"], selected["why"])):
        row = info.get(case)
        meta = {"modality": mods.get(case, ""), "dim": 3 if case.startswith("3D") else 2}
        if row is not None:
            meta = {"modality": row.get("modality", meta["modality"]), "dim": row.get("dim")}
        image, note = None, f"only the first {limits.max_case_images} case pages get pictures"
        runs_image, runs_note = None, note
        if i < limits.max_case_images:
            if row is None:
                note = runs_note = "the case is not in the pinned case list (cases.csv)"
            else:
                full = row.rename(None).to_dict() | {"case": case}
                image, note = draw_case(full)
                n_images += image is not None
                if draw_runs is not None and run.interactive:
                    algs = run_row_algorithms(why, order, limits.max_run_rows)
                    runs_image, runs_note = draw_runs(full, algs)
                    n_run_images += runs_image is not None
        html = case_page(
            case,
            why,
            meta,
            order,
            ranks,
            scored,
            look,
            image,
            note,
            limits,
            title,
            runs_image,
            runs_note,
        )
        (out / "cases" / f"{page_stem(case)}.html").write_text(html, encoding="utf-8")
    paged = set(selected["case"])
    for alg in order:
        html = algorithm_page(
            alg,
            ranks.get(alg),
            results,
            modalities,
            metric_names,
            look,
            paged,
            lowest,
            limits,
            title,
            runtime,
        )
        (out / "algorithms" / f"{page_stem(alg)}.html").write_text(html, encoding="utf-8")
    counts = {"case_pages": len(selected), "case_images": n_images}
    if run.interactive:
        counts["run_images"] = n_run_images
    return counts
