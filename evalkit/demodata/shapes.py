"""Geometric building blocks of the phantoms: blobs, tubes, smooth fields, placement.

Coordinates are array indices (float, ``(z, y, x)`` in 3D, ``(y, x)`` in 2D).
Shapes are computed inside their own bounding region and returned as
``(slices, mask)`` so that a large volume is never scanned for a small object.
Every random draw goes through the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

Region = tuple[tuple[slice, ...], np.ndarray]


def smooth_noise(rng: np.random.Generator, shape: Sequence[int], scale: float | Sequence[float],
                 order: int = 3) -> np.ndarray:
    """Zero-mean, unit-std random field varying over about ``scale`` pixels (per axis).

    Built by spline-upsampling a coarse grid of Gaussian noise, which is much cheaper
    than filtering full-size noise. Returns float32 with ``shape``.
    """
    shape = tuple(int(s) for s in shape)
    scales = np.broadcast_to(np.asarray(scale, dtype=float), (len(shape),))
    coarse = tuple(max(2, int(np.ceil(s / max(sc, 1.0))) + 2) for s, sc in zip(shape, scales))
    grid = rng.standard_normal(coarse, dtype=np.float32)
    field = ndimage.zoom(grid, [s / c for s, c in zip(shape, coarse)], order=order,
                         mode="nearest", grid_mode=True)
    field = field[tuple(slice(0, s) for s in shape)]
    if field.shape != shape:  # zoom rounding: pad by edge values
        field = np.pad(field, [(0, s - f) for s, f in zip(shape, field.shape)], mode="edge")
    field -= field.mean()
    std = float(field.std())
    return (field / std if std > 0 else field).astype(np.float32, copy=False)


def _region(shape: Sequence[int], center: Sequence[float], extent: Sequence[float]) -> tuple[slice, ...]:
    return tuple(slice(max(0, int(np.floor(c - e))), min(int(s), int(np.ceil(c + e)) + 1))
                 for s, c, e in zip(shape, center, extent))


def blob(rng: np.random.Generator, shape: Sequence[int], center: Sequence[float],
         radii: Sequence[float], *, angle: float = 0.0, irregularity: float = 0.0,
         lobes: int = 3) -> Region:
    """A deformed, rotated ellipse (2D) or ellipsoid (3D), clipped to ``shape``.

    ``radii`` are semi-axes in pixels per axis; ``angle`` (radians) rotates the last
    two axes. ``irregularity`` is the relative amplitude of a smooth radial
    deformation (0: exact ellipse; ~0.08 organ-like; ~0.25 lesion-like); ``lobes`` is
    its highest angular frequency. The shape is star-shaped around ``center``, so it
    is connected, has no holes and contains the center. Returns ``(slices, mask)``;
    the mask can be empty if the blob lies outside the array.
    """
    ndim = len(shape)
    radii = np.maximum(np.asarray(radii, dtype=np.float64), 0.75)
    grow = 1.0 + 1.6 * irregularity
    extent = list(radii * grow + 1.0)
    r_plane = max(radii[-2], radii[-1]) * grow + 1.0
    extent[-2] = extent[-1] = r_plane
    sl = _region(shape, center, extent)
    axes = np.ogrid[tuple(slice(s.start, s.stop) for s in sl)]
    d = [a.astype(np.float32) - np.float32(c) for a, c in zip(axes, center)]
    ca, sa = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u = ca * d[-2] + sa * d[-1]
    v = -sa * d[-2] + ca * d[-1]
    p = [*(d[i] / np.float32(radii[i]) for i in range(ndim - 2)),
         u / np.float32(radii[-2]), v / np.float32(radii[-1])]
    r2 = sum(q * q for q in p)
    r = np.sqrt(r2)
    if irregularity > 0:
        # radial profile: a sum of random plane waves over the direction vector
        inv = 1.0 / np.maximum(r, np.float32(1e-6))
        n = [q * inv for q in p]
        f = np.zeros(r.shape, dtype=np.float32)
        total = 0.0
        for _ in range(6):
            w = rng.standard_normal(ndim)
            w /= np.linalg.norm(w)
            k = rng.uniform(1.0, max(1.0, float(lobes)))
            amp = 1.0 / k
            phase = rng.uniform(0, 2 * np.pi)
            dot = sum(np.float32(wi) * ni for wi, ni in zip(w, n))
            f = f + np.float32(amp) * np.cos(np.float32(k * np.pi) * dot + np.float32(phase))
            total += amp * amp / 2
        f /= np.float32(np.sqrt(total))
        limit = np.clip(1.0 + irregularity * f, 0.4, None)
        mask = r <= limit
    else:
        mask = r <= 1.0
    return sl, np.ascontiguousarray(mask)


def tube(shape: Sequence[int], path: np.ndarray, radius: float | np.ndarray) -> Region:
    """A tube along the first axis of a 3D array (a vessel seen in axial slices).

    ``path`` is ``(D, 2)``: the ``(y, x)`` centre in every slice (NaN: no tube in that
    slice); ``radius`` pixels, scalar or per slice. Returns ``(slices, mask)``.
    """
    D, H, W = shape
    radius = np.broadcast_to(np.asarray(radius, dtype=np.float64), (D,))
    rows = np.flatnonzero(~np.isnan(path[:, 0]))
    rmax = float(radius[rows].max()) + 1.0
    y0 = max(0, int(np.floor(np.nanmin(path[:, 0]) - rmax)))
    y1 = min(H, int(np.ceil(np.nanmax(path[:, 0]) + rmax)) + 1)
    x0 = max(0, int(np.floor(np.nanmin(path[:, 1]) - rmax)))
    x1 = min(W, int(np.ceil(np.nanmax(path[:, 1]) + rmax)) + 1)
    sl = (slice(int(rows.min()), int(rows.max()) + 1), slice(y0, y1), slice(x0, x1))
    yy, xx = np.ogrid[y0:y1, x0:x1]
    mask = np.zeros(tuple(s.stop - s.start for s in sl), dtype=bool)
    for k, z in enumerate(range(sl[0].start, sl[0].stop)):
        if np.isnan(path[z, 0]):
            continue
        mask[k] = (yy - path[z, 0]) ** 2 + (xx - path[z, 1]) ** 2 <= radius[z] ** 2
    return sl, mask


def paint(target: np.ndarray, region: Region, value) -> None:
    """Set ``target`` to ``value`` inside a region mask (value: scalar or region-shaped array)."""
    sl, mask = region
    view = target[sl]
    if np.ndim(value) == 0:
        view[mask] = value
    else:
        view[mask] = np.asarray(value)[mask]


def overlaps(occupied: np.ndarray, region: Region) -> bool:
    """True when the region mask touches any True pixel of ``occupied``."""
    sl, mask = region
    return bool(occupied[sl][mask].any())


def inside(allowed: np.ndarray, region: Region) -> bool:
    """True when the region mask is non-empty and lies entirely in ``allowed``."""
    sl, mask = region
    return bool(mask.any()) and bool(allowed[sl][mask].all())


def mark(occupied: np.ndarray, region: Region, gap: int) -> None:
    """Add the region, grown by ``gap`` pixels, to the ``occupied`` map."""
    sl, mask = region
    if gap <= 0:
        occupied[sl] |= mask
        return
    pad = [(gap, gap)] * mask.ndim
    grown = ndimage.binary_dilation(np.pad(mask, pad), iterations=gap)
    big = tuple(slice(max(0, s.start - gap), min(n, s.stop + gap))
                for s, n in zip(sl, occupied.shape))
    crop = tuple(slice(b.start - (s.start - gap), b.stop - (s.start - gap)) for b, s in zip(big, sl))
    occupied[big] |= grown[crop]


def place_blobs(rng: np.random.Generator, allowed: np.ndarray, occupied: np.ndarray, count: int,
                radius_range: tuple[float, float], *, aspect: Sequence[float] | None = None,
                irregularity: float = 0.1, lobes: int = 3, gap: int = 2,
                max_tries: int = 4000) -> list[Region]:
    """Place ``count`` disjoint blobs inside ``allowed``, away from ``occupied``.

    Radii are drawn from ``radius_range`` (pixels, in-plane), scaled per axis by
    ``aspect`` (default 1 each; e.g. ``(0.3, 1, 1)`` for a thinner z extent);
    each accepted blob is added to ``occupied`` grown by ``gap`` pixels, so later
    blobs keep their distance. When ``max_tries`` draws do not fit all blobs, the
    radius range shrinks by 10% and placement goes on; raises ``RuntimeError`` when
    even tiny blobs no longer fit.
    """
    ndim = allowed.ndim
    aspect = np.ones(ndim) if aspect is None else np.asarray(aspect, dtype=float)
    lo, hi = radius_range
    out: list[Region] = []
    coords = np.argwhere(allowed[tuple(slice(None, None, max(1, s // 64)) for s in allowed.shape)])
    step = np.array([max(1, s // 64) for s in allowed.shape])
    if len(coords) == 0:
        raise RuntimeError("no room to place objects: the allowed region is empty")
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > max_tries:
            lo, hi = lo * 0.9, hi * 0.9
            tries = 0
            if hi < 1.5:
                raise RuntimeError(f"could only place {len(out)} of {count} objects")
        c = coords[rng.integers(len(coords))] * step + rng.uniform(0, 1, ndim) * step
        rad = rng.uniform(lo, hi)
        ell = rng.uniform(0.75, 1.0)
        radii = aspect * rad
        radii[-1] *= ell
        region = blob(rng, allowed.shape, c, radii, angle=rng.uniform(0, np.pi),
                      irregularity=irregularity, lobes=lobes)
        if not inside(allowed, region) or overlaps(occupied, region):
            continue
        mark(occupied, region, gap)
        out.append(region)
    return out


def to_uint8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map of ``[lo, hi]`` to ``0..255`` with clipping, rounded to uint8."""
    y = (np.asarray(x, dtype=np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def percentile_uint8(x: np.ndarray, foreground: np.ndarray, lo_pct: float = 0.5,
                     hi_pct: float = 99.5) -> np.ndarray:
    """The challenge's MR/PET preprocessing: clip to foreground percentiles, rescale to uint8."""
    values = x[foreground] if foreground.any() else x.ravel()
    if values.size > 2_000_000:  # a strided sample is enough for percentiles
        values = values[:: values.size // 2_000_000 + 1]
    lo, hi = np.percentile(values, [lo_pct, hi_pct])
    if hi <= lo:
        hi = lo + 1.0
    return to_uint8(x, float(lo), float(hi))
