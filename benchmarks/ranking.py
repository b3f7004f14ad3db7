"""Benchmark: the full CVPR24-scale ranking analysis (issue 4).

A synthetic results table at the scale of the CVPR 2024 challenge (23 algorithms,
4,414 cases over 9 modalities, metrics DSC, NSD, RunningTime; values rounded like
the official table so ties occur, ~1 % missing) goes through evalkit's ranking:
per-case ranks and task rankings, all 27 significance maps, 1000 bootstrap
samples of every task ranking and of the final rank, then all tables to CSV.

Target: the whole analysis in under 10 s on a 2-core machine.

Baselines measured in the same run, as ratios:
- significance: ``scipy.stats.wilcoxon`` called once per ordered pair (the direct
  way), on all 27 tasks;
- bootstrap: a challengeR-like data-frame pipeline (resample rows, pandas
  group-by rank per case, mean, rank) timed on a few samples and extrapolated
  to B = 1000.

Run: ``.venv/bin/python benchmarks/ranking.py [--samples 1000] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalkit.config import load_challenge
from evalkit.ranking import rank_results, write_ranking
from evalkit.ranking.pipeline import (
    analyse,
    bootstrap_arrays,
    bootstrap_tables,
    case_ranks_table,
    final_ranking_table,
    significance_table,
    task_ranking_table,
)
from evalkit.ranking.table import prepare_results
from evalkit.ranking.wilcoxon import PairedSignedRanks, holm

CASES = {
    "CT": 1200,
    "MR": 900,
    "PET": 200,
    "US": 400,
    "X-Ray": 500,
    "Dermoscopy": 300,
    "Endoscopy": 400,
    "Fundus": 214,
    "Microscopy": 300,
}
N_ALGORITHMS = 23


def synthetic_results(seed: int) -> pd.DataFrame:
    """Long table with algorithm skill, case difficulty, noise, rounding and ~1 % missing."""
    rng = np.random.default_rng(seed)
    algs = [f"team{a:02d}" for a in range(N_ALGORITHMS)]
    skill = rng.normal(0, 0.05, N_ALGORITHMS)
    speed = rng.lognormal(0, 0.7, N_ALGORITHMS)
    parts = []
    for modality, n in CASES.items():
        cases = [f"{modality}_{c:04d}" for c in range(n)]
        difficulty = rng.beta(5, 2, n)[:, None]
        dsc = np.clip(difficulty + skill + rng.normal(0, 0.08, (n, N_ALGORITHMS)), 0, 1).round(4)
        nsd = np.clip(dsc + rng.normal(0.02, 0.05, dsc.shape), 0, 1).round(4)
        size = rng.lognormal(0, 1, n)[:, None]
        rt = (speed * size * rng.lognormal(0, 0.2, dsc.shape)).round(2)
        for metric, arr in (("DSC", dsc), ("NSD", nsd), ("RunningTime", rt)):
            arr = arr.copy()
            arr[rng.random(arr.shape) < 0.01] = np.nan
            parts.append(
                pd.DataFrame(
                    {
                        "task": modality,
                        "case": np.repeat(cases, N_ALGORITHMS),
                        "algorithm": np.tile(algs, n),
                        "metric": metric,
                        "value": arr.ravel(),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def timed(label: str, fn, times: dict):
    t0 = time.perf_counter()
    out = fn()
    times[label] = time.perf_counter() - t0
    print(f"  {label:<44s} {times[label]:8.3f} s", flush=True)
    return out


def baseline_significance(runs) -> float:
    """Seconds for scipy.stats.wilcoxon per ordered pair over ``runs``, Holm per task."""
    from scipy.stats import wilcoxon

    t0 = time.perf_counter()
    for run in runs:
        x = run.values
        k = x.shape[1]
        p = np.full((k, k), np.nan)
        alt = "greater" if run.larger_better else "less"
        for i in range(k):
            for j in range(k):
                if i == j:
                    continue
                ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
                p[i, j] = wilcoxon(
                    x[ok, i],
                    x[ok, j],
                    zero_method="wilcox",
                    correction=True,
                    alternative=alt,
                    method="approx",
                ).pvalue
        holm(p)
    return time.perf_counter() - t0


def baseline_bootstrap_per_sample(
    results: pd.DataFrame, directions: dict, samples: int, seed: int
) -> float:
    """Seconds per bootstrap sample of a challengeR-like pandas pipeline."""
    rng = np.random.default_rng(seed)
    by_task = {t: g for t, g in results.groupby("task")}
    t0 = time.perf_counter()
    for _ in range(samples):
        task_ranks = []
        for g in by_task.values():
            cases = g["case"].unique()
            drawn = rng.choice(cases, size=cases.size, replace=True)
            sample = g.set_index("case").loc[drawn].reset_index()
            for metric, gm in sample.groupby("metric"):
                asc = directions[metric] == "smaller"
                r = gm.groupby("case")["value"].rank(
                    method="min", ascending=asc, na_option="bottom"
                )
                mean = r.groupby(gm["algorithm"]).mean()
                task_ranks.append(mean.rank(method="min").rank(method="average"))
        pd.concat(task_ranks, axis=1).mean(axis=1).rank(method="min")
    return (time.perf_counter() - t0) / samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000, help="bootstrap samples B")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic table")
    ap.add_argument(
        "--baseline-samples", type=int, default=3, help="samples timed for the pandas baseline"
    )
    ap.add_argument(
        "--all-schemes", action="store_true", help="also time the other schemes and switches"
    )
    args = ap.parse_args(argv)

    cfg = dict(load_challenge().ranking)
    cfg["bootstrap_samples"] = args.samples
    times: dict[str, float] = {}
    print(
        f"CVPR24-scale synthetic results: {N_ALGORITHMS} algorithms, {sum(CASES.values())} cases, "
        f"{len(CASES)} modalities, 3 metrics, B = {args.samples}"
    )
    results = timed("synthesise table (not counted)", lambda: synthetic_results(args.seed), {})
    print(f"  rows: {len(results):,}, missing: {int(results['value'].isna().sum()):,}")

    print("evalkit stages:")
    timed("input checks -> dense arrays", lambda: prepare_results(results, cfg["metrics"]), times)
    a = timed(
        "ranks, schemes, 27 significance maps, consensus", lambda: analyse(results, cfg), times
    )
    # analyse() repeats the input checks; report the share without them
    analysis_only = (
        times["ranks, schemes, 27 significance maps, consensus"]
        - times["input checks -> dense arrays"]
    )
    sig_runs = timed(
        "  of which significance maps (re-run alone)",
        lambda: [
            holm(PairedSignedRanks(r.values).pvalues(larger_better=r.larger_better)[0])
            for r in a.runs
        ],
        {},
    )
    del sig_runs
    boot = timed(
        f"bootstrap B={args.samples} (27 tasks + final rank)", lambda: bootstrap_arrays(a), times
    )
    timed(
        "output tables",
        lambda: (
            task_ranking_table(a),
            final_ranking_table(a),
            case_ranks_table(a),
            significance_table(a),
            bootstrap_tables(a, boot),
        ),
        times,
    )
    # analyse() includes the input checks, so they are not added again
    total = sum(v for k, v in times.items() if k != "input checks -> dense arrays")
    print(
        f"  {'TOTAL analysis (checks + ranking + significance + bootstrap + tables)':<44s} {total:8.3f} s"
    )

    print("end to end, rank_results() + write_ranking():")
    t0 = time.perf_counter()
    res = rank_results(results, cfg)
    t_rank = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        write_ranking(res, tmp)
        t_write = time.perf_counter() - t1
    print(f"  rank_results                                 {t_rank:8.3f} s")
    print(f"  write_ranking (CSV, {len(res.case_ranks):,} case-rank rows)      {t_write:8.3f} s")
    verdict = "PASS" if t_rank < 10 else "FAIL"
    print(f"  target < 10 s for the full analysis: {verdict} ({t_rank:.2f} s)")

    print("baselines (same run):")
    few = a.runs[:: max(1, len(a.runs) // 4)][:4]  # 4 tasks of different sizes
    t_sig_base = baseline_significance(few)
    t0 = time.perf_counter()
    for r in few:
        holm(PairedSignedRanks(r.values).pvalues(larger_better=r.larger_better)[0])
    t_sig = time.perf_counter() - t0
    print(
        f"  significance, {len(few)} tasks ({sum(len(r.cases) for r in few)} cases): "
        f"scipy.stats.wilcoxon per ordered pair {t_sig_base:.3f} s, evalkit {t_sig:.3f} s "
        f"(x{t_sig_base / t_sig:.1f} faster)"
    )
    print(
        f"  (evalkit ranks + schemes + consensus + all 27 maps, without input checks: "
        f"{analysis_only:.3f} s)"
    )
    per = baseline_bootstrap_per_sample(results, cfg["metrics"], args.baseline_samples, args.seed)
    est = per * args.samples
    t_boot = times[f"bootstrap B={args.samples} (27 tasks + final rank)"]
    print(
        f"  pandas group-by bootstrap: {per:.3f} s/sample -> {est:8.1f} s for B={args.samples} "
        f"(evalkit {t_boot:.3f} s: x{est / t_boot:.0f} faster)"
    )
    if args.all_schemes:
        print("other schemes and switches (rank_results, same table):")
        variants = [
            ({"ties": "average"}, args.samples),
            ({"challenger_compat": True}, args.samples),
            (
                {"scheme": "aggregate-then-rank", "aggregate": "mean", "missing_value": "drop"},
                args.samples,
            ),
            (
                {"scheme": "aggregate-then-rank", "aggregate": "median", "missing_value": "drop"},
                args.samples,
            ),
            ({"scheme": "test-then-rank", "missing_value": "drop"}, 0),
            ({"scheme": "test-then-rank", "missing_value": "drop"}, 5),
        ]
        t_base = None
        for over, b in variants:
            t0 = time.perf_counter()
            rank_results(results, {**cfg, **over, "bootstrap_samples": b})
            dt = time.perf_counter() - t0
            label = ", ".join(f"{k}={v}" for k, v in over.items())
            if over.get("scheme") == "test-then-rank" and b == 0:
                t_base = dt
            if over.get("scheme") == "test-then-rank" and b > 0 and t_base is not None:
                per = (dt - t_base) / b
                print(
                    f"  {label}: {t_base:.2f} s without bootstrap; bootstrap {per:.3f} s/sample "
                    f"-> ~{t_base + per * args.samples:.0f} s for B={args.samples}"
                )
            elif b or over.get("scheme") != "test-then-rank":
                print(f"  {label}, B={b}: {dt:.2f} s")
    print("final ranking (top 5):")
    print(res.final_ranking.head(5).to_string(index=False))
    return 0 if t_rank < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
