"""A report restricted to some algorithms and tasks (``evalkit report --algorithms a,b
--tasks CT,MR``), re-ranked on the subset with the run's own ranking code and settings.

:func:`subset_run` filters ``results.csv`` to the chosen algorithms and tasks, ranks
the filtered table with :func:`evalkit.ranking.rank_results` (the run's ``[ranking]``
settings: same scheme, ties, seed and bootstrap samples) and replaces every ranking
table of the :class:`~evalkit.report.inputs.RunData` with the subset's. Scores,
journals, image records and the case list are filtered to match. Ranks therefore
differ from the full run's: the page says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from evalkit.ranking import rank_results, schemas
from evalkit.report.inputs import ReportInputError, RunData, prepare_ranking_tables


def _pick(asked: Sequence[str] | None, known: list[str], what: str) -> list[str] | None:
    if not asked:
        return None
    unknown = [a for a in asked if a not in known]
    if unknown:
        raise ReportInputError(
            f"unknown {what}: {', '.join(unknown)}; the run has: {', '.join(known)}."
        )
    return list(dict.fromkeys(asked))


def subset_label(algorithms: list[str] | None, tasks: list[str] | None) -> str:
    """A short folder name for a subset report: ``subset-<10 hex digits>``."""
    key = "|".join(algorithms or ["*"]) + "#" + "|".join(tasks or ["*"])
    return "subset-" + hashlib.sha1(key.encode()).hexdigest()[:10]


def subset_run(
    run: RunData,
    algorithms: Sequence[str] | None,
    tasks: Sequence[str] | None,
    *,
    progress: bool = False,
) -> tuple[RunData, str]:
    """``run`` restricted to ``algorithms`` and ``tasks`` (``None``/empty: all) and
    re-ranked; returns the new data and a sentence for the page.

    Raises :class:`~evalkit.report.inputs.ReportInputError` naming the known
    algorithms or tasks when one asked for is not in ``results.csv``.
    """
    res = run.results
    known_algs = list(dict.fromkeys(run.algorithms + sorted(set(res["algorithm"]))))
    algs = _pick(algorithms, known_algs, "algorithm(s)")
    tks = _pick(tasks, run.modalities, "task(s)")
    keep = pd.Series(True, index=res.index)
    if algs is not None:
        keep &= res["algorithm"].isin(algs)
    if tks is not None:
        keep &= res["task"].isin(tks)
    sub = res[keep].reset_index(drop=True)
    if sub["algorithm"].nunique() < 1:
        raise ReportInputError("the subset holds no results.")
    ranked = rank_results(
        sub[list(schemas.RESULTS_COLUMNS)], run.challenge.ranking, progress=progress
    )
    tables = {name: getattr(ranked, name) for name in schemas.TABLES}
    final = tables.pop("final_ranking").copy()
    final["algorithm"] = final["algorithm"].astype(str)
    ranking = prepare_ranking_tables(tables)
    names = sorted(set(sub["algorithm"]))
    cases = set(sub["case"])
    scores = run.scores
    if not scores.empty:
        scores = scores[scores["algorithm"].isin(names) & scores["case"].isin(cases)]
    journals = {
        a: j[j["case"].astype(str).isin(cases)] for a, j in run.journals.items() if a in names
    }
    iterations = run.iterations
    if not iterations.empty:
        iterations = iterations[
            iterations["algorithm"].isin(names) & iterations["case"].isin(cases)
        ]
    case_list = run.cases
    if case_list is not None:
        case_list = case_list[case_list["case"].isin(cases)]
    shown_algs = ", ".join(algs) if algs is not None else "all"
    shown_tasks = ", ".join(tks) if tks is not None else "all"
    note = (
        f"Subset report: algorithms {shown_algs}; tasks {shown_tasks}. The ranks on this "
        "page were recomputed on the subset with the run's ranking code and settings "
        "(evalkit.ranking.rank_results); they differ from the full run's ranks."
    )
    data = replace(
        run,
        results=sub,
        final_ranking=final,
        ranking=ranking,
        ranking_meta=dict(ranked.meta, subset={"algorithms": algs, "tasks": tks}),
        scores=scores,
        journals=journals,
        iterations=iterations,
        images={a: v for a, v in run.images.items() if a in names},
        cases=case_list,
        notes=list(run.notes),
    )
    return data, note
