"""The ``[ranking]`` section of the challenge file, checked once and typed.

Keys (see ``evalkit/configs/cvpr24.toml``): ``scheme``, ``aggregate``,
``missing_value``, ``ties``, ``consensus``, ``alpha``, ``bootstrap_samples``,
``seed``, ``challenger_compat``, ``metrics`` (name -> "larger" | "smaller"),
``task_weights`` ("<task>/<metric>" -> weight).

``missing_value`` is ``"worst-rank"`` (challengeR's ``rankNA2``), ``"drop"``
(ignore missing values; not under rank-then-aggregate), a number that replaces
every missing value (under rank-then-aggregate before the per-case ranking, as
challengeR's ``as.challenge(na.treat = x)``), or a table metric -> one of those.

``aggregate`` applies to aggregate-then-rank (of the values) and to
rank-then-aggregate (of the per-case ranks: challengeR's ``rankThenAggregate(FUN =
median)``); under test-then-rank only the default ``"mean"`` is accepted, because
it would do nothing. ``ties`` is any method of R's ``rank``; ``"random"`` draws
from a generator seeded by ``seed`` (:meth:`RankingSettings.tie_rng`).

The same checks run when the challenge file loads (:mod:`evalkit.config_schema`);
these are for mappings built by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.config_schema import (
    RANKING_AGGREGATES,
    RANKING_CONSENSUS,
    RANKING_SCHEMES,
    RANKING_TIES,
    ConfigError,
    ranking_conflict,
)

SCHEMES = RANKING_SCHEMES
AGGREGATES = RANKING_AGGREGATES
CONSENSUS = RANKING_CONSENSUS
TIES = RANKING_TIES


class RankingConfigError(ConfigError):
    """An unusable ``[ranking]`` setting; the message names the key and the value."""


@dataclass(frozen=True)
class RankingSettings:
    scheme: str = "rank-then-aggregate"
    aggregate: str = "mean"
    missing_value: Any = "worst-rank"
    ties: str = "min"
    consensus: str = "euclidean"
    alpha: float = 0.05
    bootstrap_samples: int = 1000
    seed: int = 20240617
    challenger_compat: bool = False
    metrics: Mapping[str, str] = field(default_factory=dict)
    task_weights: Mapping[str, float] = field(default_factory=dict)

    def tie_rng(self, stream: int = 0) -> np.random.Generator | None:
        """The generator of ``ties = "random"`` (``None`` for the other methods), seeded
        by ``(seed, 1, stream)`` so that it never shares a stream with the bootstrap's
        ``default_rng(seed)``; ``stream`` tells apart uses (full data, bootstrap)."""
        if self.ties != "random":
            return None
        return np.random.default_rng([self.seed, 1, stream])

    def larger_better(self, metric: str) -> bool:
        return self.metrics[metric] == "larger"

    def missing_policy(self, metric: str) -> float | str:
        """``"worst-rank"``, ``"drop"`` or a fill value (float) for ``metric``."""
        mv = self.missing_value
        if isinstance(mv, Mapping):
            if metric not in mv:
                raise RankingConfigError(
                    f"ranking.missing_value has no entry for metric '{metric}' "
                    f"(found entries for {sorted(mv)})."
                )
            mv = mv[metric]
        return mv if isinstance(mv, str) else float(mv)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "aggregate": self.aggregate,
            "missing_value": dict(self.missing_value)
            if isinstance(self.missing_value, Mapping)
            else self.missing_value,
            "ties": self.ties,
            "consensus": self.consensus,
            "alpha": self.alpha,
            "bootstrap_samples": self.bootstrap_samples,
            "seed": self.seed,
            "challenger_compat": self.challenger_compat,
            "metrics": dict(self.metrics),
            "task_weights": dict(self.task_weights),
        }


def _one_policy(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RankingConfigError(
            f"{where} must be 'worst-rank', 'drop' or a number, found {value!r}."
        )
    if isinstance(value, str) and value not in ("worst-rank", "drop"):
        raise RankingConfigError(
            f"{where} must be 'worst-rank', 'drop' or a number, found {value!r}."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise RankingConfigError(f"{where} must be a finite number, found {value!r}.")


def parse_settings(ranking_config: Mapping[str, Any] | RankingSettings) -> RankingSettings:
    """Check a ``[ranking]`` mapping (``load_challenge().ranking``) and type it.

    Raises :class:`RankingConfigError` naming the key, the expected and the found value.
    """
    if isinstance(ranking_config, RankingSettings):
        return ranking_config
    cfg = dict(ranking_config)
    known = set(RankingSettings.__dataclass_fields__)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise RankingConfigError(f"unknown ranking keys {unknown}; known keys: {sorted(known)}.")
    s = RankingSettings(**cfg)

    def bad(key: str, expected: str) -> RankingConfigError:
        return RankingConfigError(f"ranking.{key} must be {expected}, found {getattr(s, key)!r}.")

    if s.scheme not in SCHEMES:
        raise bad("scheme", f"one of {SCHEMES}")
    if s.aggregate not in AGGREGATES:
        raise bad("aggregate", f"one of {AGGREGATES}")
    if s.ties not in TIES:
        raise bad("ties", f"one of {TIES}")
    if s.consensus not in CONSENSUS:
        raise bad("consensus", f"one of {CONSENSUS}")
    if isinstance(s.alpha, bool) or not isinstance(s.alpha, (int, float)) or not 0 < s.alpha < 1:
        raise bad("alpha", "a number in (0, 1)")
    b = s.bootstrap_samples
    if isinstance(b, bool) or not isinstance(b, int) or b < 0:
        raise bad("bootstrap_samples", "an integer >= 0 (0 disables the bootstrap)")
    if isinstance(s.seed, bool) or not isinstance(s.seed, int) or s.seed < 0:
        raise bad("seed", "a non-negative integer")
    if not isinstance(s.challenger_compat, bool):
        raise bad("challenger_compat", "true or false")
    if not isinstance(s.metrics, Mapping) or not s.metrics:
        raise bad("metrics", "a non-empty table metric -> 'larger' | 'smaller'")
    for metric, direction in s.metrics.items():
        if direction not in ("larger", "smaller"):
            raise RankingConfigError(
                f"ranking.metrics.{metric} must be 'larger' or 'smaller', found {direction!r}."
            )
    if isinstance(s.missing_value, Mapping):
        for metric, value in s.missing_value.items():
            _one_policy(value, f"ranking.missing_value.{metric}")
    else:
        _one_policy(s.missing_value, "ranking.missing_value")
    if not isinstance(s.task_weights, Mapping):
        raise bad("task_weights", "a table '<task>/<metric>' -> weight")
    for key, w in s.task_weights.items():
        if (
            isinstance(w, bool)
            or not isinstance(w, (int, float))
            or not w >= 0
            or w == float("inf")
        ):
            raise RankingConfigError(
                f"ranking.task_weights.{key} must be a finite number >= 0, found {w!r}."
            )
    conflict = ranking_conflict(s.as_dict())
    if conflict:
        raise RankingConfigError(f"ranking.{conflict[0]}: {conflict[1]}")
    return s
