"""Reproducibility: rerun a stored submission by image ID, compare two evaluations.

``compare`` works on any two (run, submission) pairs that share case names: a
rerun against the stored run, or two different images on the same cases (the
OpenVINO reference against the PyTorch baseline). It reports

* per case: every scored metric enabled in the run (``[metrics] enabled``, through
  :mod:`evalkit.metrics.registry`) and the runtime of both sides, and their differences;
* per metric: mean paired difference (B - A) with a seeded bootstrap 95 % interval
  (:func:`evalkit.ranking.bootstrap.bootstrap_mean_ci`), a two-sided paired Wilcoxon
  test (:func:`evalkit.ranking.wilcoxon.paired_wilcoxon`: zero differences dropped;
  p = 1 when all are zero);
* runtime: per-case ratio B/A (median, quartiles, min, max);
* a verdict: "reproduced" when the interval of every metric that has a tolerance in
  ``[reproducibility]`` lies inside it, the median runtime ratio inside its range and
  no case changed status. A metric's tolerance is ``tolerances.<NAME>`` or
  ``<column>_tolerance`` (``dsc_tolerance``, ``nsd_tolerance``); a metric without one
  is reported but not part of the verdict, and a note says so.

Missing values (NaN). A (case, metric) pair that is NaN in one run only is a
difference; so is one NaN in both runs where the metric applies (a harness or GT
error scores every metric NaN): the verdict is "not reproduced" and a reason names
a case. Only a pair the metric does not apply to counts as equal: in a text
challenge (``[contract] inputs = "text"``) each case has a kind, read from its
input's ``text_prompts`` (:func:`case_kinds`), and
:func:`evalkit.metrics.case.applies` says which metrics a kind has (F1 and DSC_TP
not for a semantic case, DSC and NSD not for an instance case). Such a pair, NaN
in both runs, is left out of the statistics and counted in the summary's ``n_na``
(``n_cases``: the pairs compared) and in a note. Box and click cases (cvpr24,
cvpr25-interactive) have no kind: every metric applies, so every NaN is a
difference, as before.

The figure is drawn by :func:`evalkit.report.figures.plot_comparison`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.config import Challenge
from evalkit.contract import ContractError
from evalkit.contract.text import load_text_prompts
from evalkit.metrics.case import applies
from evalkit.metrics.registry import Metric, enabled_scored
from evalkit.metrics.results import submission_cases
from evalkit.ranking.bootstrap import bootstrap_mean_ci
from evalkit.ranking.wilcoxon import paired_wilcoxon
from evalkit.report.figures import plot_comparison
from evalkit.runner.executor import Executor, make_executor
from evalkit.workflows.runfolder import RunFolder, RunFolderError

SUMMARY_COLUMNS = ["metric", "mean_a", "mean_b", "mean_diff", "ci_lo", "ci_hi", "max_abs_diff",
                   "p_wilcoxon", "tolerance", "within", "n_cases", "n_na"]


def is_text(challenge: Challenge) -> bool:
    """Whether ``challenge`` is a text challenge (``[contract] inputs = "text"``)."""
    return challenge.contract.get("inputs", "boxes") == "text"


def case_kinds(cases: pd.DataFrame, challenge: Challenge) -> pd.Series:
    """The kind of each text case, ``"semantic"`` or ``"instance"``, from its input's
    ``text_prompts`` (read with the restricted unpickler, the contract's size limits).

    ``cases``: columns ``case, input_path`` (a run's ``cases.csv``). ``""`` (unknown)
    for a case whose input is gone or unreadable: nothing is then known not to apply
    to it. Returns a Series aligned with ``cases``; empty input, empty Series."""
    kinds = []
    for case, path in zip(cases["case"], cases["input_path"]):
        try:
            kinds.append(load_text_prompts(path, challenge.contract, case=case).kind)
        except (ContractError, OSError, ValueError):
            kinds.append("")
    return pd.Series(kinds, index=cases.index, dtype=object)


def side_table(run: RunFolder, name: str) -> pd.DataFrame:
    """Case table of one submission: ``case, modality``, one column per scored metric the
    run computes (``dsc, nsd`` in cvpr24), ``runtime_s``, ``status``; a text challenge
    also has ``kind`` after ``modality`` (:func:`case_kinds` of the run's cases).

    From :func:`evalkit.metrics.results.submission_cases` (runtime = the runner's
    wall clock, ``RunningTime``); raises ``RunFolderError`` without scores.
    """
    challenge = run.challenge()
    metrics = enabled_scored(challenge)
    table = submission_cases(run, name, [m.name for m in metrics] + ["RunningTime"])
    table = table.rename(columns={"wall_s": "runtime_s"})
    table = table[["case", "modality", *(m.column for m in metrics), "runtime_s", "status"]]
    if is_text(challenge):
        cases = pd.read_csv(run.cases_path, dtype=str, keep_default_na=False)
        kinds = dict(zip(cases["case"], case_kinds(cases, challenge)))
        table.insert(2, "kind", [kinds.get(c, "") for c in table["case"]])
    return table


def paired_tables(a: pd.DataFrame, b: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Inner join on case; for each metric column ``c`` of ``columns``: ``c_a, c_b,
    c_diff`` (B - A), and ``runtime_ratio`` (B / A). A ``kind`` column (text cases) on
    either side gives one ``kind``: A's, else B's; ``""`` where they disagree."""
    both = a.merge(b, on=["case", "modality"], suffixes=("_a", "_b"), how="inner")
    if both.empty:
        raise RunFolderError("the two evaluations share no case: nothing to compare.")
    if "kind_a" in both.columns or "kind_b" in both.columns:
        ka = both.pop("kind_a").fillna("") if "kind_a" in both.columns else pd.Series("", index=both.index)
        kb = both.pop("kind_b").fillna("") if "kind_b" in both.columns else pd.Series("", index=both.index)
        kind = ka.where(ka != "", kb).where((ka == "") | (kb == "") | (ka == kb), "")
        both.insert(2, "kind", kind)
    elif "kind" in both.columns:  # only one side had it: merge kept it unsuffixed
        both["kind"] = both["kind"].fillna("")
    for c in columns:
        both[f"{c}_diff"] = both[f"{c}_b"] - both[f"{c}_a"]
    both["runtime_ratio"] = both["runtime_s_b"] / both["runtime_s_a"]
    return both


def unpaired_notes(a: pd.DataFrame, b: pd.DataFrame, shown: int = 3) -> list[str]:
    """One note per side with cases the other side lacks (a subset rerun is allowed, so they
    are left out of the comparison, not the verdict), naming up to ``shown`` of them."""
    notes = []
    for side, mine, other in (("A", a, b), ("B", b, a)):
        only = sorted(set(mine["case"]) - set(other["case"]))
        if only:
            names = ", ".join(only[:shown]) + (", ..." if len(only) > shown else "")
            notes.append(f"{len(only)} case{'s' if len(only) > 1 else ''} only in {side}, "
                         f"not compared ({names})")
    return notes


def compared_metrics(challenge: Challenge, a: pd.DataFrame,
                     b: pd.DataFrame) -> tuple[list[Metric], list[str]]:
    """The scored metrics enabled in ``challenge`` whose column both case tables have,
    in registry order, and a note for each enabled one left out."""
    out, notes = [], []
    for m in enabled_scored(challenge):
        if m.column in a.columns and m.column in b.columns:
            out.append(m)
        else:
            notes.append(f"{m.name}: no '{m.column}' column in both case tables: not compared.")
    return out, notes


def tolerance(cfg: dict, metric: Metric) -> float | None:
    """The ``[reproducibility]`` tolerance of ``metric`` (in its unit): ``tolerances.<name>``,
    else ``<column>_tolerance``; ``None`` when neither is set."""
    table = cfg.get("tolerances") or {}
    if metric.name in table:
        return float(table[metric.name])
    key = f"{metric.column}_tolerance"
    return float(cfg[key]) if key in cfg else None


@dataclass
class Comparison:
    cases: pd.DataFrame      # paired per-case table
    summary: pd.DataFrame    # SUMMARY_COLUMNS, one row per compared metric
    runtime: dict[str, float]
    by_modality: pd.DataFrame
    reproduced: bool
    reasons: list[str]
    metrics: list[Metric] = field(default_factory=list)  # compared metrics, in summary order
    notes: list[str] = field(default_factory=list)  # metrics and cases left out of the verdict or comparison


def not_applicable(both: pd.DataFrame, metric: Metric) -> np.ndarray:
    """Boolean mask of the paired cases where ``metric`` does not apply (text cases of
    a kind without it, :func:`evalkit.metrics.case.applies`) and is NaN in both runs.
    All false without a ``kind`` column (box cases) and where the kind is ``""``."""
    if "kind" not in both.columns:
        return np.zeros(len(both), dtype=bool)
    c = metric.column
    off = np.array([k in ("semantic", "instance") and not applies(metric, k) for k in both["kind"]],
                   dtype=bool)
    return off & both[f"{c}_a"].isna().to_numpy() & both[f"{c}_b"].isna().to_numpy()


def _missing_reason(both: pd.DataFrame, metric: Metric, na: np.ndarray) -> str | None:
    """Why ``metric``'s NaNs fail the verdict: pairs NaN in one run only, pairs NaN in
    both where the metric applies (``na`` excluded); ``None`` when there are none."""
    c = metric.column
    nan_a, nan_b = both[f"{c}_a"].isna().to_numpy(), both[f"{c}_b"].isna().to_numpy()
    parts = []
    one = nan_a != nan_b
    if one.any():
        parts.append(f"{int(one.sum())} paired case(s) with a value in one run only, "
                     f"e.g. {both['case'][one].iloc[0]}")
    two = nan_a & nan_b & ~na
    if two.any():
        parts.append(f"{int(two.sum())} paired case(s) NaN in both runs where {metric.name} applies, "
                     f"e.g. {both['case'][two].iloc[0]}")
    return f"{metric.name}: " + "; ".join(parts) if parts else None


def metric_summary(both: pd.DataFrame, metric: Metric, cfg: dict) -> tuple[dict, str | None]:
    """One row of ``Comparison.summary`` for ``metric`` from the paired table, and the
    reason it fails the verdict (``None`` when it passes or has no tolerance).

    Pairs where the metric does not apply (:func:`not_applicable`) are left out of
    the statistics and counted in ``n_na``; ``n_cases`` pairs remain. Any other NaN
    makes the statistics NaN and, with a tolerance, fails with a reason naming a case.
    No pair left: statistics NaN, ``within`` ``None`` (not part of the verdict)."""
    c = metric.column
    na = not_applicable(both, metric)
    kept = both[~na]
    diff = kept[f"{c}_diff"].to_numpy(float)
    lo, hi = bootstrap_mean_ci(diff, cfg["bootstrap_samples"], cfg["seed"])
    tol = tolerance(cfg, metric)
    within = None if tol is None or not len(diff) else bool(-tol <= lo and hi <= tol)
    reason = None
    if within is False:
        reason = _missing_reason(both, metric, na)
        if reason is None:
            unit = f" {metric.unit}" if metric.unit else ""
            reason = (f"{metric.name} mean difference 95% CI [{lo:+.4f}, {hi:+.4f}]{unit} "
                      f"is not inside ±{tol}{unit}")
    row = {"metric": metric.name, "mean_a": both[f"{c}_a"].mean(), "mean_b": both[f"{c}_b"].mean(),
           "mean_diff": diff.mean() if len(diff) else float("nan"), "ci_lo": lo, "ci_hi": hi,
           "max_abs_diff": float(np.abs(diff).max()) if len(diff) else float("nan"),
           "p_wilcoxon": paired_wilcoxon(diff),
           "tolerance": float("nan") if tol is None else tol, "within": within,
           "n_cases": len(diff), "n_na": int(na.sum())}
    return row, reason


def compare(a: pd.DataFrame, b: pd.DataFrame, challenge: Challenge) -> Comparison:
    """Compare two case tables from :func:`side_table` (B relative to A).

    Metrics are the scored metrics of ``[metrics] enabled`` (registry order); within
    = the 95 % bootstrap interval of the mean difference lies inside ±tolerance
    (``None`` for a metric without a tolerance, which does not enter the verdict).
    NaN pairs: module docstring (a ``kind`` column marks text cases)."""
    cfg = challenge.data["reproducibility"]
    metrics, notes = compared_metrics(challenge, a, b)
    both = paired_tables(a, b, [m.column for m in metrics])
    notes += unpaired_notes(a, b)
    if "kind" in both.columns and (unknown := both["kind"] == "").any():
        notes.append(f"{int(unknown.sum())} paired case(s) of kind unknown (no readable input "
                     f"text_prompts, e.g. {both['case'][unknown].iloc[0]}): every NaN there counts "
                     "as a difference.")
    rows, reasons = [], []
    for m in metrics:
        row, reason = metric_summary(both, m, cfg)
        rows.append(row)
        if reason:
            reasons.append(reason)
        if row["n_na"]:
            kinds = sorted(set(both["kind"][not_applicable(both, m)]))
            notes.append(f"{m.name}: {row['n_na']} of {len(both)} paired cases not applicable "
                         f"({' and '.join(kinds)} cases, NaN in both runs): counted equal.")
        if tolerance(cfg, m) is None:
            notes.append(f"{m.name}: no tolerance in [reproducibility] (tolerances.{m.name} or "
                         f"{m.column}_tolerance): reported, not part of the verdict.")
        elif not row["n_cases"]:
            notes.append(f"{m.name}: applies to none of the paired cases: not part of the verdict.")
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
    cols = [f"{m.column}_{side}" for m in metrics for side in ("a", "b")]
    by_mod = both.groupby("modality")[cols + ["runtime_s_a", "runtime_s_b"]].mean()
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return Comparison(both, summary, runtime, by_mod.reset_index(), not reasons, reasons,
                      metrics, notes)


def write_comparison(cmp: Comparison, out_dir: Path, label_a: str, label_b: str) -> list[Path]:
    """Write ``cases.csv``, ``summary.csv``, ``by_modality.csv``, ``verdict.json`` and the
    figure (``comparison.png`` at 110 dpi, ``comparison.svg``) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "cases.csv", out_dir / "summary.csv", out_dir / "by_modality.csv",
             out_dir / "verdict.json", out_dir / "comparison.png", out_dir / "comparison.svg"]
    cmp.cases.to_csv(paths[0], index=False)
    cmp.summary.to_csv(paths[1], index=False)
    cmp.by_modality.to_csv(paths[2], index=False)
    paths[3].write_text(json.dumps({"a": label_a, "b": label_b, "reproduced": cmp.reproduced,
                                    "reasons": cmp.reasons, "notes": cmp.notes,
                                    "runtime": cmp.runtime}, indent=2))
    title = ("reproduced" if cmp.reproduced else "NOT reproduced") + f": {label_b} vs {label_a}"
    fig = plot_comparison(cmp.by_modality, cmp.cases["runtime_ratio"], cmp.metrics,
                          label_a, label_b, title)
    fig.savefig(paths[4], dpi=110)
    fig.savefig(paths[5])
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
