"""The columns of the ranking's input and output tables, defined once.

The ranking builds its tables in these column orders (:mod:`evalkit.ranking.pipeline`),
writes them under these names (:mod:`evalkit.ranking.output`) and the report reads
them by these names and columns (:mod:`evalkit.report.inputs`). ``docs/design.md``
("Ranking outputs") lists the same tables for readers; a unit test parses that list
and checks it against this module, so neither can drift.
"""

from __future__ import annotations

import pandas as pd

# ``results.csv``, the ranking input: one row per (task, case, algorithm, metric)
RESULTS_COLUMNS: tuple[str, ...] = ("task", "case", "algorithm", "metric", "value")
RESULTS_KEYS: tuple[str, ...] = RESULTS_COLUMNS[:-1]

# output table (file stem of ``<name>.csv``) -> its columns, in the order written
TABLES: dict[str, tuple[str, ...]] = {
    "task_ranking": ("task", "metric", "algorithm", "score", "rank", "n_cases", "n_missing"),
    "final_ranking": ("algorithm", "consensus_score", "final_rank"),
    "case_ranks": ("task", "metric", "case", "algorithm", "value", "rank"),
    "significance": (
        "task",
        "metric",
        "algorithm",
        "other",
        "p_raw",
        "p_holm",
        "significant",
        "median_diff",
        "n_pairs",
    ),
    "bootstrap_ranks": (
        "scope",
        "task",
        "metric",
        "algorithm",
        "median_rank",
        "rank_lo",
        "rank_hi",
        "p_rank1",
        "full_rank",
    ),
    "bootstrap_rank_frequencies": ("scope", "task", "metric", "algorithm", "rank", "frequency"),
    "kendall_tau": ("task", "metric", "sample", "tau"),
    "kendall_tau_summary": ("task", "metric", "mean", "median", "q25", "q75"),
}

META_FILE = "ranking_meta.json"


def conform(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with exactly the columns of ``TABLES[name]``, in that order.

    A column missing from ``table`` or one it has beyond the schema is a
    programming error in the ranking (``ValueError`` naming both lists), not an
    input problem."""
    want = TABLES[name]
    if set(table.columns) != set(want) or len(table.columns) != len(want):
        raise ValueError(
            f"ranking table {name}: columns {list(table.columns)} do not match the "
            f"schema {list(want)} (evalkit/ranking/schemas.py)."
        )
    return table if tuple(table.columns) == want else table[list(want)]
