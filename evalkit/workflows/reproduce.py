"""Reproducibility: rerun a stored submission by image ID, compare two evaluations.

``compare`` works on any two (run, submission) pairs that share case names: a
rerun against the stored run, or two different images on the same cases (the
OpenVINO reference against the PyTorch baseline). It reports

* per case: DSC, NSD and runtime of both sides and their differences;
* per metric: mean paired difference (B - A) with a seeded bootstrap 95 % interval,
  a two-sided paired Wilcoxon test (zero differences dropped; p = 1 when all are zero);
* runtime: per-case ratio B/A (median, quartiles, min, max);
* a verdict: "reproduced" when the accuracy intervals lie inside the tolerances of the
  ``[reproducibility]`` section and the median runtime ratio inside its range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from evalkit.config import Challenge
from evalkit.metrics.results import submission_cases
from evalkit.runner.executor import Executor, make_executor
from evalkit.workflows.runfolder import RunFolder, RunFolderError

ACCURACY = ("dsc", "nsd")


def side_table(run: RunFolder, name: str) -> pd.DataFrame:
    """Case table of one submission: ``case, modality, dsc, nsd, runtime_s, status``.

    From :func:`evalkit.metrics.results.submission_cases` (runtime = the runner's
    wall clock, ``RunningTime``); raises ``RunFolderError`` without scores.
    """
    table = submission_cases(run, name, ["DSC", "NSD", "RunningTime"])
    table = table.rename(columns={"wall_s": "runtime_s"})
    return table[["case", "modality", "dsc", "nsd", "runtime_s", "status"]]


def paired_tables(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Inner join on case; columns ``<metric>_a, <metric>_b, <metric>_diff`` and ``runtime_ratio``."""
    both = a.merge(b, on=["case", "modality"], suffixes=("_a", "_b"), how="inner")
    if both.empty:
        raise RunFolderError("the two evaluations share no case: nothing to compare.")
    for m in ACCURACY:
        both[f"{m}_diff"] = both[f"{m}_b"] - both[f"{m}_a"]
    both["runtime_ratio"] = both["runtime_s_b"] / both["runtime_s_a"]
    return both


