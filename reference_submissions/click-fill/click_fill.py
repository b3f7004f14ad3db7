"""Click-aware classical baseline (numpy only): boxes -> ellipsoids, clicks -> balls.

CVPR 2025 interactive input ``/workspace/inputs/<case>.npz``: ``imgs`` uint8
``(D, H, W)``, ``spacing``, optional ``boxes`` (a list of one dict per class:
``z_min, z_max, z_mid, z_mid_x_min, z_mid_y_min, z_mid_x_max, z_mid_y_max``),
from iteration 2 on ``clicks`` (per class ``{'fg': [[z, y, x], ...], 'bg': [...]}``),
``clicks_order`` (per class ``'fg'`` / ``'bg'`` / ``None`` per iteration) and
``prev_pred``. Output ``/workspace/outputs/<case>.npz`` with ``segs``.

Start: ``prev_pred`` when present, else the boxes' ellipsoids (class i = label
i + 1, later classes overwrite). Then every click is replayed in order
(iteration by iteration, class by class): ``fg`` sets the ball around it to the
class, ``bg`` clears the class inside the ball. CVPR24 inputs (numeric ``boxes``
``(N, 4)`` / ``(N, 6)``) get the box-fill answer. Exit status: 0 ok, 2 malformed
input, 1 other failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from case_io import CaseError, load_case, read_members, save_segs

BALL_RADIUS_YX = 4.0  # pixels
BALL_RADIUS_Z = 1.0   # slices


def fill_boxes(shape: tuple[int, ...], boxes: np.ndarray) -> np.ndarray:
    """CVPR24 answer: uint16 map with box i (inclusive coordinates) filled with i."""
    segs = np.zeros(shape, dtype=np.uint16)
    for i, b in enumerate(boxes, start=1):
        if len(shape) == 2:
            x0, y0, x1, y1 = (int(v) for v in b)
            segs[y0:y1 + 1, x0:x1 + 1] = i
        else:
            x0, y0, z0, x1, y1, z1 = (int(v) for v in b)
            segs[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = i
    return segs


def ellipsoid(shape: tuple[int, int, int], box: dict) -> np.ndarray:
    """Bool mask: on slices z_min..z_max the ellipse inscribed in the z_mid box,
    its radii scaled by sqrt(1 - t^2), t the slice's distance from z_mid over the half range."""
    D, H, W = shape
    z0, z1, zm = (int(box[k]) for k in ("z_min", "z_max", "z_mid"))
    x0, y0 = int(box["z_mid_x_min"]), int(box["z_mid_y_min"])
    x1, y1 = int(box["z_mid_x_max"]), int(box["z_mid_y_max"])
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    ry, rx = (y1 - y0) / 2.0 + 0.5, (x1 - x0) / 2.0 + 0.5
    half = max(zm - z0, z1 - zm) + 1.0
    yy, xx = np.ogrid[:H, :W]
    ell = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    mask = np.zeros(shape, dtype=bool)
    for z in range(max(z0, 0), min(z1, D - 1) + 1):
        s = 1.0 - ((z - zm) / half) ** 2
        mask[z] = ell <= max(s, 0.05)
    return mask


def ball(shape: tuple[int, int, int], zyx) -> tuple[tuple[slice, ...], np.ndarray]:
    """The ball around voxel ``zyx`` (radii BALL_RADIUS_Z, BALL_RADIUS_YX) as (box, mask)."""
    z, y, x = (int(v) for v in zyx)
    rz, ryx = int(BALL_RADIUS_Z), int(BALL_RADIUS_YX)
    box = (slice(max(z - rz, 0), min(z + rz + 1, shape[0])),
           slice(max(y - ryx, 0), min(y + ryx + 1, shape[1])),
           slice(max(x - ryx, 0), min(x + ryx + 1, shape[2])))
    zz, yy, xx = np.ogrid[box[0], box[1], box[2]]
    d = ((zz - z) / max(BALL_RADIUS_Z, 0.5)) ** 2 + ((yy - y) ** 2 + (xx - x) ** 2) / BALL_RADIUS_YX ** 2
    return box, d <= 1.0


def replay_clicks(segs: np.ndarray, clicks, order) -> None:
    """Apply every click in the order given (iteration by iteration, class by class), in place."""
    n_cls = len(clicks)
    used = [{"fg": 0, "bg": 0} for _ in range(n_cls)]
    n_iter = max((len(order[c]) for c in range(n_cls)), default=0)
    for it in range(n_iter):
        for c in range(n_cls):
            if it >= len(order[c]):
                continue
            kind = order[c][it]
            if kind not in ("fg", "bg"):
                continue
            k = used[c][kind]
            used[c][kind] += 1
            points = clicks[c][kind]
            if k >= len(points):
                continue
            box, m = ball(segs.shape, points[k])
            view = segs[box]
            if kind == "fg":
                view[m] = c + 1
            else:
                view[m & (view == c + 1)] = 0


def predict_interactive(data: dict) -> np.ndarray:
    imgs = np.asarray(data["imgs"])
    if imgs.ndim != 3:
        raise CaseError(f"key 'imgs': expected shape (D, H, W), found {imgs.shape}")
    shape = imgs.shape
    boxes = list(data["boxes"]) if "boxes" in data else []
    clicks = list(data["clicks"]) if "clicks" in data else []
    order = [list(o) for o in data["clicks_order"]] if "clicks_order" in data else []
    n_cls = max(len(boxes), len(clicks))
    dtype = np.uint8 if n_cls <= 255 else np.uint16
    if "prev_pred" in data and np.asarray(data["prev_pred"]).shape == shape:
        segs = np.asarray(data["prev_pred"]).astype(dtype)
    else:
        segs = np.zeros(shape, dtype=dtype)
        for i, b in enumerate(boxes):
            segs[ellipsoid(shape, b)] = i + 1
    if clicks:
        replay_clicks(segs, clicks, order)
    return segs


def answer(path: Path, outputs: Path) -> str:
    data = read_members(path)  # pickled prompts through case_io's restricted unpickler
    boxes = data.get("boxes")
    if boxes is not None and boxes.dtype != object:  # CVPR24: (N, 4) / (N, 6) box array
        case = load_case(path)
        shape = case.imgs.shape[:2] if case.dim == 2 else case.imgs.shape
        save_segs(outputs / path.name, fill_boxes(shape, case.boxes))
        return f"{len(case.boxes)} boxes (CVPR24)"
    segs = predict_interactive(data)
    tmp = outputs / (path.name + ".part.npz")
    np.savez_compressed(tmp, segs=segs)
    os.replace(tmp, outputs / path.name)
    n_clicks = sum(len(o) for o in data.get("clicks_order", []))
    return f"{int(segs.max())} labels, {n_clicks} click entries"


def main(inputs: str = "/workspace/inputs", outputs: str = "/workspace/outputs") -> int:
    inputs_p, outputs_p = Path(inputs), Path(outputs)
    files = sorted(inputs_p.glob("*.npz"))
    if not files:
        print(f"ERROR: no .npz files in {inputs_p}", file=sys.stderr)
        return 2
    outputs_p.mkdir(parents=True, exist_ok=True)
    status = 0
    for path in files:
        try:
            print(f"{path.name}: {answer(path, outputs_p)}", flush=True)
        except CaseError as exc:
            print(f"ERROR {path.name}: {exc}", file=sys.stderr, flush=True)
            status = max(status, 2)
        except Exception as exc:  # noqa: BLE001 - report, keep going with the next case
            print(f"ERROR {path.name}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
