"""2D phantoms: US, X-Ray, Dermoscopy, Endoscopy, Fundus, Microscopy, OCT.

Each function is pure: ``(rng, shape=(H, W), n_instances) -> Phantom`` with
``imgs`` uint8 ``(H, W, 3)`` (grayscale modalities replicate one channel three
times, as the challenge data does), ``gts`` ``(H, W)`` uint8 (uint16 beyond 255
instances) and ``spacing`` ``None``. Sizes are relative to the image, so the same
function serves 64 px test images and 4032 px dermoscopy photographs.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from evalkit.demodata import shapes
from evalkit.demodata.shapes import Region
from evalkit.demodata.volumes import Phantom, check_instances, label_dtype


def _grid(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.ogrid[:H, :W]
    return yy.astype(np.float32), xx.astype(np.float32)


def _gray3(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[:, :, None], 3, axis=2)


def _rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _finish(imgs: np.ndarray, regions: list[Region], n_instances: int, shape) -> Phantom:
    gts = np.zeros(shape, dtype=label_dtype(n_instances))
    for label, reg in enumerate(regions, start=1):
        shapes.paint(gts, reg, label)
    check_instances(gts, n_instances)
    return Phantom(imgs, gts, None)


def _blend(img: np.ndarray, region: Region, color, soft: float = 1.0) -> None:
    """Paint an RGB ``color`` (scalar or (3,) or region-shaped (h, w, 3)) into ``img``
    inside the region, with an edge softened over ``soft`` pixels (outside only, so
    the labelled pixels are fully coloured)."""
    sl, mask = region
    pad = int(np.ceil(2 * soft)) + 1
    big = tuple(slice(max(0, s.start - pad), min(n, s.stop + pad)) for s, n in zip(sl, img.shape[:2]))
    m = np.zeros(tuple(b.stop - b.start for b in big), dtype=np.float32)
    inner = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(sl, big))
    m[inner] = mask
    if soft > 0:
        m = np.maximum(ndimage.gaussian_filter(m, soft), m)
    view = img[big]
    col = np.asarray(color, dtype=np.float32)
    if col.ndim == 3:
        full = view.copy()
        full[inner] = np.where(mask[..., None], col, view[inner])
        col = full
    view[:] = view * (1 - m[..., None]) + col * m[..., None]


# --------------------------------------------------------------------------- US


def us(rng: np.random.Generator, shape: tuple[int, int] = (256, 256), n_instances: int = 1) -> Phantom:
    """B-mode ultrasound: a sector (fan) image with speckle.

    Echogenic tissue with layered subcutaneous bands and depth attenuation; the
    instances are hypoechoic cyst- or nodule-like structures with a bright wall and
    posterior acoustic enhancement. Speckle is multiplicative Rayleigh noise (the
    magnitude of low-pass filtered complex Gaussian noise), then log compression.
    Outside the fan the image is black.
    """
    H, W = shape
    m = min(H, W)
    yy, xx = _grid(H, W)
    ay, ax = -0.06 * H, W / 2
    r = np.sqrt((yy - ay) ** 2 + (xx - ax) ** 2)
    th = np.arctan2(xx - ax, yy - ay)
    half = np.deg2rad(rng.uniform(34, 40))
    r0, r1 = 0.12 * H, 1.02 * H
    fan = (r > r0) & (r < r1) & (np.abs(th) < half)
    depth = (r - r0) / (r1 - r0)
    echo = 0.55 + 0.12 * shapes.smooth_noise(rng, shape, 0.08 * m)
    for k, (d0, dd, val) in enumerate(((0.0, 0.03, 1.0), (0.05, 0.04, 0.3), (0.11, 0.015, 0.9))):
        wav = 0.01 * np.sin(th * (3 + k) + rng.uniform(0, 6))
        echo = np.where((depth > d0 + wav) & (depth < d0 + dd + wav), val, echo)
    allowed = fan & (depth > 0.22) & (depth < 0.92) & (np.abs(th) < half - 0.08)
    occupied = np.zeros(shape, dtype=bool)
    lo, hi = (0.12 * m, 0.2 * m) if n_instances == 1 else (0.06 * m, 0.13 * m)
    regions = shapes.place_blobs(rng, allowed, occupied, n_instances, (lo, hi),
                                 irregularity=0.1, lobes=2, gap=max(2, int(0.03 * m)))
    echo = echo.astype(np.float32)
    for reg in regions:
        sl, mask = reg
        ring = ndimage.binary_dilation(np.pad(mask, 3), iterations=max(1, int(0.012 * m)))
        ring = ring & ~np.pad(mask, 3)
        big = tuple(slice(max(0, s.start - 3), min(n, s.stop + 3)) for s, n in zip(sl, shape))
        crop = tuple(slice(b.start - (s.start - 3), b.stop - (s.start - 3)) for b, s in zip(big, sl))
        echo[big][ring[crop]] = 0.95
        # posterior enhancement: brighter column behind the cyst along the beam
        ys, xs = np.nonzero(mask)
        tz = np.arctan2(xs + sl[1].start - ax, ys + sl[0].start - ay)
        rz = np.sqrt((ys + sl[0].start - ay) ** 2 + (xs + sl[1].start - ax) ** 2)
        behind = (th > tz.min()) & (th < tz.max()) & (r > rz.max())
        echo = np.where(behind, echo * 1.35, echo)
        shapes.paint(echo, reg, float(rng.uniform(0.04, 0.12)))
    echo *= np.exp(-1.1 * depth).astype(np.float32)
    re = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (0.8, 1.8))
    im = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (0.8, 1.8))
    speckle = np.sqrt(re * re + im * im)
    speckle /= speckle.mean()
    x = echo * speckle
    x = np.log1p(30 * x) / np.log1p(30 * 1.6)
    x = np.where(fan, x, 0.0)
    return _finish(_gray3(shapes.to_uint8(x, 0.0, 1.0)), regions, n_instances, shape)


# --------------------------------------------------------------------------- X-Ray


def _xray_chest(rng, shape, n_instances):
    H, W = shape
    yy, xx = _grid(H, W)
    cx = W / 2 + rng.uniform(-0.02, 0.02) * W
    x = np.full(shape, 0.08, dtype=np.float32)
    torso = ((xx - cx) / (0.46 * W)) ** 2 + ((yy - 0.6 * H) / (0.62 * H)) ** 4 < 1
    x[torso] = 0.62
    x += 0.04 * shapes.smooth_noise(rng, shape, 0.1 * min(H, W))
    regions: list[Region] = []
    values = []
    for side in (-1.0, 1.0):  # right lung (image left), then left lung
        lung = shapes.blob(rng, shape, (0.47 * H, cx + side * 0.2 * W),
                           (0.3 * H, 0.13 * W), angle=side * 0.12, irregularity=0.06, lobes=2)
        sl, mask = lung
        yy_l = np.arange(sl[0].start, sl[0].stop)[:, None]
        mask = mask & (yy_l > 0.2 * H)  # flat-ish apex under the clavicle
        regions.append((sl, mask))
        values.append(0.22)
    heart = shapes.blob(rng, shape, (0.66 * H, cx + 0.06 * W), (0.13 * H, 0.13 * W),
                        angle=0.5, irregularity=0.05, lobes=2)
    regions.append(heart)
    values.append(0.78)
    regions = regions[:n_instances]
    spine = np.abs(xx - cx) < 0.05 * W
    x[spine & torso] = 0.8
    for reg, val in zip(regions, values):
        shapes.paint(x, reg, val)
    # ribs: bright arcs over everything in the chest (they also cross the lungs)
    ribs = np.zeros(shape, dtype=np.float32)
    for k in range(9):
        y0 = (0.2 + 0.06 * k) * H
        for side in (-1.0, 1.0):
            u = (xx - cx) * side
            arc = y0 + 0.25 * H * ((u - 0.05 * W) / (0.4 * W)) ** 2 - 0.03 * H
            band = (np.abs(yy - arc) < 0.012 * H) & (u > 0.04 * W) & (u < 0.42 * W)
            ribs[band] = 0.1
    clav = (np.abs(yy - (0.19 * H - 0.1 * np.abs(xx - cx) * H / W)) < 0.014 * H) & (
        np.abs(xx - cx) > 0.03 * W) & (np.abs(xx - cx) < 0.32 * W)
    ribs[clav] = 0.18
    x += ndimage.gaussian_filter(ribs, 1.0) * torso
    return x, regions


def _tooth(shape, occl_y, cx, arch, length, half_w, angle):
    """A tooth: rounded crown at the occlusal line ``occl_y``, root tapering into the jaw
    (up for ``arch`` -1, down for +1), tilted by ``angle`` radians. Returns
    ``(slices, mask, t, u)``: ``t`` runs 0 (biting edge) to 1 (apex), ``u`` -1..1 across."""
    H, W = shape
    ext = length + half_w + 2
    cy = occl_y + arch * length / 2
    sl = (slice(max(0, int(cy - ext)), min(H, int(cy + ext) + 1)),
          slice(max(0, int(cx - ext)), min(W, int(cx + ext) + 1)))
    yy = np.arange(sl[0].start, sl[0].stop, dtype=np.float32)[:, None] - np.float32(occl_y)
    xx = np.arange(sl[1].start, sl[1].stop, dtype=np.float32)[None, :] - np.float32(cx)
    ca, sa = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    t = arch * (yy * ca + xx * sa) / np.float32(length)  # 0 at the biting edge, 1 at the apex
    u = (xx * ca - yy * sa) / np.float32(half_w)  # -1..1 across the crown
    crown_round = np.sqrt(np.clip(1 - ((0.1 - t) / 0.1) ** 2, 0, 1))
    hw = np.where(t < 0.1, crown_round, np.where(
        t < 0.35, 1.0, 1.0 - 0.8 * np.clip((t - 0.35) / 0.65, 0, 1) ** 1.3))
    mask = (t >= 0) & (t <= 1) & (np.abs(u) <= hw)
    return sl, mask, t, u


def _xray_dental(rng, shape, n_instances):
    H, W = shape
    yy, xx = _grid(H, W)
    x = np.full(shape, 0.12, dtype=np.float32)
    jaw = (((xx - W / 2) / (0.48 * W)) ** 2 + ((yy - 0.5 * H) / (0.46 * H)) ** 2) < 1
    x[jaw] = 0.42
    x += 0.05 * shapes.smooth_noise(rng, shape, 0.05 * min(H, W))
    x[(np.abs(yy - 0.5 * H) < 0.025 * H) & jaw] = 0.2  # occlusal gap / tongue shadow
    upper = (n_instances + 1) // 2
    lower = n_instances - upper
    teeth = []
    for arch, count in ((-1.0, upper), (1.0, lower)):  # -1: upper teeth, roots upward
        if count == 0:
            continue
        span = 0.84 * W
        pitch = span / count
        length = 0.4 * H
        for i in range(count):
            cxi = W / 2 - span / 2 + pitch * (i + 0.5) + rng.uniform(-0.03, 0.03) * pitch
            u = (cxi - W / 2) / (span / 2)
            occl = 0.5 * H + arch * 0.035 * H - 0.06 * H * u * u  # smile curve
            half_w = 0.4 * pitch * (0.8 + 0.2 * abs(u)) * rng.uniform(0.92, 1.0)
            teeth.append(_tooth(shape, occl, cxi, arch, length * rng.uniform(0.85, 1.0),
                                half_w, angle=-0.3 * u * arch + rng.uniform(-0.04, 0.04)))
    regions = [(sl, mask) for sl, mask, _, _ in teeth]
    for sl, mask, t, uu in teeth:
        val = np.where(t < 0.3, 0.97, 0.78) - np.where((np.abs(uu) < 0.2) & (t > 0.12) & (t < 0.9),
                                                       0.2, 0.0)
        shapes.paint(x, (sl, mask), val.astype(np.float32))
    return x, regions


def xray(rng: np.random.Generator, shape: tuple[int, int] = (512, 512), n_instances: int = 3) -> Phantom:
    """Radiograph, grayscale replicated to three channels (bone bright, air dark).

    Up to 3 instances: a chest film (right lung, left lung, heart; ribs and clavicles
    cross the lungs). More instances: a dental panoramic film with one instance per
    tooth along the upper and lower arches (Table 6's X-Ray case has 34 objects at
    320 x 640). Mild blur and quantum noise.
    """
    if n_instances <= 3:
        x, regions = _xray_chest(rng, shape, n_instances)
    else:
        x, regions = _xray_dental(rng, shape, n_instances)
    x = ndimage.gaussian_filter(x, 0.8)
    x += 0.02 * rng.standard_normal(shape, dtype=np.float32)
    return _finish(_gray3(shapes.to_uint8(x, 0.0, 1.0)), regions, n_instances, shape)


# --------------------------------------------------------------------------- Dermoscopy


def _hairs(rng, img, count, width):
    H, W = img.shape[:2]
    mask = np.zeros((H, W), dtype=bool)
    for _ in range(count):
        p0 = rng.uniform(0, 1, 2) * (H, W)
        p1 = p0 + rng.normal(0, 0.35, 2) * (H, W)
        pc = (p0 + p1) / 2 + rng.normal(0, 0.1, 2) * (H, W)
        t = np.linspace(0, 1, int(np.hypot(*(p1 - p0)) / max(1.0, width / 2)) + 2)[:, None]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * pc + t * t * p1
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < H) & (pts[:, 1] >= 0) & (pts[:, 1] < W)
        idx = pts[ok].astype(int)
        mask[idx[:, 0], idx[:, 1]] = True
    if width > 1:
        mask = ndimage.binary_dilation(mask, iterations=int(width // 2))
    return mask


def dermoscopy(rng: np.random.Generator, shape: tuple[int, int] = (600, 800),
               n_instances: int = 1) -> Phantom:
    """Dermoscopic photograph: skin, pigmented lesion(s), hairs, dark lens corners.

    Skin tone with smooth colour variation and fine texture; each instance is an
    irregular, variegated lesion: a light tan periphery fading toward the skin, a
    dark mottled body with a pigment network, and pale grey-pink regression areas
    (all inside the label, so a global threshold misses the light parts);
    a few dark hairs cross skin and lesion alike (the annotation is unaffected),
    and the corners outside the dermoscope's round field are dark.
    """
    H, W = shape
    m = min(H, W)
    yy, xx = _grid(H, W)
    skin = np.array([222.0, 172.0, 150.0], dtype=np.float32) + rng.normal(0, 8, 3).astype(np.float32)
    var = shapes.smooth_noise(rng, shape, 0.2 * m)
    fine = shapes.smooth_noise(rng, shape, max(1.5, 0.006 * m))
    img = skin + (10 * var + 4 * fine)[..., None] * np.array([1.0, 0.9, 0.8], dtype=np.float32)
    allowed = np.zeros(shape, dtype=bool)
    allowed[int(0.12 * H): int(0.88 * H), int(0.12 * W): int(0.88 * W)] = True
    occupied = np.zeros(shape, dtype=bool)
    lo, hi = (0.2 * m, 0.3 * m) if n_instances == 1 else (0.06 * m, 0.13 * m)
    regions = shapes.place_blobs(rng, allowed, occupied, n_instances, (lo, hi),
                                 irregularity=0.2, lobes=4, gap=max(3, int(0.03 * m)))
    for reg in regions:
        _sl, mask = reg
        dist = ndimage.distance_transform_edt(mask)
        depth = np.clip(dist / max(1.0, float(dist.max()) * 0.6), 0, 1)
        mott = shapes.smooth_noise(rng, mask.shape, max(2.0, 0.03 * m))
        # variegated lesion: a light tan periphery that fades toward the skin, a dark
        # pigment network in the body, and pale grey-pink regression areas inside it
        tan = np.array([196.0, 146.0, 122.0], dtype=np.float32)
        brown = np.array([150.0, 95.0, 70.0], dtype=np.float32)
        dark = np.array([75.0, 45.0, 40.0], dtype=np.float32)
        a = np.clip(0.2 + 0.6 * depth + 0.2 * mott, 0, 1)[..., None]
        col = brown * (1 - a) + dark * a
        rim = np.clip(1.0 - dist / max(1.0, 0.3 * float(dist.max())), 0, 1)
        rim = np.clip(rim + 0.35 * shapes.smooth_noise(rng, mask.shape, max(2.0, 0.05 * m)), 0, 1)
        col = col * (1 - rim[..., None]) + tan * rim[..., None]
        net = np.abs(shapes.smooth_noise(rng, mask.shape, max(1.5, 0.008 * m))) < 0.35
        col = np.where((net & (rim < 0.5))[..., None], col * 0.7, col)
        regress = (shapes.smooth_noise(rng, mask.shape, max(2.0, 0.06 * m)) > 0.7) & (depth > 0.25)
        pale = np.array([208.0, 178.0, 176.0], dtype=np.float32) + 8 * mott[..., None]
        col = np.where(regress[..., None], pale, col)
        col = ndimage.gaussian_filter(col, (max(1.0, 0.004 * m), max(1.0, 0.004 * m), 0))
        _blend(img, reg, col, soft=max(1.0, 0.004 * m))
    hair = _hairs(rng, img, int(rng.integers(3, 8)), max(1.0, 0.004 * m))
    img[hair] = img[hair] * 0.25 + np.array([40.0, 28.0, 22.0], dtype=np.float32) * 0.75
    r = np.sqrt(((yy - H / 2) / (H / 2)) ** 2 + ((xx - W / 2) / (W / 2)) ** 2) / np.sqrt(2)
    vignette = np.clip(1.0 - 3.5 * np.clip(r - 0.82, 0, None), 0.05, 1.0)
    img *= vignette[..., None]
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return _finish(_rgb_uint8(img), regions, n_instances, shape)


# --------------------------------------------------------------------------- Endoscopy


def endoscopy(rng: np.random.Generator, shape: tuple[int, int] = (480, 560),
              n_instances: int = 1) -> Phantom:
    """Colonoscopy frame: pink mucosa with folds, a dark lumen, polyp(s), glare.

    The field of view is a rounded octagon on black. Each instance is a raised
    polyp: redder than the mucosa, lit from the scope (bright top, shaded rim),
    with specular highlights. Intensity falls off toward the dark lumen.
    """
    H, W = shape
    m = min(H, W)
    yy, xx = _grid(H, W)
    fov = (np.abs(xx - W / 2) < 0.48 * W) & (np.abs(yy - H / 2) < 0.49 * H) & (
        np.abs(xx - W / 2) + np.abs(yy - H / 2) < 0.62 * (H + W) / 2)
    ly, lx = (0.5 + rng.uniform(-0.2, 0.2)) * H, (0.5 + rng.uniform(-0.25, 0.25)) * W
    dl = np.sqrt((yy - ly) ** 2 + (xx - lx) ** 2) / m
    light = np.clip(0.25 + 1.6 * dl, 0.1, 1.1)
    ang = np.arctan2(yy - ly, xx - lx)
    folds = 0.5 + 0.5 * np.sin(18 * dl + 1.5 * np.sin(3 * ang + rng.uniform(0, 6))
                               + 2 * shapes.smooth_noise(rng, shape, 0.15 * m))
    shade = light * (0.8 + 0.25 * folds)
    mucosa = np.array([205.0, 115.0, 100.0], dtype=np.float32)
    img = mucosa * shade[..., None]
    vessels = np.abs(shapes.smooth_noise(rng, shape, 0.04 * m)) < 0.04
    img[vessels] *= np.array([0.85, 0.7, 0.72], dtype=np.float32)
    allowed = fov & (dl > 0.22) & (np.abs(xx - W / 2) < 0.4 * W) & (np.abs(yy - H / 2) < 0.4 * H)
    occupied = dl < 0.18
    lo, hi = (0.14 * m, 0.22 * m) if n_instances == 1 else (0.06 * m, 0.12 * m)
    regions = shapes.place_blobs(rng, allowed, occupied.copy(), n_instances, (lo, hi),
                                 irregularity=0.1, lobes=2, gap=max(3, int(0.03 * m)))
    for reg in regions:
        sl, mask = reg
        dist = ndimage.distance_transform_edt(mask)
        dome = np.sqrt(np.clip(dist / max(1.0, float(dist.max())), 0, 1))
        ys = np.linspace(1.0, -1.0, mask.shape[0], dtype=np.float32)[:, None]
        lit = 0.75 + 0.3 * dome + 0.12 * ys
        polyp = np.array([240.0, 165.0, 130.0], dtype=np.float32)
        col = np.minimum(polyp * lit[..., None], 255.0)
        _blend(img, reg, col, soft=max(1.0, 0.003 * m))
        # specular highlights near the top of the dome, clipped to the polyp
        polyp_full = np.zeros(shape, dtype=bool)
        polyp_full[sl] = mask
        cy_, cx_ = np.argwhere(dist == dist.max())[0]
        for _ in range(3):
            hy = sl[0].start + cy_ - rng.uniform(0.1, 0.5) * dist.max()
            hx = sl[1].start + cx_ + rng.uniform(-0.4, 0.4) * dist.max()
            hsl, hmask = shapes.blob(rng, shape, (hy, hx), (0.012 * m, 0.02 * m),
                                     angle=rng.uniform(0, 3), irregularity=0.2)
            hl = (hsl, hmask & polyp_full[hsl])
            shapes.paint(img, hl, 250.0)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    img[~fov] = 0
    return _finish(_rgb_uint8(img), regions, n_instances, shape)


# --------------------------------------------------------------------------- Fundus


def _vessel_tree(rng, shape, start, disc_r, n_main):
    H, W = shape
    m = min(H, W)
    mask = np.zeros(shape, dtype=np.float32)
    stack = []
    base = rng.uniform(0, 2 * np.pi)
    for k in range(n_main):
        a = base + 2 * np.pi * k / n_main + rng.uniform(-0.3, 0.3)
        r0 = 0.55 * disc_r  # vessels emerge at the rim of the cup
        stack.append((float(start[0]) + r0 * np.sin(a), float(start[1]) + r0 * np.cos(a), a,
                      0.011 * m, 0))
    step = max(1.0, 0.006 * m)
    while stack:
        y, x, a, w, depth = stack.pop()
        length = int(rng.uniform(0.25, 0.45) * m / step)
        for _ in range(length):
            a += rng.normal(0, 0.12)
            y += step * np.sin(a)
            x += step * np.cos(a)
            if not (0 <= y < H and 0 <= x < W):
                break
            rr = max(0.6, w / 2)
            y0, y1 = int(max(0, y - rr - 1)), int(min(H, y + rr + 2))
            x0, x1 = int(max(0, x - rr - 1)), int(min(W, x + rr + 2))
            gy, gx = np.ogrid[y0:y1, x0:x1]
            mask[y0:y1, x0:x1] = np.maximum(mask[y0:y1, x0:x1],
                                            ((gy - y) ** 2 + (gx - x) ** 2 <= rr * rr))
            w *= 0.995
            if depth < 3 and rng.uniform() < 0.025:
                stack.append((y, x, a + rng.choice([-1, 1]) * rng.uniform(0.4, 0.9), w * 0.7, depth + 1))
                w *= 0.85
            if w < 0.002 * m:
                break
    return mask


def fundus(rng: np.random.Generator, shape: tuple[int, int] = (768, 768), n_instances: int = 2) -> Phantom:
    """Colour fundus photograph: circular field on black, vessels, disc, macula.

    Orange-red retina darkening toward the rim of the circular field, a dark
    macula, a vessel tree branching from the optic disc and crossing it. Instances,
    in label order: the optic disc (yellow, bright on its temporal side and dim on
    its nasal rim, with a pale peripapillary-atrophy crescent outside it), the optic
    cup (whiter, inside the disc, so it overwrites part of label 1), then bright
    exudate-like lesions.
    """
    H, W = shape
    m = min(H, W)
    yy, xx = _grid(H, W)
    R = 0.48 * m
    cy, cx = H / 2, W / 2
    rr = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / R
    field = rr < 1.0
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    dy, dx = cy + rng.uniform(-0.06, 0.06) * R, cx + side * 0.5 * R
    disc_r = 0.16 * R
    retina = np.array([205.0, 85.0, 35.0], dtype=np.float32)
    tex = shapes.smooth_noise(rng, shape, 0.05 * m)
    bright = np.clip(1.05 - 0.55 * rr ** 3, 0.2, 1.1) * (1 + 0.05 * tex)
    mac = np.exp(-(((yy - cy) ** 2 + (xx - (cx - side * 0.1 * R)) ** 2) / (0.18 * R) ** 2))
    bright = bright * (1 - 0.35 * mac)
    img = retina * bright[..., None]
    regions: list[Region] = []
    disc = shapes.blob(rng, shape, (dy, dx), (disc_r * 1.08, disc_r), angle=0.0,
                       irregularity=0.04, lobes=2)
    regions.append(disc)
    cup = shapes.blob(rng, shape, (dy + rng.uniform(-0.1, 0.1) * disc_r,
                                   dx + rng.uniform(-0.1, 0.1) * disc_r),
                      (0.5 * disc_r, 0.45 * disc_r), angle=0.0, irregularity=0.05, lobes=2)
    regions.append(cup)
    regions = regions[:n_instances]
    # peripapillary atrophy: a pale crescent beside the disc (outside the label), about
    # as bright as the disc's dim nasal rim
    ddist = np.sqrt(((yy - dy) / 1.08) ** 2 + (xx - dx) ** 2) / disc_r
    crescent = np.clip(1 - np.abs(ddist - 1.18) / 0.2, 0, 1) * np.clip(
        np.cos(np.arctan2(yy - dy, xx - dx) - (np.pi if side > 0 else 0.0)), 0, 1)
    img = img * (1 - 0.45 * crescent[..., None]) + np.array(
        [225.0, 150.0, 85.0], dtype=np.float32) * 0.45 * crescent[..., None]
    # the disc: brighter on its temporal side (toward the macula), dim nasal rim
    sl_d, m_d = disc
    gx = (xx[:, sl_d[1]] - dx) / disc_r * (-side)
    ramp = np.broadcast_to(np.clip(0.5 + 0.5 * gx, 0, 1), m_d.shape).astype(np.float32)
    disc_col = (np.array([232.0, 158.0, 80.0], dtype=np.float32) * (1 - ramp[..., None])
                + np.array([250.0, 195.0, 110.0], dtype=np.float32) * ramp[..., None])
    _blend(img, disc, disc_col, soft=max(1.5, 0.008 * m))
    if n_instances >= 2:
        _blend(img, cup, np.array([250.0, 212.0, 150.0], dtype=np.float32), soft=max(1.5, 0.006 * m))
    vessels = _vessel_tree(rng, shape, (dy, dx), disc_r, int(rng.integers(4, 7)))
    vessels = ndimage.gaussian_filter(vessels, max(0.5, 0.0015 * m))
    on_cup = ddist < 0.5
    vessels = np.where(on_cup, 0.5 * vessels, np.where(ddist < 1.05, 0.75 * vessels, vessels))
    img = img * (1 - 0.6 * vessels[..., None]) + np.array([120.0, 20.0, 15.0],
                                                          dtype=np.float32) * 0.6 * vessels[..., None]
    extra = n_instances - len(regions)
    if extra > 0:
        allowed = field & (rr < 0.85)
        occupied = np.zeros(shape, dtype=bool)
        for reg in regions[:1]:
            shapes.mark(occupied, reg, max(3, int(0.05 * m)))
        more = shapes.place_blobs(rng, allowed, occupied, extra, (0.015 * m, 0.03 * m),
                                  irregularity=0.2, gap=3)
        for reg in more:
            _blend(img, reg, np.array([240.0, 220.0, 110.0], dtype=np.float32), soft=1.0)
        regions += more
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    img[~field] = 0
    return _finish(_rgb_uint8(img), regions, n_instances, shape)


# --------------------------------------------------------------------------- Microscopy


def _grow(region: Region, width: int, shape) -> Region:
    """The region dilated by ``width`` pixels (clipped to ``shape``)."""
    sl, mask = region
    big = tuple(slice(max(0, a.start - width), min(n, a.stop + width)) for a, n in zip(sl, shape))
    m = np.zeros(tuple(b.stop - b.start for b in big), dtype=bool)
    m[tuple(slice(a.start - b.start, a.stop - b.start) for a, b in zip(sl, big))] = mask
    return big, ndimage.binary_dilation(m, iterations=width)


def microscopy(rng: np.random.Generator, shape: tuple[int, int] = (768, 1024),
               n_instances: int = 60, style: str | None = None) -> Phantom:
    """Cell microscopy: many small cells in clumps, touching or overlapping, one instance per cell.

    ``style`` is ``"fluorescence"`` (bright nuclei with chromatin texture on a dark
    background) or ``"brightfield"`` (purple stained nuclei on a pale pink
    background); ``None`` draws one. Cells are placed in clumps and grown so that
    neighbours touch or overlap (a later cell covers an earlier one), so a cell's
    box holds parts of its neighbours. Cell radii shrink with the count.
    """
    H, W = shape
    m = min(H, W)
    if style is None:
        style = "fluorescence" if rng.uniform() < 0.5 else "brightfield"
    r_mean = min(0.06 * m, float(np.sqrt(0.2 * H * W / (np.pi * max(n_instances, 1)))))
    allowed = np.zeros(shape, dtype=bool)
    b = max(2, int(0.01 * m))
    allowed[b:H - b, b:W - b] = True
    # cells grow in clumps: most are placed inside clustered patches, then grown so
    # that neighbours touch or overlap (a later cell covers an earlier one there)
    clumps = shapes.smooth_noise(rng, shape, 3.0 * r_mean) > 0.4
    occupied = np.zeros(shape, dtype=bool)
    grow = max(1, round(0.45 * r_mean))
    try:
        seeds = shapes.place_blobs(rng, allowed & clumps, occupied, n_instances,
                                   (0.6 * r_mean, 0.9 * r_mean), irregularity=0.1, lobes=3,
                                   gap=1, max_tries=600)
    except RuntimeError:
        occupied[:] = False
        seeds = shapes.place_blobs(rng, allowed, occupied, n_instances,
                                   (0.6 * r_mean, 0.9 * r_mean), irregularity=0.1, lobes=3, gap=1)
    regions = [_grow(reg, grow, shape) for reg in seeds]
    if style == "fluorescence":
        img = np.zeros((H, W, 3), dtype=np.float32) + np.array([8.0, 10.0, 14.0], dtype=np.float32)
        img += 6 * np.abs(shapes.smooth_noise(rng, shape, 0.1 * m))[..., None]
        hue = np.array([60.0, 200.0, 90.0], dtype=np.float32) if rng.uniform() < 0.5 else \
            np.array([70.0, 110.0, 235.0], dtype=np.float32)
        for reg in regions:
            _sl, mask = reg
            chrom = shapes.smooth_noise(rng, mask.shape, max(1.5, 0.25 * r_mean))
            level = rng.uniform(0.55, 1.0) * (0.85 + 0.15 * chrom)
            _blend(img, reg, hue * level[..., None], soft=max(0.7, 0.05 * r_mean))
        img += rng.normal(0, 3.0, img.shape).astype(np.float32)
    else:
        img = np.zeros((H, W, 3), dtype=np.float32) + np.array([238.0, 222.0, 232.0], dtype=np.float32)
        img += (8 * shapes.smooth_noise(rng, shape, 0.08 * m))[..., None] * np.array(
            [0.6, 1.0, 0.7], dtype=np.float32)
        for reg in regions:
            _sl, mask = reg
            chrom = shapes.smooth_noise(rng, mask.shape, max(1.5, 0.25 * r_mean))
            col = np.array([95.0, 60.0, 145.0], dtype=np.float32) * (
                rng.uniform(0.8, 1.1) + 0.12 * chrom)[..., None]
            _blend(img, reg, col, soft=max(0.7, 0.05 * r_mean))
        img += rng.normal(0, 3.0, img.shape).astype(np.float32)
    return _finish(_rgb_uint8(img), regions, n_instances, shape)


# --------------------------------------------------------------------------- OCT


def oct(rng: np.random.Generator, shape: tuple[int, int] = (496, 512), n_instances: int = 3) -> Phantom:
    """Retinal OCT B-scan: layered bands with a foveal pit, speckle, grayscale x3.

    Dark vitreous on top; retinal layers (nerve fibre, ganglion cell, plexiform,
    nuclear, photoreceptor, RPE) as gently curved bands of alternating
    reflectivity; choroid below. The instances are the fluid lesions that OCT
    segmentation targets (RETOUCH-style), each dark and well delimited: label 1 an
    intraretinal cyst, label 2 subretinal fluid (a dome between retina and RPE),
    label 3 a pigment epithelial detachment (the RPE band lifted over a dark
    dome), then further cysts. Thin full-width layers are not instances: a box
    around a 500 x 15 px band is not a fair prompt for a SAM-style model (the
    LiteMedSAM baseline scored DSC ~0.02 on one).
    """
    H, W = shape
    yy, xx = _grid(H, W)
    xc = W * (0.5 + rng.uniform(-0.08, 0.08))
    tilt = rng.uniform(-0.02, 0.02)
    curve = 0.03 * H * ((xx - W / 2) / W) ** 2 * 4 + tilt * (xx - W / 2)
    pit = np.exp(-((xx - xc) / (0.09 * W)) ** 2)
    bruch = 0.62 * H + curve  # baseline RPE position
    # pigment epithelial detachment: the RPE lifted over a dome, away from the fovea
    ped_side = 1.0 if rng.uniform() < 0.5 else -1.0
    px = xc + ped_side * rng.uniform(0.22, 0.28) * W
    pw, ph = rng.uniform(0.07, 0.1) * W, rng.uniform(0.05, 0.07) * H
    lift = ph * np.sqrt(np.clip(1 - ((xx - px) / pw) ** 2, 0, 1)) if n_instances >= 3 else 0 * xx
    rpe = bruch - lift
    thick = 0.26 * H * (1 - 0.35 * pit)
    ilm = rpe - thick
    inner = 0.45 * (1 - 0.85 * pit)  # inner retina fraction shrinks at the fovea
    t = (yy - ilm) / (rpe - ilm)  # 0 at ILM, 1 at RPE top
    refl = np.full(shape, 0.012, dtype=np.float32)
    refl = np.where((t >= 0) & (t < 1), 0.3, refl)
    for a, b, val in ((0.0, 0.22, 0.8), (0.22, 0.48, 0.42), (0.48, 0.62, 0.58),
                      (0.62, 0.82, 0.18), (0.82, 1.0, 0.55)):
        refl = np.where((t >= a * inner) & (t < b * inner), val, refl)
    refl = np.where((t >= inner) & (t < 0.84), 0.12, refl)  # outer nuclear layer (dark)
    refl = np.where((t >= 0.84) & (t < 0.89), 0.5, refl)  # ellipsoid zone
    refl = np.where((t >= 0.89) & (t < 1.0), 0.08, refl)  # outer segments
    band = 0.035 * H
    refl = np.where((yy >= rpe) & (yy < rpe + band), 1.0, refl)  # RPE
    chor = (yy >= bruch + band) & (yy < bruch + 0.14 * H)
    refl = np.where(chor, 0.22 * np.exp(-(yy - bruch) / (0.1 * H)), refl)
    full = tuple(slice(0, n) for n in shape)
    occupied = np.zeros(shape, dtype=bool)
    # subretinal fluid: a dome between the photoreceptors and the RPE, near the fovea
    sx = xc + rng.uniform(-0.05, 0.05) * W
    sw, sh = 0.11 * W, 0.045 * H
    srf = (np.abs(xx - sx) < sw) & (yy < rpe) & (
        yy > rpe - sh * np.sqrt(np.clip(1 - ((xx - sx) / sw) ** 2, 0, 1)))
    ped = (lift > 0) & (yy >= rpe + band) & (yy < bruch + band)
    if n_instances >= 2:
        occupied |= ndimage.binary_dilation(srf, iterations=3)
    if n_instances >= 3:
        occupied |= ndimage.binary_dilation(ped, iterations=3)
    cyst_allowed = (t > 0.4) & (t < 0.8) & (np.abs(xx - xc) > 0.03 * W) & (xx > 0.08 * W) & (
        xx < 0.92 * W) & (np.abs(xx - px) > pw + 0.02 * W)
    cysts = shapes.place_blobs(rng, cyst_allowed, occupied, 1, (0.025 * H, 0.045 * H),
                               aspect=(1.0, 1.4), irregularity=0.08, gap=3)
    regions: list[Region] = [cysts[0], (full, srf), (full, ped)][:n_instances]
    extra = n_instances - len(regions)
    if extra > 0:
        regions += shapes.place_blobs(rng, cyst_allowed, occupied, extra, (0.015 * H, 0.03 * H),
                                      aspect=(1.0, 1.4), irregularity=0.08, gap=3)
    for reg in regions:
        shapes.paint(refl, reg, 0.03)
    re = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (0.7, 1.5))
    im = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (0.7, 1.5))
    speckle = np.sqrt(re * re + im * im)
    speckle /= speckle.mean()
    x = np.log1p(40 * refl * speckle) / np.log1p(40 * 1.3)
    return _finish(_gray3(shapes.to_uint8(x, 0.2, 1.0)), regions, n_instances, shape)