def bootstrap_mean_ci(diff: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """Percentile 95 % interval of the mean of ``diff`` (cases resampled with replacement)."""
    n = len(diff)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))
    means = diff[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def paired_wilcoxon(diff: np.ndarray) -> float:
    """Two-sided paired Wilcoxon p-value (normal approximation, continuity correction,
    zeros dropped); 1.0 when every difference is zero; NaN with fewer than one pair."""
    d = diff[np.isfinite(diff)]
    if len(d) == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", correction=True, method="approx").pvalue)


@dataclass
class Comparison:
    cases: pd.DataFrame      # paired per-case table
    summary: pd.DataFrame    # metric, mean_a, mean_b, mean_diff, ci_lo, ci_hi, max_abs_diff, p_wilcoxon, tolerance, within
    runtime: dict[str, float]
    by_modality: pd.DataFrame
    reproduced: bool
    reasons: list[str]


def compare(a: pd.DataFrame, b: pd.DataFrame, challenge: Challenge) -> Comparison:
    """Compare two case tables from :func:`side_table` (B relative to A)."""
    cfg = challenge.data["reproducibility"]
    both = paired_tables(a, b)
    rows, reasons = [], []
    for m in ACCURACY:
        diff = both[f"{m}_diff"].to_numpy(float)
        lo, hi = bootstrap_mean_ci(diff, cfg["bootstrap_samples"], cfg["seed"])
        tol = float(cfg[f"{m}_tolerance"])
        within = bool(-tol <= lo and hi <= tol)
        if not within:
            reasons.append(f"{m.upper()} mean difference 95% CI [{lo:+.4f}, {hi:+.4f}] is not inside ±{tol}")
        rows.append({"metric": m.upper(), "mean_a": both[f"{m}_a"].mean(), "mean_b": both[f"{m}_b"].mean(),
                     "mean_diff": diff.mean(), "ci_lo": lo, "ci_hi": hi,
                     "max_abs_diff": float(np.abs(diff).max()), "p_wilcoxon": paired_wilcoxon(diff),
                     "tolerance": tol, "within": within})
    ratio = both["runtime_ratio"].to_numpy(float)
    ratio = ratio[np.isfinite(ratio)]
    runtime = {
        "median_ratio": float(np.median(ratio)) if len(ratio) else float("nan"),
        "q25": float(np.quantile(ratio, 0.25)) if len(ratio) else float("nan"),
        "q75": float(np.quantile(ratio, 0.75)) if len(ratio) else float("nan"),
        "min": float(ratio.min()) if len(ratio) else float("nan"),
        "max": float(ratio.max()) if len(ratio) else float("nan"),
        "total_a_s": float(both["runtime_s_a"].sum()),
        "total_b_s": float(both["runtime_s_b"].sum()),
    }
    lo_r, hi_r = cfg["runtime_ratio_range"]
    if not (lo_r <= runtime["median_ratio"] <= hi_r):
        reasons.append(f"median runtime ratio {runtime['median_ratio']:.2f} is outside [{lo_r}, {hi_r}]")
    status_changed = both[both["status_a"] != both["status_b"]]
    if len(status_changed):
        reasons.append(f"{len(status_changed)} case(s) changed status, e.g. {status_changed['case'].iloc[0]}")
    by_mod = both.groupby("modality")[["dsc_a", "dsc_b", "nsd_a", "nsd_b", "runtime_s_a", "runtime_s_b"]].mean()
    return Comparison(both, pd.DataFrame(rows), runtime, by_mod.reset_index(), not reasons, reasons)


def plot_comparison(cmp: Comparison, label_a: str, label_b: str) -> plt.Figure:
    """Per-modality mean DSC and NSD of both sides, paired bars (like Fig. 4c of the
    challenge paper), plus per-case runtime ratios."""
    mods = cmp.by_modality["modality"].tolist()
    x = np.arange(len(mods))
    fig, axes = plt.subplots(1, 3, figsize=(min(18, max(10, 1.1 * len(mods) + 4)), 4.6),
                             gridspec_kw={"width_ratios": [2, 2, 1.2]})
    for ax, m in zip(axes[:2], ("dsc", "nsd")):
        ax.bar(x - 0.2, cmp.by_modality[f"{m}_a"], 0.4, label=label_a, color="#4C72B0")
        ax.bar(x + 0.2, cmp.by_modality[f"{m}_b"], 0.4, label=label_b, color="#DD8452")
        ax.set_xticks(x, mods, rotation=35, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"mean {m.upper()}")
        ax.set_title(f"{m.upper()} per modality")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    ratios = cmp.cases["runtime_ratio"].replace([np.inf, -np.inf], np.nan).dropna()
    axes[2].boxplot([ratios.to_numpy()], widths=0.5)
    axes[2].scatter(np.ones(len(ratios)) + np.random.default_rng(0).uniform(-0.1, 0.1, len(ratios)),
                    ratios, s=12, alpha=0.7, color="k")
    axes[2].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[2].set_xticks([1], [f"{label_b} / {label_a}"], fontsize=8)
    axes[2].set_ylabel("runtime ratio per case")
    axes[2].set_title("runtime")
    fig.suptitle(("reproduced" if cmp.reproduced else "NOT reproduced") + f": {label_b} vs {label_a}")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def write_comparison(cmp: Comparison, out_dir: Path, label_a: str, label_b: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "cases.csv", out_dir / "summary.csv", out_dir / "by_modality.csv",
             out_dir / "verdict.json", out_dir / "comparison.png", out_dir / "comparison.svg"]
    cmp.cases.to_csv(paths[0], index=False)
    cmp.summary.to_csv(paths[1], index=False)
    cmp.by_modality.to_csv(paths[2], index=False)
    paths[3].write_text(json.dumps({"a": label_a, "b": label_b, "reproduced": cmp.reproduced,
                                    "reasons": cmp.reasons, "runtime": cmp.runtime}, indent=2))
    fig = plot_comparison(cmp, label_a, label_b)
    fig.savefig(paths[4], dpi=110)
    fig.savefig(paths[5])
    plt.close(fig)
    return paths


def rerun(run: RunFolder, name: str, out_root: Path, *, executor: Executor | None = None,
          progress: bool = True) -> RunFolder:
    """Run submission ``name`` of ``run`` again, by its pinned image ID, into a new run
    folder under ``out_root`` with the same configuration and cases. Returns that folder.

    ``executor``: where the image runs (``None``: ``[executor] kind`` of the stored
    run's configuration, closed at the end; one passed in is left open).
    """
    from evalkit.workflows.evaluate import evaluate_submission
    from evalkit.workflows.runfolder import open_run

    record = run.submission(name).image_record
    if not record.is_file():
        raise RunFolderError(f"{record}: no submission '{name}' in {run.root} "
                             f"(submissions there: {run.submissions()}).")
    image_id = json.loads(record.read_text())["image_id"]
    challenge = run.challenge()
    own = executor is None
    executor = executor if executor is not None else make_executor(challenge)
    try:
        image = executor.prepare(image_id, name=name)  # by ID: fails clearly if the image is gone
        cases = pd.read_csv(run.cases_path, dtype=str, keep_default_na=False)
        k = 1
        while (out_root / f"{run.root.name}-rerun-{name}-{k}").exists():
            k += 1
        new = open_run(out_root / f"{run.root.name}-rerun-{name}-{k}", challenge,
                       cases[["case", "modality", "dim", "input_path", "gt_path"]],
                       ["evalkit", "rerun", str(run.root), name])
        evaluate_submission(new, image, name, cases, challenge, executor, progress=progress)
    finally:
        if own:
            executor.close()
    return new
