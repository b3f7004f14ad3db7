"""Bootstrap draws of cases, shared by the ranking's stability analysis and by
``compare``'s interval of a mean paired difference.

A draw takes n of n cases with replacement, ``samples`` times, from a seeded
``numpy.random.Generator``: ``rng.integers(0, n, size=(samples, n))``. The ranking
uses the draw as case multiplicities (:func:`draw_counts`), ``compare`` as indices
(:func:`bootstrap_mean_ci`); the same generator state gives the same draw in both.
"""

from __future__ import annotations

import numpy as np


def draw_indices(rng: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """``(samples, n)`` case indices in ``[0, n)``, each row n draws with replacement."""
    return rng.integers(0, n, size=(samples, n))


def draw_counts(rng: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """``(samples, n)`` multiplicities of n cases drawn n times with replacement
    (each row sums to n): the bincount of each row of :func:`draw_indices`."""
    draws = draw_indices(rng, n, samples)
    flat = draws + (np.arange(samples) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=samples * n).reshape(samples, n)


def bootstrap_mean_ci(
    values: np.ndarray, samples: int, seed: int, quantiles: tuple[float, float] = (0.025, 0.975)
) -> tuple[float, float]:
    """Percentile bootstrap interval (95 % by default) of the mean of ``values``
    (1-D, one per case).

    Cases are resampled n of n with replacement ``samples`` times from
    ``numpy.random.default_rng(seed)``; the interval is the ``quantiles`` (numpy's
    linear interpolation) of the resampled means, in the units of ``values``. No
    values: ``(nan, nan)``. A NaN among the values makes the means, and so the
    interval, NaN."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[draw_indices(rng, n, samples)].mean(axis=1)
    lo, hi = quantiles
    return float(np.quantile(means, lo)), float(np.quantile(means, hi))
