"""Ranking CSVs for synthetic runs, written in the documented columns (docs/design.md).

Used only when ``evalkit.ranking`` has not landed. It follows ranking.md's
rank-then-aggregate scheme (min ties, missing = worst rank, euclidean consensus with
average-tied task ranks, per-modality bootstrap draws shared by the metrics), with a
small B; significance uses scipy's Wilcoxon and a Holm adjustment. It is test data,
not a second implementation of the ranking stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, rankdata, wilcoxon

DIRECTIONS = {"DSC": "larger", "NSD": "larger", "RunningTime": "smaller"}


def _case_rank_matrix(values: np.ndarray, larger: bool) -> np.ndarray:
    """values: cases x algorithms (NaN missing) -> min-tied ranks, missing worst."""
    v = -values if larger else values
    out = np.empty_like(values, dtype=float)
    for i, row in enumerate(v):
        ok = ~np.isnan(row)
        r = np.full(row.shape, np.nan)
        r[ok] = rankdata(row[ok], method="min")
        r[~ok] = (r[ok].max() if ok.any() else 0) + 1
        out[i] = r
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def write_ranking(results: pd.DataFrame, out: Path, *, B: int = 50, seed: int = 7) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    algs = sorted(results["algorithm"].unique())
    K = len(algs)
    tasks = sorted({(t, m) for t, m in zip(results["task"], results["metric"])})
    task_rows, case_rows, sig_rows = [], [], []
    mats: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}
    for task, metric in tasks:
        sub = results[(results["task"] == task) & (results["metric"] == metric)]
        wide = sub.pivot(index="case", columns="algorithm", values="value").reindex(columns=algs)
        vals = wide.to_numpy(float)
        larger = DIRECTIONS[metric] == "larger"
        R = _case_rank_matrix(vals, larger)
        mats[(task, metric)] = (list(wide.index), R)
        mean = R.mean(axis=0)
        rank = rankdata(mean, method="min")
        for a, alg in enumerate(algs):
            task_rows.append(
                (
                    task,
                    metric,
                    alg,
                    mean[a],
                    int(rank[a]),
                    int((~np.isnan(vals[:, a])).sum()),
                    int(np.isnan(vals[:, a]).sum()),
                )
            )
        for c, case in enumerate(wide.index):
            for a, alg in enumerate(algs):
                case_rows.append((task, metric, case, alg, vals[c, a], R[c, a]))
        I, J = np.array([(i, j) for i in range(K) for j in range(K) if i != j]).T
        ok = ~np.isnan(vals).any(axis=1)  # synthetic runs have complete rows
        X, Y = vals[ok][:, I], vals[ok][:, J]
        D = X - Y
        allzero = np.all(D == 0, axis=0)
        with np.errstate(all="ignore"):
            p = wilcoxon(
                np.where(allzero, 1.0, X),
                np.where(allzero, 0.0, Y),
                axis=0,
                zero_method="wilcox",
                correction=True,
                alternative="greater" if larger else "less",
                method="approx",
            ).pvalue
        ps = np.where(allzero, 1.0, p)
        pairs = [
            (i, j, float(np.median(D[:, k])), int(ok.sum())) for k, (i, j) in enumerate(zip(I, J))
        ]
        holm = _holm(np.array(ps))
        for (i, j, md, n), p, ph in zip(pairs, ps, holm):
            sig_rows.append((task, metric, algs[i], algs[j], p, ph, bool(ph <= 0.05), md, n))
    task_df = pd.DataFrame(
        task_rows, columns=["task", "metric", "algorithm", "score", "rank", "n_cases", "n_missing"]
    )
    task_df.to_csv(out / "task_ranking.csv", index=False)
    pd.DataFrame(
        case_rows, columns=["task", "metric", "case", "algorithm", "value", "rank"]
    ).to_csv(out / "case_ranks.csv", index=False)
    pd.DataFrame(
        sig_rows,
        columns=[
            "task",
            "metric",
            "algorithm",
            "other",
            "p_raw",
            "p_holm",
            "significant",
            "median_diff",
            "n_pairs",
        ],
    ).to_csv(out / "significance.csv", index=False)

    def consensus(task_ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        avg = np.vstack([rankdata(r, method="average") for r in task_ranks])
        score = avg.mean(axis=0)
        return score, rankdata(score, method="min")

    full_task = np.vstack([rankdata(mats[t][1].mean(axis=0), method="min") for t in tasks])
    score, final = consensus(full_task)
    pd.DataFrame(
        {"algorithm": algs, "consensus_score": score, "final_rank": final.astype(int)}
    ).sort_values(["final_rank", "algorithm"]).to_csv(out / "final_ranking.csv", index=False)

    modalities = sorted({t for t, _ in tasks})
    draws = {}
    for mod in modalities:
        n = len(mats[(mod, tasks[0][1] if (mod, tasks[0][1]) in mats else "DSC")][0])
        draws[mod] = rng.multinomial(n, np.full(n, 1 / n), size=B)
    boot_task = np.empty((B, len(tasks), K))
    for t, (task, metric) in enumerate(tasks):
        R = mats[(task, metric)][1]
        means = draws[task] @ R / R.shape[0]
        boot_task[:, t] = np.vstack([rankdata(m, method="min") for m in means])
    boot_final = np.vstack([consensus(boot_task[b])[1] for b in range(B)])

    br_rows, fr_rows, tau_rows = [], [], []

    def summarise(scope: str, task: str, metric: str, ranks: np.ndarray, full: np.ndarray) -> None:
        for a, alg in enumerate(algs):
            r = ranks[:, a]
            br_rows.append(
                (
                    scope,
                    task,
                    metric,
                    alg,
                    float(np.median(r)),
                    float(np.quantile(r, 0.025)),
                    float(np.quantile(r, 0.975)),
                    float(np.mean(r == 1)),
                    int(full[a]),
                )
            )
            vals, counts = np.unique(r, return_counts=True)
            for v, c in zip(vals, counts):
                fr_rows.append((scope, task, metric, alg, int(v), c / B))

    for t, (task, metric) in enumerate(tasks):
        summarise("task", task, metric, boot_task[:, t], full_task[t])
        for b in range(B):
            tau = kendalltau(boot_task[b, t], full_task[t]).statistic
            tau_rows.append((task, metric, b, float(tau)))
    summarise("final", "", "", boot_final, final)
    pd.DataFrame(
        br_rows,
        columns=[
            "scope",
            "task",
            "metric",
            "algorithm",
            "median_rank",
            "rank_lo",
            "rank_hi",
            "p_rank1",
            "full_rank",
        ],
    ).to_csv(out / "bootstrap_ranks.csv", index=False)
    pd.DataFrame(
        fr_rows, columns=["scope", "task", "metric", "algorithm", "rank", "frequency"]
    ).to_csv(out / "bootstrap_rank_frequencies.csv", index=False)
    tau = pd.DataFrame(tau_rows, columns=["task", "metric", "sample", "tau"])
    tau.to_csv(out / "kendall_tau.csv", index=False)
    g = tau.groupby(["task", "metric"])["tau"]
    summ = g.agg(
        mean="mean", median="median", q25=lambda s: s.quantile(0.25), q75=lambda s: s.quantile(0.75)
    ).reset_index()
    summ.to_csv(out / "kendall_tau_summary.csv", index=False)
    (out / "ranking_meta.json").write_text(
        json.dumps(
            {
                "scheme": "rank-then-aggregate",
                "ties": "min",
                "seed": seed,
                "B": B,
                "challenger_compat": False,
                "versions": {"source": "tests/report/mini_ranking.py"},
            }
        )
    )
