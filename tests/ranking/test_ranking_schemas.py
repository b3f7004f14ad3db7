"""The ranking's table schemas are defined once (evalkit/ranking/schemas.py): the
tables the pipeline builds, the files it writes, the columns the report requires and
the listing in docs/design.md all agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ranking_helpers import config

from evalkit.ranking import rank_results, schemas, write_ranking
from evalkit.ranking.pipeline import RankingResult
from evalkit.report import inputs

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def _section(text: str, heading: str) -> str:
    """The paragraph of design.md that starts with ``**<heading>**``."""
    start = text.index(f"**{heading}**")
    end = text.find("\n\n**", start + 1)
    return text[start : end if end > 0 else None]


def _columns(listing: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in listing.split(","))


def design_tables() -> dict[str, tuple[str, ...]]:
    """``{stem: columns}`` of every ``- `stem.csv`: `a, b, c` `` in "Ranking outputs"."""
    section = _section(DESIGN.read_text(), "Ranking outputs")
    return {m[1]: _columns(m[2]) for m in re.finditer(r"`(\w+)\.csv`: `([^`]+)`", section)}


def test_design_md_lists_exactly_the_schema_tables_and_columns():
    listed = design_tables()
    assert list(listed) == list(schemas.TABLES), "table names or order differ from schemas.TABLES"
    for name, cols in schemas.TABLES.items():
        assert listed[name] == cols, f"design.md {name}.csv: {listed[name]} != schema {cols}"
    assert f"`{schemas.META_FILE}`" in _section(DESIGN.read_text(), "Ranking outputs")


def test_design_md_results_columns_are_the_schema():
    section = _section(DESIGN.read_text(), "Results")
    found = re.search(r"`results\.csv`:\s*`([^`]+)`", section)
    assert found and _columns(found[1]) == schemas.RESULTS_COLUMNS


def test_the_doc_parser_sees_a_drift():
    """The check can fail: a design.md with a column renamed does not match."""
    section = _section(DESIGN.read_text(), "Ranking outputs").replace("p_holm", "p_adj")
    parsed = {m[1]: _columns(m[2]) for m in re.finditer(r"`(\w+)\.csv`: `([^`]+)`", section)}
    assert parsed["significance"] != schemas.TABLES["significance"]


def _results(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (task, f"{task}_{c}", alg, metric, float(rng.uniform()))
        for task in ("CT", "US")
        for c in range(6)
        for alg in ("a", "b", "c")
        for metric in ("DSC", "NSD", "RunningTime")
    ]
    return pd.DataFrame(rows, columns=list(schemas.RESULTS_COLUMNS))


def test_pipeline_tables_and_files_follow_the_schema(tmp_path):
    result = rank_results(_results(), config(bootstrap_samples=5))
    assert RankingResult.TABLES == tuple(schemas.TABLES)
    for name, cols in schemas.TABLES.items():
        assert tuple(getattr(result, name).columns) == cols, name
    written = write_ranking(result, tmp_path)
    assert sorted(p.name for p in written) == sorted(
        [f"{n}.csv" for n in schemas.TABLES] + [schemas.META_FILE]
    )
    for name, cols in schemas.TABLES.items():
        assert tuple(pd.read_csv(tmp_path / f"{name}.csv").columns) == cols, name


def test_report_requires_the_schema_columns():
    assert tuple(inputs.RESULTS_COLUMNS) == schemas.RESULTS_COLUMNS
    assert tuple(inputs.FINAL_COLUMNS) == schemas.TABLES["final_ranking"]
    assert {k: tuple(v) for k, v in inputs.RANKING_FILES.items()} == {
        k: v for k, v in schemas.TABLES.items() if k != "final_ranking"
    }


def test_conform_orders_columns_and_refuses_a_mismatch():
    df = pd.DataFrame({"final_rank": [1], "algorithm": ["a"], "consensus_score": [1.0]})
    assert list(schemas.conform("final_ranking", df).columns) == list(
        schemas.TABLES["final_ranking"]
    )
    with pytest.raises(ValueError, match="final_ranking"):
        schemas.conform("final_ranking", df.drop(columns="final_rank"))
    with pytest.raises(ValueError, match="schema"):
        schemas.conform("final_ranking", df.assign(extra=1))
