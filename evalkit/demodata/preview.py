"""A one-page PNG of a generated data set: one case per modality, boxes and GT contours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.contract import ContractError, discover_cases, load_gt, load_input


def _panel_slice(imgs: np.ndarray, gts: np.ndarray, boxes: np.ndarray):
    """2D view of a case: ``(image, labels, boxes as (x0, y0, x1, y1), z or None)``.

    3D: the middle slice of instance 1's z range, with the boxes whose z range
    contains it; without boxes (text cases) the slice with the most GT voxels."""
    if boxes.shape[1] == 4:
        return imgs, gts, boxes, None
    if len(boxes) == 0:  # text case: the slice with the most labelled voxels
        z = int(np.argmax((gts > 0).sum(axis=(1, 2))))
        return imgs[z], gts[z], boxes[:, [0, 1, 3, 4]], z
    z = int((boxes[0, 2] + boxes[0, 5]) // 2)
    keep = (boxes[:, 2] <= z) & (boxes[:, 5] >= z)
    return imgs[z], gts[z], boxes[keep][:, [0, 1, 3, 4]], z


def render_preview(data_dir: str | Path, png: str | Path) -> Path:
    """Draw the first case of every modality found in ``data_dir`` into ``png``.

    Cases are read back through :mod:`evalkit.contract` (so the picture shows what
    was written, validated). Boxes are drawn in cyan, GT contours in lime.
    """
    from matplotlib.figure import Figure  # drawn without pyplot: no backend switch
    from matplotlib.patches import Rectangle

    data_dir = Path(data_dir)
    cases = discover_cases(data_dir / "imgs", data_dir / "gts")
    first = {}
    for case in cases:
        first.setdefault(case.modality, case)
    chosen = list(first.values())
    if not chosen:
        raise ValueError(f"no cases under {data_dir}/imgs")
    cols = min(5, len(chosen))
    rows = int(np.ceil(len(chosen) / cols))
    fig = Figure(figsize=(4 * cols, 4.3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, case in zip(axes.ravel(), chosen):
        try:
            inp, limits = load_input(case), None
        except ContractError as exc:  # a text case (cvpr25-text preset): text_prompts, no boxes
            if exc.key != "boxes":
                raise
            limits = {"inputs": "text"}
            inp = load_input(case, limits)
        gt = load_gt(case.gt_path, case.dim, inp.spatial_shape, limits,
                     n_boxes=None if inp.text is not None else inp.n_instances)
        img, lab, boxes, z = _panel_slice(inp.imgs, gt.gts, inp.boxes)
        ax.imshow(img, cmap=None if img.ndim == 3 else "gray",
                  vmin=0, vmax=255, interpolation="antialiased")
        for label in np.unique(lab[lab > 0]):
            ys, xs = np.nonzero(lab == label)
            y0, y1, x0, x1 = ys.min() - 1, ys.max() + 2, xs.min() - 1, xs.max() + 2
            y0, x0 = max(0, y0), max(0, x0)
            crop = (lab[y0:y1, x0:x1] == label).astype(np.float32)
            ax.contour(np.arange(x0, x0 + crop.shape[1]), np.arange(y0, y0 + crop.shape[0]), crop,
                       levels=[0.5], colors="lime", linewidths=0.7)
        for x0, y0, x1, y1 in boxes:
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1,
                                   fill=False, edgecolor="cyan", linewidth=0.7))
        where = f", slice {z}/{inp.imgs.shape[0]}" if z is not None else ""
        what = (f"{inp.n_instances} instances" if inp.text is None else
                f"{inp.text.kind}: " + ", ".join(inp.text.classes.values())[:40])
        ax.set_title(f"{case.name}\n{tuple(inp.imgs.shape)}, {what}{where}", fontsize=8)
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    return png
