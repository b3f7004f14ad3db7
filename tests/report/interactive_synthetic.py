"""A synthetic interactive (CVPR25) run folder for report tests.

``make_interactive_run(root)`` writes what ``evalkit evaluate`` writes under the
interactive protocol (docs/design.md; :mod:`evalkit.runner.interactive`,
:mod:`evalkit.metrics.interactive_scoring`): 2 algorithms x 3 cases, each case's
input with per-class box dicts as a pickled object array (the official layout) or
without boxes, a separate GT file (``gts`` only), per algorithm a journal of run
and case lines, ``iterations/<case>/<k>.npz`` and ``clicks.json``,
``outputs/<case>.npz``, ``scores/<sub>/cases.csv`` and ``iterations.csv``, then
``results.csv`` and the ranking from the real stages.

The story (the expected numbers of the tests, :data:`EXPECTED_FAILURES`):

* ``CT_vessel_003`` has no boxes: run 1 is ``skipped`` (no output, scores 0) for both;
* ``beta`` times out in run 3 of ``CT_liver_001``: run 3 is scored with run 2's
  prediction (stale, official keep-outputs), the case status is ``timeout``;
* ``alpha`` goes over the time budget in run 4 of ``MR_brain_002``: runs 5 and 6 are
  ``not_run``, the case is ``over_budget`` and scores 0 everywhere.

DSC per run is computed from the files (mean over the GT's labels); NSD is a
stand-in (0.9 x DSC): the report shows numbers, it does not compute them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.config import load_challenge
from evalkit.metrics import registry
from evalkit.metrics.registry import REGISTRY, Metric
from evalkit.ranking import rank_results, write_ranking
from evalkit.runfolder import CaseRecord, RunFolder

ALGORITHMS = ["alpha", "beta"]
CASES = [  # case, modality, labels (blob centres), has boxes
    ("CT_liver_001", "CT", [(3, 16, 16, 7), (4, 32, 30, 6)], True),
    ("MR_brain_002", "MR", [(4, 24, 24, 9)], True),
    ("CT_vessel_003", "CT", [(3, 20, 28, 5)], False),
]
RUNS = 6
SHAPE = (8, 48, 48)
STALE = ("beta", "CT_liver_001", 3)  # algorithm, case, run that times out (scored: run 2)
OVER = ("alpha", "MR_brain_002", 4)  # algorithm, case, run after which the budget is gone
# (algorithm, run) -> counts in failures_by_iteration.csv
EXPECTED_FAILURES = {
    ("alpha", 1): {"skipped": 1},
    ("alpha", 4): {"over_budget": 1},
    ("alpha", 5): {"not_run": 1},
    ("alpha", 6): {"not_run": 1},
    ("beta", 1): {"skipped": 1},
    ("beta", 3): {"timeout": 1, "stale": 1},
}
# the interactive metrics as the clicks branch registers them (used until it is on main)
_METRICS = [
    ("DSC_AUC", "dsc_auc", (0.0, 5.0), "scores"),
    ("NSD_AUC", "nsd_auc", (0.0, 5.0), "scores"),
    ("DSC_Final", "dsc_final", (0.0, 1.0), "scores"),
    ("NSD_Final", "nsd_final", (0.0, 1.0), "scores"),
    ("TotalRunningTime", "wall_s", None, "runner"),
]


@contextlib.contextmanager
def interactive_metrics():
    """The interactive metrics in the registry for the duration (only those it lacks
    are added, and removed again afterwards)."""
    added = []
    for name, column, bounds, source in _METRICS:
        if name in REGISTRY:
            continue
        if source == "scores":
            m = Metric(name, column, "larger", 0.0, bounds=bounds, optional=True,
                       instance="x:y", case="x:y")
        else:
            m = Metric(name, column, "smaller", math.nan, unit="s", source="runner",
                       optional=True)
        REGISTRY[name] = m
        added.append(name)
    try:
        yield
    finally:
        for name in added:
            REGISTRY.pop(name, None)


def _gt(labels) -> np.ndarray:
    zz, yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    gts = np.zeros(SHAPE, np.uint8)
    for i, (cz, cy, cx, r) in enumerate(labels, start=1):
        gts[((zz - cz) / 2.5) ** 2 + ((yy - cy) / r) ** 2 + ((xx - cx) / r) ** 2 <= 1] = i
    return gts


def _boxes(gts: np.ndarray) -> np.ndarray:
    """Per-class box dicts (the CVPR25 layout) as the object array np.savez pickles."""
    out = []
    for v in range(1, int(gts.max()) + 1):
        zs = np.nonzero(gts == v)[0]
        zm = int(np.median(zs))
        y2, x2 = np.nonzero(gts[zm] == v)
        out.append({"z_min": int(zs.min()), "z_max": int(zs.max()), "z_mid": zm,
                    "z_mid_x_min": int(x2.min()), "z_mid_y_min": int(y2.min()),
                    "z_mid_x_max": int(x2.max()), "z_mid_y_max": int(y2.max())})
    arr = np.empty(len(out), dtype=object)
    arr[:] = out
    return arr


def _dsc(gts: np.ndarray, segs: np.ndarray | None) -> float:
    """Mean DSC over the GT's labels (a missing prediction: 0)."""
    if segs is None:
        return 0.0
    vals = []
    for v in np.unique(gts[gts > 0]):
        g, p = gts == v, segs == v
        vals.append(2 * np.logical_and(g, p).sum() / (g.sum() + p.sum()))
    return float(np.mean(vals))


