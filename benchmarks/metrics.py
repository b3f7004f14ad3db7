"""Benchmark: evalkit's DSC/NSD against an official-style computation, same run.

Builds the two cases of ``shared/spec/metrics.md`` (a 200x512x512 CT-like case
with 6 instances at spacing (2.5, 0.8, 0.8), and a 1536x2040 2D case with 200
instances; predictions perturbed by dilation, erosion, shift and deletion),
writes them as ``.npy`` files to a temporary folder, then times each side in its
own subprocess (so peak RSS, ``ru_maxrss``, is that side's alone):

* ``official``: the CVPR24 scorer's procedure: every label over the full
  arrays, ``surface_distance.compute_surface_distances`` +
  ``compute_surface_dice_at_tolerance`` (2D through ``(H, W, 1)`` slabs at
  spacing (1, 1, 1)), DSC gate at 0.2. The PyPI wheel still uses ``np.Inf`` and
  ``np.NaN``; this benchmark process (only) sets them back for NumPy 2.
* ``evalkit``: ``evalkit.metrics.score_arrays`` in official mode.
* with ``--distances``, also ``evalkit+HD95/ASSD``: the same with
  ``[metrics] enabled = ["DSC", "NSD", "HD95", "ASSD"]`` (time and memory of the
  lazily computed surface distances; not part of the targets).

Prints per-case seconds (median of ``--repeat`` runs, loading excluded), peak
RSS (loading included, the same arrays on both sides), the speed-up and the
largest per-label difference of DSC and NSD.

    .venv/bin/python benchmarks/metrics.py [--repeat 3] [--seed 0] [--distances]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

CT_SHAPE = (200, 512, 512)
CT_SPACING = (2.5, 0.8, 0.8)
SHAPE_2D = (1536, 2040)
N_2D = 200
TOLERANCE = 2.0


# ----------------------------------------------------------------- case generation
def _blob(shape: tuple[int, ...], radii: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bumpy ellipsoid/ellipse filling a box of ``shape`` (bool)."""
    axes = [np.linspace(-1.0, 1.0, n) for n in shape]
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    r2 = sum((g * n / (2 * r)) ** 2 for g, n, r in zip(grids, shape, radii))
    angle = np.arctan2(grids[-1], grids[-2])
    bump = 1.0 + 0.12 * np.sin(3 * angle + rng.uniform(0, 6.3)) + 0.06 * np.cos(5 * angle)
    return r2 <= bump**2


def _perturb(mask: np.ndarray, how: str) -> np.ndarray:
    if how == "dilate":
        return ndimage.binary_dilation(mask, iterations=2)
    if how == "erode":
        return ndimage.binary_erosion(mask, iterations=2)
    if how == "shift":
        shift = (1, 3, -2) if mask.ndim == 3 else (3, -2)
        return ndimage.shift(mask.astype(np.uint8), shift, order=0) > 0
    if how == "delete":
        return np.zeros_like(mask)
    return mask.copy()


