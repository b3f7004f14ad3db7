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


def box_rows(x: Any) -> np.ndarray:
    """The boxes of a loaded input as rows: 2D ``(x0, y0, x1, y1)``, 3D ``(x0, y0, z0, x1,
    y1, z1)`` (the CVPR24 layout). An interactive input's per-class dicts
    (:class:`evalkit.contract.InteractiveInput`) become their ``z_mid`` rectangle over
    ``z_min .. z_max``; an input without boxes gives ``(0, 6)``."""
    boxes = x.boxes
    if boxes is None:
        return np.zeros((0, 6), np.int64)
    if isinstance(boxes, list):
        return np.array(
            [
                [
                    b["z_mid_x_min"],
                    b["z_mid_y_min"],
                    b["z_min"],
                    b["z_mid_x_max"],
                    b["z_mid_y_max"],
                    b["z_max"],
                ]
                for b in boxes
            ],
            np.int64,
        ).reshape(-1, 6)
    return np.asarray(boxes)


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
            image, boxes, gt, z = _slice_2d(x.imgs, box_rows(x), g.gts, dim)
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
    boxes = box_rows(x)
    panels = {z_ref: _panel(x.imgs, boxes, g.gts, z_ref)}
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
                panels[z] = _panel(x.imgs, boxes, g.gts, z)
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


# --------------------------------------------------------------------- interactive runs

MAX_CLICKS_JSON_BYTES = 4_000_000


def read_clicks(path: Path) -> dict[int, list[dict]]:
    """``iterations/<case>/clicks.json`` of the interactive protocol as ``iteration ->
    [{"label", "kind", "zyx"}]`` (the new clicks of that run); ``{}`` when the file is
    absent, a symlink, larger than :data:`MAX_CLICKS_JSON_BYTES` or not of that shape.
    Entries are checked: ``label`` an int, ``kind`` ``"fg"`` / ``"bg"`` / ``None``,
    ``zyx`` three ints or ``None`` (anything else is dropped)."""
    import json

    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_CLICKS_JSON_BYTES:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError:
        return {}
    out: dict[int, list[dict]] = {}
    its = data.get("iterations") if isinstance(data, dict) else None
    for it in its if isinstance(its, list) else []:
        if not isinstance(it, dict) or not isinstance(it.get("iteration"), int):
            continue
        clicks = []
        for c in it.get("clicks") or []:
            if not isinstance(c, dict) or not isinstance(c.get("label"), int):
                continue
            kind, zyx = c.get("kind"), c.get("zyx")
            ok_zyx = (
                isinstance(zyx, list)
                and len(zyx) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in zyx)
            )
            if kind in ("fg", "bg") and ok_zyx:
                clicks.append({"label": c["label"], "kind": kind, "zyx": tuple(zyx)})
            else:
                clicks.append({"label": c["label"], "kind": None, "zyx": None})
        out[int(it["iteration"])] = clicks
    return out


def load_run_view(
    row: pd.Series | dict,
    algs: Sequence[str],
    run_dir: Path,
    limits: dict[str, Any] | None,
    runs: dict[str, dict[int, dict]],
    n_runs: int,
    max_input_bytes: int,
) -> tuple[dict | None, str]:
    """The per-run panels of an interactive case page
    (:func:`evalkit.report.figures.plot_runs`), or ``(None, why)``.

    ``runs``: algorithm -> run ``k`` -> ``{"status", "scored_run", "dsc", "nsd",
    "wall_s"}`` (``scored_run``: the run whose prediction stands for run ``k``, -1 for
    none; its file is ``iterations/<case>/<scored_run>.npz``). Per algorithm and run,
    one panel ``{"z", "image", "gt", "pred", "boxes", "clicks", "elsewhere", "err"}``:
    the slice of that run's first new click when it has one, else the slice where the
    standing prediction and the reference differ most, else the slice of the largest
    reference area; ``pred`` the standing prediction's mask (``None``: no valid file),
    ``boxes`` (run 1 only) the box rectangles on that slice, ``clicks`` ``(y, x, kind)``
    of run ``k``'s new clicks on that slice and ``elsewhere`` how many lie on other
    slices. Every file is read with the contract's safe loaders (no pickle: the
    input's ``boxes`` through the restricted unpickler); inputs above ``max_input_bytes``
    are not drawn.
    """
    inp, gtp = _resolve(row.get("input_path"), run_dir), _resolve(row.get("gt_path"), run_dir)
    if inp is None or gtp is None:
        return None, "input or reference file not found"
    size = inp.stat().st_size + gtp.stat().st_size
    if size > max_input_bytes:
        return None, f"input + reference are {size:,} bytes, above the {max_input_bytes:,} drawn"
    case = str(row["case"])
    try:
        x = load_input(inp, limits, dim=3)
        g = load_gt(gtp, 3, x.spatial_shape, limits, case=case)
    except ContractError as exc:
        return None, f"input or reference not readable ({exc.reason})"
    ref = g.gts > 0
    area = ref.reshape(ref.shape[0], -1).sum(axis=1)
    z_ref = int(np.argmax(area)) if area.any() else ref.shape[0] // 2
    boxes = box_rows(x)
    folder = RunFolder(run_dir)
    rows: dict[str, list[dict | None]] = {}
    for alg in algs:
        try:
            its = folder.submission(alg).iterations_dir(case)
        except RunFolderError:
            continue
        clicks = read_clicks(its / "clicks.json")
        panels: list[dict | None] = []
        for k in range(1, n_runs + 1):
            info = runs.get(alg, {}).get(k)
            if info is None:
                panels.append(None)
                continue
            pred = None
            j = int(info.get("scored_run", -1))
            if j >= 1:
                try:
                    pred = load_prediction(its / f"{j}.npz", x.spatial_shape, limits, case=case) > 0
                except ContractError:
                    pred = None
            new = [c for c in clicks.get(k, []) if c["zyx"] is not None]
            if new:
                z = int(new[0]["zyx"][0])
            elif pred is not None:
                per = (pred != ref).reshape(ref.shape[0], -1).sum(axis=1)
                z = int(np.argmax(per)) if per.any() else z_ref
            else:
                z = z_ref
            z = min(max(z, 0), ref.shape[0] - 1)
            image, slice_boxes, gt = _panel(x.imgs, boxes, g.gts, z)
            panels.append(
                {
                    "z": z,
                    "image": image,
                    "gt": gt,
                    "pred": None if pred is None else pred[z],
                    "boxes": slice_boxes if k == 1 else [],
                    "clicks": [
                        (c["zyx"][1], c["zyx"][2], c["kind"]) for c in new if c["zyx"][0] == z
                    ],
                    "elsewhere": sum(1 for c in new if c["zyx"][0] != z),
                    "err": int((pred[z] != gt).sum()) if pred is not None else None,
                }
            )
            del pred
        rows[alg] = panels
    return {
        "case": case,
        "runs": n_runs,
        "rows": rows,
        "info": runs,
        "has_boxes": x.boxes is not None,
    }, ""
