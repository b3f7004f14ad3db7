"""The self-contained ``index.html``: inline CSS, figures referenced beside the page
(``figures/*.png``), no network. Every text that comes from a run (names, logs,
reasons, configuration) is HTML-escaped.

A tiny inline script counts images that failed to load (``naturalWidth == 0``) after
the page's load event and writes the counts into ``data-broken-images`` and
``data-images`` attributes of ``<body>`` (tests read them back from a headless
browser); it also lists broken files in a visible warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from evalkit.report.pages import PageLimits, algorithm_href, case_href

if TYPE_CHECKING:
    from evalkit.report.build import Report
    from evalkit.report.inputs import RunData

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table.board{border-collapse:collapse;font-size:.82em;margin:.5em 0 1.2em}
table.board th,table.board td{border:1px solid #ddd;padding:.2em .45em;text-align:right;white-space:nowrap}
table.board th{background:#f3f3f3;position:sticky;top:0}
table.board td:nth-child(2){text-align:left}
table.cells th,table.cells td{text-align:left} table.cells td.n{text-align:right}
table.cells td:last-child{white-space:normal} tr.failed td{background:#fdecea}
.scroll{overflow-x:auto}
figure{margin:1em 0 2em} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em;max-height:28em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;margin:.3em 0}
.broken{background:#fdecea;border-left:4px solid #c0392b;padding:.4em .8em}
details{margin:.5em 0} summary{cursor:pointer;font-weight:600}
.links{font-size:.8em}
"""

CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, broken = [];
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) broken.push(imgs[i].getAttribute('src'));
  }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-broken-images', String(broken.length));
  if (broken.length) {
    var div = document.createElement('div');
    div.className = 'broken';
    div.textContent = 'Missing images: ' + broken.join(', ');
    document.body.insertBefore(div, document.body.firstChild);
  }
});
"""


def page(title: str, body: str, script: str = "") -> str:
    """A complete HTML document with the inline stylesheet."""
    js = f"<script>{script}</script>" if script else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style>{js}</head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def linked_table(
    df: pd.DataFrame, links: dict[str, Callable[[str], str | None]], prefix: str = ""
) -> str:
    """``df`` as an HTML table (class ``board``), every cell escaped; a cell of a column
    in ``links`` becomes a link to ``prefix + links[column](value)`` (no link when that
    returns ``None`` or the cell is empty)."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    rows = []
    for values in df.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(df.columns, values):
            text = "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            href = links[col](str(v)) if col in links and text not in ("", "–") else None
            cell = escape(text)
            cells.append(
                f'<td><a href="{escape(prefix + href)}">{cell}</a></td>'
                if href
                else f"<td>{cell}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="board"><tr>{head}</tr>' + "".join(rows) + "</table>"


def _table(df: pd.DataFrame) -> str:
    return (
        '<div class="scroll">'
        + df.to_html(index=False, escape=True, classes="board", border=0, na_rep="–")
        + "</div>"
    )


def _json_block(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, default=str))}</pre>"


def _figures(report: Report) -> str:
    parts, section = [], None
    for f in report.figures:
        if f.section != section:
            section = f.section
            parts.append(f"<h3>{escape(section)}</h3>")
        parts.append(_figure(f, report))
    return "\n".join(parts)


def _figure(f, report: Report | None = None) -> str:
    src = f"figures/{escape(f.name)}"
    extra = ""
    if f.name == "examples" and report is not None and report.example_cases:
        extra = (
            " Case pages: "
            + " · ".join(
                f'<a href="{escape(case_href(c))}">{escape(c)}</a>' for c in report.example_cases
            )
            + "."
        )
    return (
        f'<figure id="fig-{escape(f.name)}"><img src="{src}.png" alt="{escape(f.caption)}" '
        f'loading="eager"><figcaption>{escape(f.caption)} <span class="links">'
        f'[<a href="{src}.svg">SVG</a> · <a href="{src}.csv">data (CSV)</a>]</span>'
        f"{extra}</figcaption></figure>"
    )


def _case_pages(selected: pd.DataFrame, limits: PageLimits, report: Report) -> str:
    n = len(selected)
    items = linked_table(selected, {"case": case_href})
    return (
        f"<p>{escape(limits.rule())} This report has {n} case pages "
        f"({report.pages.get('case_images', 0)} with pictures). Every algorithm has a page "
        "(its name in the leaderboard links to it).</p>"
        f"<details{' open' if n <= 30 else ''}><summary>{n} case pages</summary>"
        f'<div class="scroll">{items}</div></details>'
    )


def _failures(details: pd.DataFrame, board: pd.DataFrame, paged: set[str] | None = None) -> str:
    if details.empty:
        return "<p>No failed cases.</p>"
    parts = []
    is_open = " open" if len(details) <= 50 else ""
    for alg in board["algorithm"]:
        d = details[details["algorithm"] == alg]
        if d.empty:
            continue
        counts = ", ".join(f"{s}: {n}" for s, n in d["status"].value_counts().items())
        parts.append(
            f"<details{is_open}><summary>{escape(str(alg))}: {len(d)} failed ({escape(counts)})"
            f'</summary><div class="scroll">'
            + linked_table(
                d.drop(columns=["algorithm"]),
                {"case": lambda c: case_href(c) if paged is None or c in paged else None},
            )
            + "</div></details>"
        )
    return "\n".join(parts)