def make_ct_case(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """CT-like 3D case: 6 organ-like instances, uint8 label maps, spacing (2.5, 0.8, 0.8)."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(CT_SHAPE, np.uint8)
    pred = np.zeros(CT_SHAPE, np.uint8)
    # (z, y, x) centre, (z, y, x) radii in voxels, prediction perturbation
    organs = [
        ((95, 240, 175), (42, 150, 130), "dilate"),  # liver
        ((90, 230, 390), (28, 70, 55), "erode"),  # spleen
        ((115, 320, 140), (20, 45, 35), "shift"),  # left kidney
        ((115, 320, 372), (20, 45, 35), "delete"),  # right kidney
        ((100, 290, 256), (75, 18, 18), "dilate"),  # aorta-like tube
        ((80, 190, 300), (15, 35, 90), "shift"),  # pancreas-like
    ]
    for label, (centre, radii, how) in enumerate(organs, start=1):
        box = tuple(slice(c - r - 4, c + r + 5) for c, r in zip(centre, radii))
        shape = tuple(s.stop - s.start for s in box)
        mask = _blob(shape, np.array(radii, float), rng)
        gt[box][mask] = label
        pred[box][_perturb(mask, how)] = label
    return gt, pred, CT_SPACING


def make_2d_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2D case: 200 cell-like instances on 1536x2040, uint16 label maps."""
    rng = np.random.default_rng(seed + 1)
    gt = np.zeros(SHAPE_2D, np.uint16)
    pred = np.zeros(SHAPE_2D, np.uint16)
    kinds = ["dilate", "erode", "shift", "same", "dilate", "shift", "erode", "same", "dilate", "delete"]
    for label in range(1, N_2D + 1):
        for _attempt in range(1000):  # non-overlapping boxes: every label stays in the GT
            radii = rng.uniform(8, 40, 2)
            shape = tuple(int(2 * r + 12) for r in radii)
            y = int(rng.integers(0, SHAPE_2D[0] - shape[0]))
            x = int(rng.integers(0, SHAPE_2D[1] - shape[1]))
            box = (slice(y, y + shape[0]), slice(x, x + shape[1]))
            if not gt[box].any():
                break
        mask = _blob(shape, radii, rng)
        gt[box][mask] = label
        pred[box][_perturb(mask, kinds[label % len(kinds)])] = label
    return gt, pred


# ----------------------------------------------------------------- the two sides
def official_side(gt: np.ndarray, pred: np.ndarray, spacing, dim: int) -> dict:
    """The official CVPR24 procedure, label by label over the full arrays."""
    from surface_distance import metrics as sd

    labels = range(1, int(gt.max()) + 1)
    dsc, nsd = [], []
    for i in labels:
        g, p = gt == i, pred == i
        dsc.append(sd.compute_dice_coefficient(g, p))
    case_dsc = np.mean(dsc)
    if case_dsc > 0.2:
        for i in labels:
            g, p = gt == i, pred == i
            if dim == 2:
                g, p, sp = g[..., None], p[..., None], (1.0, 1.0, 1.0)
            else:
                sp = spacing
            d = sd.compute_surface_distances(g, p, sp)
            nsd.append(sd.compute_surface_dice_at_tolerance(d, TOLERANCE))
    return {"labels": list(labels), "dsc": [float(x) for x in dsc], "nsd": [float(x) for x in nsd]}


def evalkit_side(gt: np.ndarray, pred: np.ndarray, spacing, dim: int) -> dict:
    from evalkit.metrics.case import score_arrays

    settings = _EVALKIT_SETTINGS[0]
    _, inst = score_arrays(gt, pred, spacing=spacing, dim=dim, settings=settings)
    return {
        "labels": [int(x) for x in inst["label"]],
        "dsc": [float(x) for x in inst["dsc"]],
        "nsd": [float(x) for x in inst["nsd"]],
    }


_EVALKIT_SETTINGS: list = []


def _peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (MB).

    ``VmHWM`` of /proc/self/status belongs to this process's own address space;
    ``ru_maxrss`` can carry the parent's RSS at fork over an exec, so it is only
    the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare(side: str) -> None:
    """Imports and set-up outside the timed region (both sides alike)."""
    if side == "official":
        np.Inf = np.inf  # the surface-distance 0.1 wheel predates NumPy 2 (this process only)
        np.NaN = np.nan
        import surface_distance.metrics  # noqa: F401
    else:
        import evalkit.metrics.case  # noqa: F401
        from evalkit.config import load_challenge
        from evalkit.metrics import settings_from_challenge

        settings = settings_from_challenge(load_challenge())
        if side == "evalkit-distances":
            import dataclasses

            settings = dataclasses.replace(settings, enabled=("DSC", "NSD", "HD95", "ASSD"))
        _EVALKIT_SETTINGS.append(settings)


def _child(side: str, folder: Path, repeat: int) -> None:
    warnings.simplefilter("ignore")
    _prepare(side)
    gt = np.load(folder / "gt.npy", allow_pickle=False)
    pred = np.load(folder / "pred.npy", allow_pickle=False)
    meta = json.loads((folder / "meta.json").read_text())
    spacing = tuple(meta["spacing"]) if meta["spacing"] else None
    fn = official_side if side == "official" else evalkit_side
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(gt, pred, spacing, meta["dim"])
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    out.update(seconds=statistics.median(times), all_seconds=times, cpu_seconds=statistics.median(cpu),
               peak_rss_mb=_peak_rss_mb())
    print(json.dumps(out))


def _run_side(side: str, folder: Path, repeat: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", side, "--folder", str(folder), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{side} side failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _max_diff(a: list[float], b: list[float]) -> float:
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    if a_.shape != b_.shape:
        return float("inf")
    both_nan = np.isnan(a_) & np.isnan(b_)
    d = np.abs(a_ - b_)
    d[both_nan] = 0.0
    return float(np.nanmax(d, initial=0.0)) if not np.isnan(d).any() else float("inf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--distances", action="store_true",
                    help="also time evalkit with HD95 and ASSD enabled (reported, not a target)")
    ap.add_argument("--child", choices=["official", "evalkit", "evalkit-distances"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.folder, args.repeat)
        return 0

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, seed {args.seed}, "
          f"tolerance {TOLERANCE} mm, median of {args.repeat} runs, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        cases = []
        gt, pred, spacing = make_ct_case(args.seed)
        cases.append(("3D CT-like 200x512x512, 6 instances", gt, pred, spacing, 3))
        gt2, pred2 = make_2d_case(args.seed)
        cases.append(("2D 1536x2040, 200 instances", gt2, pred2, None, 2))
        for name, g, p, sp, dim in cases:
            folder = Path(tmp) / f"case{dim}d"
            folder.mkdir()
            np.save(folder / "gt.npy", g)
            np.save(folder / "pred.npy", p)
            (folder / "meta.json").write_text(json.dumps({"spacing": sp, "dim": dim}))
        del gt, pred, gt2, pred2, cases[:]
        for dim, name in ((3, "3D CT-like 200x512x512, 6 instances, spacing (2.5, 0.8, 0.8)"),
                          (2, "2D 1536x2040, 200 instances")):
            folder = Path(tmp) / f"case{dim}d"
            off = _run_side("official", folder, args.repeat)
            evk = _run_side("evalkit", folder, args.repeat)
            speedup = off["seconds"] / evk["seconds"]
            cpu_speedup = off["cpu_seconds"] / evk["cpu_seconds"]
            d_dsc = _max_diff(off["dsc"], evk["dsc"])
            d_nsd = _max_diff(off["nsd"], evk["nsd"]) if off["nsd"] else float("nan")
            print(f"\n== {name}")
            for label, side in (("official-style", off), ("evalkit", evk)):
                print(f"  {label:15s}: {side['seconds']:8.3f} s wall ({side['cpu_seconds']:7.3f} s CPU)"
                      f"   peak RSS {side['peak_rss_mb']:7.1f} MB")
            if args.distances:
                dist = _run_side("evalkit-distances", folder, args.repeat)
                print(f"  {'evalkit+HD95/ASSD':15s}: {dist['seconds']:8.3f} s wall ({dist['cpu_seconds']:7.3f} s CPU)"
                      f"   peak RSS {dist['peak_rss_mb']:7.1f} MB")
            print(f"  speed-up       : {speedup:8.1f} x wall ({cpu_speedup:.1f} x CPU)")
            print(f"  labels         : {len(off['labels'])} official, {len(evk['labels'])} evalkit")
            print(f"  max |diff| DSC : {d_dsc:.3e}   NSD : {d_nsd:.3e}")
            print(f"  case DSC {np.mean(off['dsc']):.4f}  NSD "
                  f"{np.mean(off['nsd']) if off['nsd'] else 0.0:.4f}")
            target_rss = dim != 3 or evk["peak_rss_mb"] < 400
            case_ok = speedup >= 15 and d_dsc <= 1e-12 and d_nsd <= 1e-12 and target_rss
            print(f"  target (>=15x, <=1e-12{', <400 MB' if dim == 3 else ''}): "
                  f"{'met' if case_ok else 'NOT met'}")
            ok &= case_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
