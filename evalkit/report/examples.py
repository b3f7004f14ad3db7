"""Example segmentations for Fig. 3h: one case per modality, read with the contract's
safe loaders (no pickle, no symlinks, bounded sizes).

A modality gets an example when the pinned case list names an input and a GT that
exist as regular files and load cleanly; the first such case (by name) is used.
Predictions that are missing or break the contract are left out of that panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.contract import ContractError, load_gt, load_input, load_prediction
from evalkit.metrics.registry import REGISTRY, Metric
from evalkit.runfolder import RunFolder, RunFolderError

MAX_TRIES_PER_MODALITY = 5  # cases tried per modality before giving up on it


def _resolve(path: object, run_dir: Path) -> Path | None:
    if not isinstance(path, str) or not path:
        return None
    p = Path(path)
    if not p.is_absolute() and not p.exists():
        p = run_dir / p
    return p if p.is_file() and not p.is_symlink() else None


def _slice_2d(imgs: np.ndarray, boxes: np.ndarray, gts: np.ndarray, dim: int):
    """Reduce a case to one 2-D panel: the 3-D slice with the most reference voxels."""
    if dim == 2:
        return imgs, [tuple(int(v) for v in b[:4]) for b in boxes], gts > 0, None
    area = (gts > 0).reshape(gts.shape[0], -1).sum(axis=1)
    z = int(np.argmax(area)) if area.any() else gts.shape[0] // 2
    keep = [b for b in boxes if int(b[2]) <= z <= int(b[5])]
    return imgs[z], [(int(b[0]), int(b[1]), int(b[3]), int(b[4])) for b in keep], gts[z] > 0, z


def load_examples(
    cases: pd.DataFrame,
    scores: pd.DataFrame,
    algs: Sequence[str],
    modalities: Sequence[str],
    run_dir: Path,
    limits: dict[str, Any] | None = None,
    metric: Metric | None = None,
) -> tuple[list[dict], pd.DataFrame]:
    """Load one example per modality for ``algs``.

    ``cases``: pinned case list (``case, modality, dim, input_path, gt_path``);
    ``scores``: concatenated score tables (``algorithm, case`` and the ``metric``'s
    column); ``metric``: the value shown per algorithm (default: the first scored
    metric of the registry, DSC). Returns the examples for
    :func:`evalkit.report.figures.plot_examples` and a table ``modality, case, slice,
    algorithm, <metric column>, has_prediction`` (the figure's data).
    """
    if metric is None:
        metric = next(m for m in REGISTRY.values() if m.source == "scores")
    col = metric.column
    examples: list[dict] = []
    rows: list[dict] = []
    value_of = {}
    if not scores.empty and col in scores.columns:
        value_of = {(a, c): d for a, c, d in zip(scores["algorithm"], scores["case"], scores[col])}
    for mod in modalities:
        cand = cases[cases["modality"].astype(str) == mod].sort_values("case")
        tries = 0
        for _, row in cand.iterrows():
            inp = _resolve(row.get("input_path"), run_dir)
            gtp = _resolve(row.get("gt_path"), run_dir)
            if inp is None or gtp is None:
                continue
            tries += 1
            if tries > MAX_TRIES_PER_MODALITY:
                break
            case, dim = str(row["case"]), int(row["dim"])
            try:
                x = load_input(inp, limits, dim=dim)
                g = load_gt(gtp, dim, x.spatial_shape, limits, case=case)
            except ContractError:
                continue
            preds: dict[str, np.ndarray] = {}
            full_preds: dict[str, np.ndarray] = {}
            for alg in algs:
                out = RunFolder(run_dir).submission(alg).output(case)
                try:
                    full_preds[alg] = load_prediction(out, x.spatial_shape, limits, case=case)
                except ContractError:
                    continue
            image, boxes, gt, z = _slice_2d(x.imgs, x.boxes, g.gts, dim)
            for alg, seg in full_preds.items():
                preds[alg] = (seg[z] if z is not None else seg) > 0
            value = {
                a: float(value_of[(a, case)]) if (a, case) in value_of else float("nan")
                for a in algs
            }
            examples.append(
                {
                    "modality": mod,
                    "case": case,
                    "image": image,
                    "boxes": boxes,
                    "gt": gt,
                    "preds": preds,
                    "score": {a: value[a] for a in preds},
                    "slice": z,
                }
            )
            rows += [
                {
                    "modality": mod,
                    "case": case,
                    "slice": z,
                    "algorithm": a,
                    col: value[a],
                    "has_prediction": a in preds,
                }
                for a in algs
            ]
            break
    return examples, pd.DataFrame(
        rows, columns=["modality", "case", "slice", "algorithm", col, "has_prediction"]
    )


def _panel(imgs: np.ndarray, boxes: np.ndarray, gts: np.ndarray, z: int | None):
    """(image, boxes in that slice, reference mask) of slice ``z`` (``None``: 2D)."""
    if z is None:
        return imgs, [tuple(int(v) for v in b[:4]) for b in boxes], gts > 0
    keep = [b for b in boxes if int(b[2]) <= z <= int(b[5])]
    return imgs[z], [(int(b[0]), int(b[1]), int(b[3]), int(b[4])) for b in keep], gts[z] > 0


def load_case_view(
    row: pd.Series,
    algs: Sequence[str],
    run_dir: Path,
    limits: dict[str, Any] | None,
    score: dict[str, float],
    max_input_bytes: int,
) -> tuple[dict | None, str]:
    """The slices a case page draws (:func:`evalkit.report.figures.plot_case`), or
    ``(None, why)``.

    ``row``: the pinned case list's row (``case, dim, input_path, gt_path``); inputs
    larger than ``max_input_bytes`` on disk are not drawn (the page says so). The
    reference panel is the slice with the largest reference area; each algorithm's
    panel is the slice where its prediction and the reference differ in the most
    voxels (ties: the lowest slice). Loaded with the contract's safe loaders.
    """
    inp, gtp = _resolve(row.get("input_path"), run_dir), _resolve(row.get("gt_path"), run_dir)
    if inp is None or gtp is None:
        return None, "input or reference file not found"
    size = inp.stat().st_size + gtp.stat().st_size
    if size > max_input_bytes:
        return None, f"input + reference are {size:,} bytes, above the {max_input_bytes:,} drawn"
    case, dim = str(row["case"]), int(row["dim"])
    try:
        x = load_input(inp, limits, dim=dim)
        g = load_gt(gtp, dim, x.spatial_shape, limits, case=case)
    except ContractError as exc:
        return None, f"input or reference not readable ({exc.reason})"
    ref = g.gts > 0
    if dim == 3:
        area = ref.reshape(ref.shape[0], -1).sum(axis=1)
        z_ref = int(np.argmax(area)) if area.any() else ref.shape[0] // 2
    else:
        z_ref = None
    panels = {z_ref: _panel(x.imgs, x.boxes, g.gts, z_ref)}
    preds: dict[str, tuple[int | None, np.ndarray, int]] = {}
    for alg in algs:
        try:
            seg = (
                load_prediction(
                    RunFolder(run_dir).submission(alg).output(case),
                    x.spatial_shape,
                    limits,
                    case=case,
                )
                > 0
            )
        except (ContractError, RunFolderError):  # no valid output, or a name with no folder
            continue
        wrong = seg != ref
        if dim == 3:
            per = wrong.reshape(wrong.shape[0], -1).sum(axis=1)
            z = int(np.argmax(per)) if per.any() else z_ref
            err = int(per[z])
            if z not in panels:
                panels[z] = _panel(x.imgs, x.boxes, g.gts, z)
            preds[alg] = (z, seg[z], err)
        else:
            preds[alg] = (None, seg, int(wrong.sum()))
    view = {
        "case": case,
        "dim": dim,
        "ref_slice": z_ref,
        "panels": panels,
        "preds": preds,
        "score": score,
    }
    return view, ""