def _iteration_failures(table: pd.DataFrame | None) -> list[str]:
    """Interactive runs: the failures-by-run table (``failures_by_iteration.csv``)."""
    if table is None:
        return []
    shown = table.astype({c: str for c in table.columns})
    n = len(shown)
    return [
        '<h3 id="failures-by-run">Failures by run (interactive protocol)</h3>',
        (
            "<p>Per algorithm and run (1 = the box, k = after click k-1): cases with that run, "
            "runs per status (<i>skipped</i>: no boxes, the box run scores 0; <i>not_run</i>: "
            "the case ended earlier), <i>stale</i>: runs scored with an earlier run's "
            "prediction (official rule: the outputs folder is kept after a failed run), "
            "<i>over_budget</i>: cases whose runs passed the time budget at this run (the case "
            'scores 0). <a href="failures_by_iteration.csv">CSV</a>.</p>'
        ),
        (
            f"<details{' open' if n <= 60 else ''}><summary>{n} rows</summary>"
            f'<div class="scroll">{linked_table(shown, {"algorithm": algorithm_href})}</div>'
            "</details>"
        ),
    ]


def _images(run: RunData, order: list[str]) -> str:
    rows = []
    for alg in order:
        rec = run.images.get(alg, {})
        rows.append(
            {
                "algorithm": alg,
                "reference": rec.get("reference", ""),
                "image_id": rec.get("image_id", ""),
                "tarball_sha256": rec.get("tarball_sha256", ""),
                "size_bytes": rec.get("size_bytes", ""),
                "architecture": rec.get("architecture", ""),
            }
        )
    return _table(pd.DataFrame(rows))


def index_page(
    run: RunData,
    report: Report,
    tables_html: list[str],
    details: pd.DataFrame,
    board: pd.DataFrame,
    selected: pd.DataFrame | None = None,
    limits: PageLimits | None = None,
) -> str:
    """The report page: leaderboard, figures with captions, failures, case pages,
    provenance. ``selected``: the cases with a page (``case, why``)."""
    order = list(board["algorithm"])
    meta = run.run_meta or {}
    title = run.challenge.data["challenge"].get("title", run.challenge.name)
    n_cases = run.results["case"].nunique()
    head = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Run <code>{escape(run.run_dir.name)}</code>: {len(order)} algorithms, "
        f"{n_cases} cases, {len(run.modalities)} modalities"
        + (f", created {escape(str(meta.get('created')))}" if meta.get("created") else "")
        + '. Tables: <a href="leaderboard.csv">CSV</a> · <a href="leaderboard.md">Markdown'
        '</a> · <a href="leaderboard.html">HTML</a> · <a href="failures.csv">failures</a>'
        ".</p>",
    ]
    notes = "".join(f'<div class="note">{escape(n)}</div>' for n in report.notes)
    if report.subset:
        notes = f'<div class="note"><b>{escape(report.subset)}</b></div>' + notes
    paged = set(selected["case"]) if selected is not None else None
    ranking_meta = run.ranking_meta or {}
    # the seed the ranking actually used wins over the configured one
    seed = ranking_meta.get("seed", meta.get("seed", run.challenge.ranking.get("seed")))
    boot_b = ranking_meta.get("B", meta.get("bootstrap_samples", "–"))
    scheme = ranking_meta.get("scheme", run.challenge.ranking.get("scheme"))
    prov = [
        (
            f"<p>Seed: <code>{escape(str(seed))}</code>; bootstrap samples: "
            f"<code>{escape(str(boot_b))}</code>; ranking scheme: "
            f"<code>{escape(str(scheme))}</code>.</p>"
        ),
        "<h3>Submitted images</h3>",
        _images(run, order),
        "<h3>Versions</h3>",
        _json_block(meta.get("versions", {})),
        "<h3>Ranking settings</h3>",
        _json_block(ranking_meta) if ranking_meta else "<p>ranking_meta.json not found.</p>",
        "<h3>Commands</h3>",
        _json_block(meta.get("invocations", meta.get("command", []))),
        "<h3>Challenge configuration (challenge.toml)</h3>",
        f"<pre>{escape(run.challenge_toml or run.challenge.to_toml())}</pre>",
    ]
    body = "\n".join(
        [
            *head,
            notes,
            '<h2 id="leaderboard">Leaderboard</h2>',
            (
                "<p>mean_rank = mean over ranking tasks (modality × metric) of the task rank; the 95 % "
                "rank interval and P(rank 1) come from the bootstrap of the final rank; metric columns "
                "are means per case; runtime in seconds; failed_* count cases by status. An "
                "algorithm's name links to its page; the last column, <i>lowest case</i>, "
                'links to the page of its lowest-scoring case (<a href="#cases">all case '
                "pages</a>).</p>"
            ),
            *[
                f'<div class="scroll">{t}</div>' if t.startswith("<table") else t
                for t in tables_html
            ],
            '<h2 id="figures">Figures</h2>',
            _figures(report),
            '<h2 id="failures">Failures</h2>',
            "<p>Failed cases per algorithm: status, reason and the last line of the case log.</p>",
            _failures(details, board, paged),
            *_iteration_failures(report.iteration_failures),
            *(
                ['<h2 id="cases">Case pages</h2>', _case_pages(selected, limits, report)]
                if selected is not None and limits is not None
                else []
            ),
            '<h2 id="provenance">Configuration, images, versions</h2>',
            *prov,
        ]
    )
    return page(f"{run.challenge.name}: results", body, CHECK_SCRIPT)