def _prediction(gts: np.ndarray, k: int, a: int) -> np.ndarray:
    """Run ``k``'s prediction of algorithm ``a``: the GT shifted less with every run."""
    return np.roll(gts, max(0, 4 - k) + a, axis=2)


def _click(gts: np.ndarray, pred: np.ndarray, label: int, k: int):
    """One click for ``label``: fg at a missed voxel, else bg at a false positive."""
    missed = np.argwhere((gts == label) & (pred != label))
    extra = np.argwhere((pred == label) & (gts != label))
    if k == 4 and label == 2:  # a class with no click this run (None in clicks_order)
        return {"label": label, "kind": None, "zyx": None}
    if len(missed) and (k % 2 == 0 or not len(extra)):
        return {"label": label, "kind": "fg", "zyx": [int(v) for v in missed[len(missed) // 2]]}
    if len(extra):
        return {"label": label, "kind": "bg", "zyx": [int(v) for v in extra[len(extra) // 2]]}
    return {"label": label, "kind": None, "zyx": None}


def _record(case, status, k, wall, output, reason="", record="run", image_id=""):
    return CaseRecord(case=case, status=status, exit_code=0 if status == "ok" else None,
                      killed_by_runner=status == "timeout", wall_s=wall, engine_s=wall,
                      reason=reason, output=output, image_id=image_id,
                      started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:10Z",
                      record=record, iteration=k)


def make_interactive_run(root: Path, bootstrap_samples: int = 20) -> Path:
    """Write the run folder (module docstring) under ``root``; call inside
    :func:`interactive_metrics`."""
    challenge = load_challenge("cvpr25-interactive")
    root.mkdir(parents=True, exist_ok=True)
    (root / "challenge.toml").write_text(challenge.to_toml())
    (root / "run.json").write_text(json.dumps({"created": "2026-01-01T00:00:00+00:00",
                                               "challenge": "cvpr25-interactive", "seed": 7}))
    data = root / "data"
    (data / "imgs").mkdir(parents=True)
    (data / "gts").mkdir(parents=True)
    rng = np.random.default_rng(0)
    case_rows, gts_of = [], {}
    for case, mod, labels, has_boxes in CASES:
        gts = _gt(labels)
        gts_of[case] = gts
        imgs = (40 + 150 * (gts > 0) + rng.normal(0, 15, SHAPE)).clip(0, 255).astype(np.uint8)
        members = {"imgs": imgs, "spacing": np.array([2.0, 0.8, 0.8])}
        if has_boxes:
            members["boxes"] = _boxes(gts)
        inp, gtp = data / "imgs" / f"{case}.npz", data / "gts" / f"{case}.npz"
        np.savez_compressed(inp, **members)  # boxes: a pickled object array, as organisers write
        np.savez_compressed(gtp, gts=gts)
        sha = hashlib.sha256(inp.read_bytes()).hexdigest()
        case_rows.append({"case": case, "modality": mod, "dim": 3, "input_path": str(inp),
                          "gt_path": str(gtp), "input_sha256": sha, "gt_sha256": sha})
    pd.DataFrame(case_rows).to_csv(root / "cases.csv", index=False)

    col = {name: registry.get(name).column for name, *_ in _METRICS[:4]}
    folder = RunFolder(root)
    for a, alg in enumerate(ALGORITHMS):
        sub = folder.submission(alg)
        sub.logs_dir.mkdir(parents=True)
        sub.outputs_dir.mkdir(parents=True)
        image_id = "sha256:" + hashlib.sha256(alg.encode()).hexdigest()
        sub.image_record.write_text(json.dumps({"name": alg, "reference": f"{alg}:latest",
                                                "image_id": image_id}))
        journal, case_table, it_rows = [], [], []
        for case, mod, labels, has_boxes in CASES:
            gts = gts_of[case]
            its = sub.iterations_dir(case)
            its.mkdir(parents=True)
            history, runs, dscs = [], [], []
            standing: str | None = None
            pred = None
            case_status, case_reason = "ok", ""
            for k in range(1, RUNS + 1):
                if k > 1:
                    prev = pred if pred is not None else np.zeros(SHAPE, np.uint8)
                    history.append({"iteration": k, "clicks": [
                        _click(gts, prev, v, k) for v in range(1, len(labels) + 1)]})
                wall = 2.0 + k + a
                if k == 1 and not has_boxes:
                    rec = _record(case, "skipped", 1, 0.0, None,
                                  "no boxes: the box run is skipped and scores 0")
                    scored = ""
                elif (alg, case, k) == STALE:
                    rec = _record(case, "timeout", k, 900.0, standing,
                                  f"container killed at the 900 s deadline; scored with the "
                                  f"prediction of run {Path(standing).stem} (official: the "
                                  "outputs folder is kept between runs)")
                    case_status, case_reason = "timeout", f"run {k}: {rec.reason}"
                    scored = Path(standing).stem
                else:
                    pred = _prediction(gts, k, a)
                    np.savez_compressed(its / f"{k}.npz", segs=pred)
                    standing = sub.relative(its / f"{k}.npz")
                    rec = _record(case, "ok", k, wall, standing)
                    scored = str(k)
                runs.append(rec)
                journal.append(rec)
                value = _dsc(gts, pred) if scored else 0.0
                dscs.append(value)
                it_rows.append({"case": case, "modality": mod, "iteration": k,
                                "status": rec.status, "scored_run": scored, "dsc": value,
                                "nsd": 0.9 * value, "wall_s": rec.wall_s, "reason": rec.reason})
                if (alg, case, k) == OVER:
                    case_status = "over_budget"
                    case_reason = f"runs 1-{k} took 300.0 s, over the budget of 90 s"
                    break
            (its / "clicks.json").write_text(json.dumps(
                {"labels": list(range(1, len(labels) + 1)), "iterations": history}) + "\n")
            if case_status == "over_budget":
                for row in it_rows:
                    if row["case"] == case:
                        row["dsc"] = row["nsd"] = 0.0
                for k in range(len(runs) + 1, RUNS + 1):
                    it_rows.append({"case": case, "modality": mod, "iteration": k,
                                    "status": "not_run", "scored_run": "", "dsc": 0.0,
                                    "nsd": 0.0, "wall_s": math.nan, "reason": "not reached"})
                dscs = [0.0] * RUNS
            dscs += [0.0] * (RUNS - len(dscs))
            nsds = [0.9 * d for d in dscs]
            final = sub.output(case)
            final.write_bytes((sub.root / standing).read_bytes())
            journal.append(_record(case, case_status, len(runs),
                                   sum(r.wall_s or 0.0 for r in runs), sub.relative(final),
                                   case_reason, record="case", image_id=image_id))
            (sub.logs_dir / f"{case}.log").write_text(f"loading\nrun {case}\ndone {case}\n")
            values = {"DSC_AUC": float(np.trapezoid(dscs[1:])),
                      "NSD_AUC": float(np.trapezoid(nsds[1:])),
                      "DSC_Final": dscs[-1], "NSD_Final": nsds[-1]}
            row = {"case": case, "modality": mod, "dim": 3, "n_instances": len(labels)}
            for name, v in values.items():
                row[col[name]] = v
            for name, v in values.items():
                row[f"{col[name]}_unrounded"] = v
            row |= {f"dsc_{k}": dscs[k - 1] for k in range(1, RUNS + 1)}
            row |= {f"nsd_{k}": nsds[k - 1] for k in range(1, RUNS + 1)}
            row |= {"status": case_status, "reason": case_reason}
            case_table.append(row)
        sub.journal.write_text("".join(json.dumps(asdict(r)) + "\n" for r in journal))
        scores = folder.scores_dir(alg)
        scores.mkdir(parents=True)
        pd.DataFrame(case_table).to_csv(scores / "cases.csv", index=False)
        pd.DataFrame(it_rows).to_csv(scores / "iterations.csv", index=False)

    from evalkit.metrics.results import results_table

    ranked = list(challenge.ranking["metrics"])
    res = results_table(folder, ranked)
    res.to_csv(root / "results.csv", index=False)
    config = dict(challenge.ranking, bootstrap_samples=bootstrap_samples, seed=3)
    write_ranking(rank_results(res, config), root / "ranking")
    return root
