"""Ranking with challengeR semantics: long results table -> per-task rankings,
consensus (final) ranking, Wilcoxon significance maps, bootstrap stability.

See ``shared/spec/ranking.md`` and ``docs/design.md`` (Ranking outputs).

>>> from evalkit.config import load_challenge
>>> result = rank_results(results_df, load_challenge().ranking)   # doctest: +SKIP
>>> write_ranking(result, "out/ranking")                          # doctest: +SKIP
"""

from evalkit.ranking.output import write_ranking
from evalkit.ranking.pipeline import (
    RankingResult,
    bootstrap_ranking,
    rank_results,
    significance,
)
from evalkit.ranking.schemes import MissingPolicyError
from evalkit.ranking.settings import RankingConfigError, parse_settings
from evalkit.ranking.table import RankingInputError

__all__ = [
    "MissingPolicyError",
    "RankingConfigError",
    "RankingInputError",
    "RankingResult",
    "bootstrap_ranking",
    "parse_settings",
    "rank_results",
    "significance",
    "write_ranking",
]
