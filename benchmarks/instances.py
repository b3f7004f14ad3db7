"""Benchmark: evalkit's instance overlap matrix against an official-style voxel loop.

The CVPR25 text-track script computes the instance overlap matrix with a Python
loop over every voxel (``overlap[x[i], y[i]] += 1``). evalkit uses one
``np.bincount`` of the paired labels over the voxels where either map is non-zero
(:func:`evalkit.metrics.instance_match.overlap_matrix`).

Case: a 3D volume (default ``64 x 192 x 192`` = 2.36 M voxels) with ``--instances``
(default 100) ellipsoidal lesions in the GT; the prediction keeps 85 % of them,
shifted by up to one voxel, and adds 10 false positives; labels are relabelled
sequentially first (as the official script does), so both sides see the same
arrays. Prints the seconds of each side (median of ``--repeat`` runs), the ratio,
and checks that the matrices are equal. The loop is timed on the whole volume
unless ``--loop-voxels N`` times it on the first ``N`` voxels and scales the
time linearly (the loop's cost is per voxel); the printout says which.

Then the whole case (matching, F1, DSC_TP, PQ) with
:func:`evalkit.metrics.instance_match.match_instances`, for scale.

    PYTHONPATH=. .venv/bin/python benchmarks/instances.py [--shape 64 192 192] [--instances 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from evalkit.metrics.instance_match import match_instances, overlap_matrix, relabel_sequential


def make_case(shape: tuple[int, int, int], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """GT with ``n`` lesions and a perturbed prediction (uint16 label maps of ``shape``)."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, np.uint16)
    pred = np.zeros(shape, np.uint16)
    ids = rng.permutation(np.arange(1, n + 11)) + 100
    for k in range(n + 10):
        r = rng.uniform(2.0, 6.0, size=3)
        c = [rng.integers(int(ri) + 1, s - int(ri) - 1) for ri, s in zip(r, shape)]
        lo = [max(0, int(ci - ri) - 1) for ci, ri in zip(c, r)]
        hi = [min(s, int(ci + ri) + 2) for ci, ri, s in zip(c, r, shape)]
        zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        m = ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 <= 1
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        if k < n:
            gt[box][m] = k + 1
            if rng.random() < 0.15:
                continue
        shift = tuple(int(x) for x in rng.integers(-1, 2, size=3))
        m2 = np.roll(m, shift, axis=(0, 1, 2))
        pred[box][m2] = ids[k]
    return gt, pred


def official_style_overlap(x: np.ndarray, y: np.ndarray, limit: int | None = None) -> np.ndarray:
    """The official procedure: a Python loop over every voxel (optionally the first ``limit``)."""
    x = x.ravel()
    y = y.ravel()
    overlap = np.zeros((1 + x.max(), 1 + y.max()), dtype=np.uint)
    n = len(x) if limit is None else min(limit, len(x))
    for i in range(n):
        overlap[x[i], y[i]] += 1
    return overlap


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=[64, 192, 192])
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loop-voxels", type=int, default=None,
                    help="time the Python loop on this many voxels and scale (default: all)")
    args = ap.parse_args(argv)
    shape = tuple(args.shape)
    gt, pred = make_case(shape, args.instances, args.seed)
    g, n_gt = relabel_sequential(gt)
    p, n_pred = relabel_sequential(pred)
    voxels = g.size
    print(f"case: shape {shape} ({voxels / 1e6:.2f} M voxels), {n_gt} GT instances, "
          f"{n_pred} predicted instances")

    fast = _median_time(lambda: overlap_matrix(g, p, n_gt, n_pred), args.repeat)
    ours = overlap_matrix(g, p, n_gt, n_pred)
    if args.loop_voxels is None or args.loop_voxels >= voxels:
        t0 = time.perf_counter()
        theirs = official_style_overlap(g, p)
        loop = time.perf_counter() - t0
        assert (theirs.astype(np.int64) == ours).all(), "the matrices differ"
        how = "whole volume, 1 run"
    else:
        t0 = time.perf_counter()
        official_style_overlap(g, p, args.loop_voxels)
        loop = (time.perf_counter() - t0) * voxels / args.loop_voxels
        how = f"timed on {args.loop_voxels} voxels, scaled to {voxels}"
    print(f"overlap matrix, evalkit (np.bincount): {fast:.4f} s (median of {args.repeat})")
    print(f"overlap matrix, official-style loop:   {loop:.2f} s ({how})")
    print(f"ratio: {loop / fast:.0f}x (target >= 100x); matrices equal: "
          f"{'yes' if args.loop_voxels is None else 'checked on the whole volume only without --loop-voxels'}")
    whole = _median_time(lambda: match_instances(gt, pred), args.repeat)
    s = match_instances(gt, pred)
    print(f"whole case with evalkit (relabel, overlap, Hungarian, F1/DSC_TP/PQ): {whole:.4f} s; "
          f"TP {s.tp}, FP {s.fp}, FN {s.fn}, F1 {s.f1:.4f}, DSC_TP {s.dsc_tp:.4f}, PQ {s.pq:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
