"""3D phantoms: CT (abdomen), MR (brain) and PET (whole-body lesions).

Each function is pure: it takes a random generator, the volume shape ``(D, H, W)``,
the number of instances and the voxel spacing, and returns a :class:`Phantom`
``(imgs uint8 (D, H, W), gts uint8/uint16 (D, H, W), spacing float64 (3,))``.
Spacing is in millimetres in stored order (D, H, W), i.e. slice thickness first.
Objects are placed as fractions of the field of view, so one layout serves every
size from 8x64x64 to 287x512x512.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from evalkit.demodata import shapes
from evalkit.demodata.shapes import Region


class Phantom(NamedTuple):
    """A generated case: ``imgs`` (uint8), ``gts`` (integer labels), ``spacing`` (None in 2D)."""

    imgs: np.ndarray
    gts: np.ndarray
    spacing: np.ndarray | None


def label_dtype(n_instances: int) -> np.dtype:
    """uint8 while the labels fit, uint16 beyond 255 instances."""
    return np.dtype(np.uint8) if n_instances <= 255 else np.dtype(np.uint16)


def check_instances(gts: np.ndarray, n_instances: int) -> None:
    """Raise ``RuntimeError`` when a label ``1..n`` ended up with no voxel (a generator bug)."""
    present = np.bincount(gts.ravel(), minlength=n_instances + 1)[1: n_instances + 1]
    missing = np.flatnonzero(present == 0) + 1
    if missing.size:
        raise RuntimeError(f"phantom lost instances {missing.tolist()} (overwritten or clipped)")


def _in_plane(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.ogrid[:H, :W]
    return yy.astype(np.float32), xx.astype(np.float32)


def _add_noise_chunked(vol: np.ndarray, rng: np.random.Generator, sigma: float,
                       blur: tuple[float, float, float] = (0.0, 0.0, 0.0), chunk: int = 32) -> None:
    """Add (optionally in-plane correlated) Gaussian noise of std ``sigma``, slab by slab."""
    for z0 in range(0, vol.shape[0], chunk):
        n = rng.standard_normal(vol[z0:z0 + chunk].shape, dtype=np.float32)
        if any(blur):
            n = ndimage.gaussian_filter(n, blur)
            n /= max(float(n.std()), 1e-6)
        vol[z0:z0 + chunk] += np.float32(sigma) * n


# --------------------------------------------------------------------------- CT

CT_WINDOW = (40.0, 400.0)  # level, width in HU (soft tissue)


def ct(rng: np.random.Generator, shape: tuple[int, int, int] = (32, 256, 256), n_instances: int = 4,
       spacing: tuple[float, float, float] = (2.5, 0.8, 0.8)) -> Phantom:
    """Contrast-enhanced abdominal CT, windowed to soft tissue (WL 40, WW 400 HU).

    Instances, in label order: liver, a hypodense liver lesion (inside the liver, so
    it overwrites part of label 1), right kidney, left kidney, spleen, aorta (a tube
    through nearly all slices), then soft-tissue masses in the abdominal fat.
    Background: air, subcutaneous fat, muscle wall, visceral fat, spine with discs,
    psoas and back muscles, bowel loops with gas, a food-filled stomach pressed
    against the liver and duodenum/pancreas-like soft tissue of kidney-like density
    touching the kidneys and spleen (not instances: they enter the boxes). Smooth partial-volume blur, correlated noise (~14 HU).
    """
    D, H, W = shape
    m = min(H, W)
    yy, xx = _in_plane(H, W)
    cy = H * (0.52 + rng.uniform(-0.02, 0.02))
    cx = W * (0.5 + rng.uniform(-0.02, 0.02))
    ay, ax = 0.36 * H, 0.45 * W

    def pt(v: float, u: float) -> tuple[float, float]:  # body coordinates -> pixels
        return cy + v * ay, cx + u * ax

    rb = np.sqrt(((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2)
    hu2 = np.full((H, W), -1000.0, dtype=np.float32)
    hu2[rb < 1.0] = -100.0
    hu2[rb < 0.94] = 45.0
    hu2[rb < 0.87] = -80.0
    texture = shapes.smooth_noise(rng, (H, W), 0.03 * m)
    hu2 += np.where(rb < 0.87, 15.0 * texture, 0.0).astype(np.float32)
    vy, vx = pt(0.58, 0.0)
    rv = 0.055 * m
    for dv, du, r_y, r_x in ((0.02, -0.2, 0.09, 0.06), (0.02, 0.2, 0.09, 0.06),
                             (0.75, -0.12, 0.12, 0.1), (0.75, 0.12, 0.12, 0.1)):
        ey, ex = pt(dv, du)
        if dv < 0.5:  # psoas: beside the vertebral body
            ey = vy - 0.05 * ay
        hu2[((yy - ey) / (r_y * ay)) ** 2 + ((xx - ex) / (r_x * ax)) ** 2 < 1] = 50.0
    rr = np.sqrt((yy - vy) ** 2 + (xx - vx) ** 2)
    spinous = ((yy - (vy + 1.6 * rv)) / (0.9 * rv)) ** 2 + ((xx - vx) / (0.3 * rv)) ** 2 < 1
    cortex = (rr < rv) | spinous
    hu = np.empty(shape, dtype=np.float32)
    hu[:] = hu2
    bone = np.where(rr < 0.8 * rv, 300.0, 750.0).astype(np.float32)
    disc_period = max(2, round(30.0 / spacing[0]))
    for z in range(D):
        in_disc = (z % disc_period) < max(1, round(6.0 / spacing[0]))
        hu[z][cortex] = 80.0 if in_disc else bone[cortex]

    gts = np.zeros(shape, dtype=label_dtype(n_instances))
    occupied = np.zeros(shape, dtype=bool)
    zs = lambda f: f * D

    def organ(zc, zr, v, u, rv_, ru_, angle, irr, lobes=2):
        cyy, cxx = pt(v, u)
        return shapes.blob(rng, shape, (zs(zc), cyy, cxx),
                           (max(1.5, zs(zr)), rv_ * ay, ru_ * ax), angle=angle,
                           irregularity=irr, lobes=lobes)

    j = lambda s: rng.uniform(-s, s)
    regions: list[tuple[Region, object]] = []
    liver = organ(0.55 + j(0.03), 0.4, -0.2 + j(0.03), -0.4 + j(0.03), 0.45, 0.36,
                  0.5 + j(0.1), 0.13, lobes=2)
    liver_tex = 130.0 + 6.0 * shapes.smooth_noise(rng, liver[1].shape, 4.0)
    regions.append((liver, liver_tex))
    # lesion: inside the liver, about a quarter of its size
    lz, ly, lx = (float(np.mean(a)) for a in np.nonzero(liver[1]))
    off = liver[0]
    lesion = shapes.blob(rng, shape, (off[0].start + lz + j(0.08) * D,
                                      off[1].start + ly + j(0.08) * ay,
                                      off[2].start + lx + j(0.06) * ax),
                         (max(1.5, 0.12 * D), 0.11 * ay, 0.1 * ax), angle=rng.uniform(0, np.pi),
                         irregularity=0.2, lobes=3)
    regions.append((lesion, 25.0))

    def kidney(side: float) -> tuple[Region, np.ndarray]:
        reg = organ(0.42 + j(0.03), 0.28, 0.47 + j(0.02), 0.38 * side + j(0.02), 0.2, 0.12,
                    -0.45 * side, 0.05)
        _sl, mask = reg
        dist = ndimage.distance_transform_edt(mask, sampling=(spacing[0] / spacing[1], 1, 1))
        tex = np.where(dist > 0.035 * m, 150.0, 205.0).astype(np.float32)
        return reg, tex

    for side in (-1.0, 1.0):
        regions.append(kidney(side))
    spleen = organ(0.62 + j(0.03), 0.25, -0.12 + j(0.03), 0.6 + j(0.02), 0.26, 0.13,
                   -0.6 + j(0.1), 0.1)
    regions.append((spleen, 122.0))
    ay_, ax_ = pt(0.3, 0.06)
    z0, z1 = round(0.03 * D), max(round(0.03 * D) + 1, round(0.97 * D))
    path = np.full((D, 2), np.nan)
    zz = np.arange(z0, z1)
    path[z0:z1, 0] = ay_ + 0.01 * m * np.sin(zz / max(D, 1) * 3.0)
    path[z0:z1, 1] = ax_ + 0.01 * m * np.cos(zz / max(D, 1) * 2.0)
    regions.append((shapes.tube(shape, path, max(1.5, 0.028 * m)), 270.0))

    regions = regions[:n_instances]
    for reg, _ in regions:
        if reg is not lesion:
            shapes.mark(occupied, reg, 2)
    extra = n_instances - len(regions)
    if extra > 0:
        allowed = np.broadcast_to(rb < 0.8, shape).copy()
        allowed[: max(1, int(0.1 * D))] = False
        allowed[D - max(1, int(0.1 * D)):] = False
        masses = shapes.place_blobs(rng, allowed, occupied, extra, (0.04 * m, 0.07 * m),
                                    aspect=(spacing[1] / spacing[0], 1.0, 1.0),
                                    irregularity=0.2, gap=3)
        regions += [(r, 45.0 + 10.0 * rng.standard_normal()) for r in masses]
    # bowel loops (not instances): grey walls with gas, in the free abdominal fat
    free = np.broadcast_to((rb < 0.75) & (np.abs(xx - cx) < 0.35 * ax) & (yy < cy + 0.2 * ay),
                           shape).copy()
    try:
        loops = shapes.place_blobs(rng, free, occupied.copy(), 5, (0.035 * m, 0.06 * m),
                                   aspect=(spacing[1] / spacing[0], 1.0, 1.0), irregularity=0.1,
                                   gap=2, max_tries=300)
    except RuntimeError:
        loops = []
    for sl, mask in loops:
        gas = ndimage.binary_erosion(mask, iterations=max(1, int(0.012 * m)))
        shapes.paint(hu, (sl, mask), 35.0)
        shapes.paint(hu, (sl, gas), -850.0 if rng.uniform() < 0.6 else 15.0)
    # stomach (not an instance): enhancing wall and food-filled lumen of soft-tissue
    # density, pressed against the medial side of the liver and inside its box
    lsl = liver[0]
    ys_, xs_ = np.nonzero(liver[1].any(axis=0))
    sy = lsl[1].start + float(np.mean(ys_)) - 0.1 * ay
    sx = lsl[2].start + float(xs_.max()) - 0.02 * ax
    stomach = organ(0.6, 0.3, (sy - cy) / ay, (sx - cx) / ax, 0.24, 0.16, 0.3 + j(0.1), 0.12)
    shapes.paint(hu, stomach, 105.0)
    s_in = (stomach[0], ndimage.binary_erosion(stomach[1], iterations=max(1, int(0.015 * m))))
    food = 70.0 + 15.0 * shapes.smooth_noise(rng, stomach[1].shape, 3.0)
    shapes.paint(hu, s_in, food)
    # duodenum / pancreatic tail (not instances): soft tissue touching each kidney's
    # anterior-medial side, of about the kidney medulla's density
    for reg, _ in regions:
        if reg is lesion or reg is liver or reg[1].ndim != 3:
            continue
        ksl, kmask = reg
        kz, ky, kx = (float(np.mean(a)) for a in np.nonzero(kmask))
        if not (0.3 * H < ksl[1].start + ky < 0.9 * H) or abs(ksl[2].start + kx - cx) < 0.2 * ax:
            continue
        toward = -1.0 if ksl[2].start + kx > cx else 1.0
        nb = organ((ksl[0].start + kz) / D, 0.25, (ksl[1].start + ky - cy) / ay - 0.17,
                   (ksl[2].start + kx - cx) / ax + toward * 0.1, 0.11, 0.1, rng.uniform(0, 3), 0.15)
        shapes.paint(hu, nb, 135.0 + 10.0 * rng.standard_normal())
    for label, (reg, value) in enumerate(regions, start=1):
        shapes.paint(hu, reg, value)
        shapes.paint(gts, reg, label)
    check_instances(gts, n_instances)

    hu = ndimage.gaussian_filter(hu, (0.3, 0.6, 0.6), output=hu)
    _add_noise_chunked(hu, rng, 14.0, blur=(0.0, 0.8, 0.8))
    level, width = CT_WINDOW
    imgs = shapes.to_uint8(hu, level - width / 2, level + width / 2)
    return Phantom(imgs, gts, np.asarray(spacing, dtype=np.float64))


# --------------------------------------------------------------------------- MR


def mr(rng: np.random.Generator, shape: tuple[int, int, int] = (28, 224, 224), n_instances: int = 3,
       spacing: tuple[float, float, float] = (4.0, 0.9, 0.9)) -> Phantom:
    """Contrast-enhanced T1 brain MR with a smooth bias field and Rician noise.

    Head: bright scalp fat, dark skull, thin dark CSF, grey matter with folded
    (gyral) white matter inside, falx. Instances, in label order: an enhancing
    tumour (bright, irregular), left and right lateral ventricles (dark CSF), then
    bright round lesions (metastasis-like) in the white matter. Intensities are
    clipped to the 0.5-99.5 percentiles of the head and rescaled to uint8, as the
    challenge preprocessing did.
    """
    D, H, W = shape
    m = min(H, W)
    yy, xx = _in_plane(H, W)
    cy, cx = H * 0.5, W * 0.5
    hy, hx = 0.42 * H, 0.36 * W
    zc = (D - 1) / 2
    sig = np.zeros(shape, dtype=np.float32)
    head = np.zeros(shape, dtype=bool)
    wm_allowed = np.zeros(shape, dtype=bool)
    theta = np.arctan2(yy - cy, xx - cx)
    gyri = 0.035 * np.cos(14 * theta + rng.uniform(0, 6.3)) + 0.02 * np.cos(23 * theta)
    folds = shapes.smooth_noise(rng, (H, W), 0.025 * m)
    for z in range(D):
        s = float(np.sqrt(max(0.3, 1.0 - ((z - zc) / (0.75 * D)) ** 2)))
        r = np.sqrt(((yy - cy) / (hy * s)) ** 2 + ((xx - cx) / (hx * s)) ** 2)
        sl = sig[z]
        sl[r < 1.0] = 0.85        # scalp fat
        sl[r < 0.95] = 0.12       # skull
        sl[r < 0.9] = 0.22        # CSF
        sl[r < 0.875] = 0.48      # grey matter
        wm = r < 0.74 + gyri + 0.03 * folds
        sl[wm] = 0.7              # white matter
        falx = (np.abs(xx - cx) < max(0.6, 0.004 * m)) & (r < 0.88) & (yy < cy + 0.1 * H)
        sl[falx] = 0.25
        head[z] = r < 1.0
        wm_allowed[z] = (r < 0.62) & (np.abs(xx - cx) > 0.05 * W)
    texture = shapes.smooth_noise(rng, shape, (2.0, 0.02 * m, 0.02 * m), order=1)
    sig += np.where(head, np.float32(0.03) * texture, np.float32(0.0))
    del texture

    gts = np.zeros(shape, dtype=label_dtype(n_instances))
    occupied = np.zeros(shape, dtype=bool)
    j = lambda s: rng.uniform(-s, s)
    zr = lambda f: max(1.5, f * D)
    regions: list[tuple[Region, float]] = []
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    tumour = shapes.blob(rng, shape, ((0.55 + j(0.05)) * D, (0.38 + j(0.04)) * H,
                                      cx + side * (0.2 + j(0.03)) * W),
                         (zr(0.16), 0.085 * m, 0.075 * m), angle=rng.uniform(0, np.pi),
                         irregularity=0.22, lobes=3)
    regions.append((tumour, 1.0))
    for s_ in (-1.0, 1.0):
        vent = shapes.blob(rng, shape, ((0.55 + j(0.02)) * D, (0.5 + j(0.02)) * H,
                                        cx + s_ * 0.055 * W),
                           (zr(0.2), 0.16 * H, 0.035 * W), angle=s_ * 0.18,
                           irregularity=0.1, lobes=2)
        regions.append((vent, 0.1))
    regions = regions[:n_instances]
    for reg, _ in regions:
        shapes.mark(occupied, reg, 3)
    extra = n_instances - len(regions)
    if extra > 0:
        mets = shapes.place_blobs(rng, wm_allowed, occupied, extra, (0.025 * m, 0.045 * m),
                                  aspect=(spacing[1] / spacing[0], 1.0, 1.0),
                                  irregularity=0.12, gap=3)
        regions += [(r, 0.95) for r in mets]
    for label, (reg, value) in enumerate(regions, start=1):
        shapes.paint(sig, reg, value)
        shapes.paint(gts, reg, label)
    check_instances(gts, n_instances)

    sig = ndimage.gaussian_filter(sig, (0.3, 0.7, 0.7), output=sig)
    # multiplicative bias field: smooth, +-25 % over the head
    zz = ((np.arange(D, dtype=np.float32) - zc) / max(D, 1))[:, None, None]
    ny, nx = ((yy - cy) / H)[None], ((xx - cx) / W)[None]
    c = rng.uniform(-1, 1, 6).astype(np.float32)
    bias = np.exp(np.float32(0.45) * (c[0] * ny + c[1] * nx + 0.5 * c[2] * zz + c[3] * ny * nx
                                      + c[4] * ny * ny + c[5] * nx * nx)).astype(np.float32)
    sig *= bias
    # Rician noise: magnitude of a complex signal with Gaussian noise in both channels
    sigma = np.float32(0.035)
    for z0 in range(0, D, 32):
        blk = sig[z0:z0 + 32]
        n1 = rng.standard_normal(blk.shape, dtype=np.float32)
        n2 = rng.standard_normal(blk.shape, dtype=np.float32)
        blk[:] = np.sqrt((blk + sigma * n1) ** 2 + (sigma * n2) ** 2)
    imgs = shapes.percentile_uint8(sig, head)
    return Phantom(imgs, gts, np.asarray(spacing, dtype=np.float64))


# --------------------------------------------------------------------------- PET


def pet(rng: np.random.Generator, shape: tuple[int, int, int] = (40, 192, 192), n_instances: int = 2,
        spacing: tuple[float, float, float] = (3.0, 4.0, 4.0)) -> Phantom:
    """Whole-body FDG PET at low resolution: blurred hot lesions on low uptake.

    Activity (SUV-like): body 1, liver 2.2, heart wall 4, kidneys 3, bladder 9 at
    the caudal end; instances are hot lesions (SUV 7-12), placed in the trunk away
    from the hot organs. Point-spread blur (~1.2 voxel), count-like noise with
    variance proportional to activity, percentile rescale to uint8.
    """
    D, H, W = shape
    m = min(H, W)
    yy, xx = _in_plane(H, W)
    cy, cx = H * 0.5, W * 0.5
    ay, ax = 0.3 * H, 0.42 * W
    act = np.zeros(shape, dtype=np.float32)
    rb2 = np.sqrt(((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2)
    body2 = rb2 < 1.0
    act[:] = np.where(body2, 1.0, 0.02).astype(np.float32)
    act[:, (rb2 > 0.9) & body2] = 0.7
    hot = np.zeros(shape, dtype=bool)
    organs = [
        # (zc, zr, y, x, ry, rx, value)
        (0.3, 0.14, -0.25, 0.1, 0.22, 0.15, 4.0),      # heart
        (0.45, 0.18, -0.1, -0.35, 0.45, 0.3, 2.2),     # liver
        (0.55, 0.12, 0.45, -0.35, 0.2, 0.12, 3.0),     # kidneys
        (0.55, 0.12, 0.45, 0.35, 0.2, 0.12, 3.0),
        (0.93, 0.07, 0.0, 0.0, 0.25, 0.14, 9.0),       # bladder
    ]
    for zc, zr, v, u, rv, ru, value in organs:
        reg = shapes.blob(rng, shape, (zc * D, cy + v * ay, cx + u * ax),
                          (max(1.5, zr * D), rv * ay, ru * ax), irregularity=0.05, lobes=2)
        shapes.paint(act, reg, value)
        shapes.mark(hot, reg, 0)
    gts = np.zeros(shape, dtype=label_dtype(n_instances))
    occupied = ndimage.binary_dilation(hot, iterations=2) if hot.any() else hot
    allowed = np.broadcast_to(rb2 < 0.8, shape).copy()
    margin = max(1, int(0.06 * D))
    allowed[:margin] = False
    allowed[D - margin:] = False
    lesions = shapes.place_blobs(rng, allowed, occupied, n_instances, (0.035 * m, 0.06 * m),
                                 aspect=(spacing[1] / spacing[0], 1.0, 1.0),
                                 irregularity=0.07, lobes=2, gap=3)
    for label, reg in enumerate(lesions, start=1):
        shapes.paint(act, reg, float(rng.uniform(7.0, 12.0)))
        shapes.paint(gts, reg, label)
    check_instances(gts, n_instances)
    act = ndimage.gaussian_filter(act, (0.8, 1.2, 1.2), output=act)
    for z0 in range(0, D, 32):
        blk = act[z0:z0 + 32]
        blk += np.float32(0.18) * np.sqrt(np.maximum(blk, 0)) * rng.standard_normal(
            blk.shape, dtype=np.float32)
    imgs = shapes.percentile_uint8(act, np.broadcast_to(body2, shape))
    return Phantom(imgs, gts, np.asarray(spacing, dtype=np.float64))
