"""Small helpers shared by the ranking tests (table builders, an independent rankNA2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

DIRECTIONS = {"DSC": "larger", "NSD": "larger", "RunningTime": "smaller"}


def config(**overrides) -> dict:
    """The bundled CVPR24 [ranking] section with overrides (bootstrap off unless asked)."""
    from evalkit.config import load_challenge

    cfg = dict(load_challenge().ranking)
    cfg["bootstrap_samples"] = 0
    cfg.update(overrides)
    return cfg


def long_table(
    values: dict[str, dict[str, list[float]]], task: str = "CT", metric: str = "DSC"
) -> pd.DataFrame:
    """``{algorithm: [value per case]}`` for one task/metric -> long table (cases c0, c1, ...).

    ``values`` may also be ``{(task, metric): {algorithm: [...]}}``. None = row absent.
    """
    if not all(isinstance(k, tuple) for k in values):
        values = {(task, metric): values}
    rows = []
    for (t, m), by_alg in values.items():
        for alg, vals in by_alg.items():
            for c, v in enumerate(vals):
                if v is not None:
                    rows.append((t, f"{t}_c{c}", alg, m, v))
    return pd.DataFrame(rows, columns=["task", "case", "algorithm", "metric", "value"])


def reference_rank_na2(values, larger_better: bool, ties: str = "min") -> list[float]:
    """challengeR's rankNA2 written out the slow, obvious way (independent of evalkit)."""
    vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in values]
    present = [v for v in vals if v is not None]
    out: list[float] = []
    for v in vals:
        if v is None:
            out.append(math.nan)
            continue
        better = sum(1 for w in present if (w > v if larger_better else w < v))
        equal = sum(1 for w in present if w == v)
        out.append(better + 1 if ties == "min" else better + (equal + 1) / 2)
    k = sum(1 for v in vals if v is None)
    worst = max([r for r in out if not math.isnan(r)], default=0)
    fill = worst + 1 if ties == "min" else worst + (k + 1) / 2
    return [fill if math.isnan(r) else r for r in out]


def random_table(
    rng: np.random.Generator,
    n_alg=5,
    tasks=("CT", "MR"),
    n_cases=(12, 9),
    metrics=("DSC", "NSD", "RunningTime"),
    missing=0.0,
    digits=2,
) -> pd.DataFrame:
    rows = []
    skill = rng.normal(0, 0.1, n_alg)
    for t, n in zip(tasks, n_cases):
        for c in range(n):
            for a in range(n_alg):
                for m in metrics:
                    if rng.random() < missing:
                        continue
                    base = 0.6 + skill[a] if m != "RunningTime" else 2 - skill[a]
                    rows.append(
                        (
                            t,
                            f"{t}_{c:03d}",
                            f"alg{a}",
                            m,
                            round(float(base + rng.normal(0, 0.2)), digits),
                        )
                    )
    return pd.DataFrame(rows, columns=["task", "case", "algorithm", "metric", "value"])
