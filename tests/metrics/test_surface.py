"""Surfels, tolerance offsets and surface Dice against the surface-distance package."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from metrics_reference import sd
from scipy import ndimage
from surface_distance import lookup_tables

from evalkit.metrics.surface import (
    offset_lengths,
    surface_overlap,
    surfel_table,
    surfels,
    tolerance_offsets,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SPACINGS_3D = [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (0.7, 1.3, 0.45), (3.0, 0.5, 1.0), (1.25, 1.25, 5.0)]
SPACINGS_2D = [(1.0, 1.0), (0.8, 0.8), (0.5, 1.7), (2.0, 0.9)]


def test_3d_table_is_the_surface_distance_table():
    for sp in SPACINGS_3D:
        ref = lookup_tables.create_table_neighbour_code_to_surface_area(sp)
        np.testing.assert_array_equal(surfel_table("3d", sp).area, ref)
    assert surfel_table("3d", (1.0, 1.0, 1.0)).full_code == 255


def test_slab_table_sums_the_two_3d_layers():
    t3 = lookup_tables.create_table_neighbour_code_to_surface_area((1.0, 1.0, 1.0))
    slab = surfel_table("2d-slab", (1.0, 1.0)).area
    # one pixel: a cube seen from its 4 bottom corners and 4 top corners
    assert slab[0] == 0.0
    assert slab[1] == t3[1] + t3[2]  # pixel at the corner's (+1, +1) neighbour
    assert slab[8] == t3[64] + t3[128]  # pixel at the corner's (0, 0) neighbour
    assert slab[15] == t3[0b01010101] + t3[0b10101010]  # flat faces
    # the slab table's total over one isolated pixel is the cube's surface area (6)
    assert math.isclose(slab[1] + slab[2] + slab[4] + slab[8], sum(t3[c] for c in (1, 2, 4, 8, 16, 32, 64, 128)))


@pytest.mark.parametrize("kind", ["3d", "2d-contour", "2d-slab"])
def test_surfels_and_codes_equal_the_correlation_with_the_deepmind_kernel(kind):
    rng = np.random.default_rng(3)
    ndim = 3 if kind == "3d" else 2
    kernel = (lookup_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL if ndim == 3
              else lookup_tables.ENCODE_NEIGHBOURHOOD_2D_KERNEL)
    table = surfel_table(kind, (1.0,) * ndim)
    for _ in range(30):
        shape = tuple(int(x) for x in rng.integers(1, 21, ndim))
        m = rng.random(shape) < rng.uniform(0.1, 0.9)
        padded = np.pad(m, 1)
        ref = ndimage.correlate(padded.astype(np.uint8), kernel, mode="constant", cval=0)
        # correlate's corner c sits between voxels c-1 and c; ours between c and c+1
        ref = np.pad(ref[(slice(1, None),) * ndim], [(0, 1)] * ndim)
        is_surfel = (ref != 0) & (ref != 255 if ndim == 3 else ref != 15)
        if kind == "2d-slab":
            is_surfel = ref != 0
        got = surfels(padded, table)
        want = np.flatnonzero(is_surfel)
        bits = np.unpackbits(got.bitmap, axis=-1)[..., : padded.shape[-1]]
        np.testing.assert_array_equal(np.flatnonzero(bits), want)
        np.testing.assert_array_equal(got.codes, ref.reshape(-1)[want])


@pytest.mark.parametrize("spacing", SPACINGS_3D + SPACINGS_2D)
@pytest.mark.parametrize("tol", [0.0, 1.0, 2.0, 3.0, 2.4])
def test_tolerance_offsets_are_exactly_those_within_tolerance(spacing, tol):
    offs = tolerance_offsets(spacing, tol)
    assert tuple(offs[0]) == (0,) * len(spacing)
    got = {tuple(int(v) for v in o) for o in offs}
    reach = [int(tol / s) + 3 for s in spacing]
    cand = np.array(list(itertools.product(*[range(-r, r + 1) for r in reach])))
    want = {tuple(int(v) for v in o) for o, d in zip(cand, offset_lengths(cand, spacing)) if d <= tol}
    assert got == want
    lengths = offset_lengths(offs, spacing)
    assert np.all(np.diff(lengths) >= 0)


def test_about_21_offsets_at_tau_2_for_ct_spacing():
    assert len(tolerance_offsets((2.5, 0.8, 0.8), 2.0)) == 21
    assert len(tolerance_offsets((1.0, 1.0, 1.0), 2.0)) == 33


def test_offset_length_formula_is_scipys_edt():
    # The distance of a single surface point to every grid point, via SciPy, equals our formula.
    rng = np.random.default_rng(5)
    for sp in SPACINGS_3D:
        grid = np.ones((7, 7, 7), bool)
        grid[3, 3, 3] = False
        edt = ndimage.distance_transform_edt(grid, sampling=sp)
        offs = np.array(list(itertools.product(range(-3, 4), repeat=3)))
        ours = offset_lengths(offs, sp)
        ref = edt[tuple((offs + 3).T)]
        np.testing.assert_array_equal(ours, ref)
    del rng


def _reference_nsd(g, p, kind, spacing, tol):
    if kind == "2d-slab":
        d = sd.compute_surface_distances(g[..., None], p[..., None], (1.0, 1.0, 1.0))
    else:
        d = sd.compute_surface_distances(g, p, spacing)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(sd.compute_surface_dice_at_tolerance(d, tol))


def _random_mask(rng, shape):
    kind = rng.integers(0, 4)
    if kind == 0:
        return np.zeros(shape, bool)
    if kind == 1:
        return rng.random(shape) < rng.uniform(0.05, 0.7)
    m = np.zeros(shape, bool)  # a few boxes, often touching the border
    for _ in range(rng.integers(1, 4)):
        lo = [int(rng.integers(0, n)) for n in shape]
        hi = [int(rng.integers(a, n)) + 1 for a, n in zip(lo, shape)]
        m[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    if kind == 3:
        m ^= rng.random(shape) < 0.1
    return m


@pytest.mark.parametrize("kind", ["3d", "2d-contour", "2d-slab"])
def test_surface_dice_equals_surface_distance_package(kind):
    rng = np.random.default_rng({"3d": 11, "2d-contour": 12, "2d-slab": 13}[kind])
    ndim = 3 if kind == "3d" else 2
    worst = 0.0
    for _ in range(150):
        shape = tuple(int(x) for x in rng.integers(1, 13 if ndim == 3 else 24, ndim))
        g, p = _random_mask(rng, shape), _random_mask(rng, shape)
        if rng.random() < 0.2:
            p = ndimage.binary_dilation(g, iterations=int(rng.integers(1, 3)))
        if kind == "3d":
            spacing = SPACINGS_3D[rng.integers(len(SPACINGS_3D))]
        elif kind == "2d-contour":
            spacing = SPACINGS_2D[rng.integers(len(SPACINGS_2D))]
        else:
            spacing = (1.0, 1.0)
        tol = float(rng.choice([1.0, 2.0, 3.0]))
        ref = _reference_nsd(g, p, kind, spacing, tol)
        ours = surface_overlap(g, p, kind=kind, spacing=spacing, tolerance_mm=tol).surface_dice
        if math.isnan(ref):
            assert math.isnan(ours), (shape, spacing, tol)
            assert not g.any() and not p.any()
            continue
        worst = max(worst, abs(ref - ours))
        assert abs(ref - ours) <= 1e-12, (shape, spacing, tol, ref, ours)
    assert worst <= 1e-12


def test_exact_ties_at_the_tolerance_count_as_within():
    # two single voxels exactly tau apart along an axis: every surfel pairs at <= tau
    g = np.zeros((1, 1, 9), bool)
    p = np.zeros((1, 1, 9), bool)
    g[0, 0, 1] = True
    p[0, 0, 3] = True
    spacing = (1.0, 1.0, 1.0)
    for tol in (1.0, 2.0, 2.0 - 1e-9, 3.0):
        ref = _reference_nsd(g, p, "3d", spacing, tol)
        ours = surface_overlap(g, p, kind="3d", spacing=spacing, tolerance_mm=tol).surface_dice
        assert ours == pytest.approx(ref, abs=1e-15)
    assert surface_overlap(g, p, kind="3d", spacing=spacing, tolerance_mm=2.0).surface_dice == 1.0
    assert surface_overlap(g, p, kind="3d", spacing=spacing, tolerance_mm=2.0 - 1e-9).surface_dice < 1.0


def test_empty_conventions():
    z = np.zeros((4, 5, 6), bool)
    one = z.copy()
    one[1:3, 1:3, 1:3] = True
    assert math.isnan(surface_overlap(z, z, kind="3d", spacing=(1, 1, 1), tolerance_mm=2).surface_dice)
    assert surface_overlap(one, z, kind="3d", spacing=(1, 1, 1), tolerance_mm=2).surface_dice == 0.0
    assert surface_overlap(z, one, kind="3d", spacing=(1, 1, 1), tolerance_mm=2).surface_dice == 0.0
    assert surface_overlap(one, one, kind="3d", spacing=(1, 1, 1), tolerance_mm=0).surface_dice == 1.0


def test_bad_arguments_are_refused():
    m = np.zeros((3, 3), bool)
    with pytest.raises(ValueError, match="spacing"):
        surface_overlap(m, m, kind="2d-contour", spacing=(1.0, 0.0), tolerance_mm=2)
    with pytest.raises(ValueError, match="kind"):
        surface_overlap(m, m, kind="4d", spacing=(1.0, 1.0), tolerance_mm=2)
    with pytest.raises(ValueError, match="one shape"):
        surface_overlap(m, np.zeros((3, 4), bool), kind="2d-contour", spacing=(1.0, 1.0), tolerance_mm=2)


@pytest.mark.parametrize("kind", ["3d", "2d-contour"])
def test_long_reach_along_the_packed_axis(kind):
    # fine spacing along the last axis: offsets of more than 8 corners (several bytes of bits)
    rng = np.random.default_rng(21)
    spacing = (1.0, 1.0, 0.15) if kind == "3d" else (1.0, 0.15)
    for _ in range(15):
        shape = (4, 5, 40) if kind == "3d" else (6, 45)
        g, p = _random_mask(rng, shape), _random_mask(rng, shape)
        tol = float(rng.choice([1.0, 2.0, 3.0]))
        ref = _reference_nsd(g, p, kind, spacing, tol)
        ours = surface_overlap(g, p, kind=kind, spacing=spacing, tolerance_mm=tol).surface_dice
        assert (math.isnan(ref) and math.isnan(ours)) or abs(ref - ours) <= 1e-12


def test_absurd_tolerance_to_spacing_ratio_is_refused():
    with pytest.raises(ValueError, match="corner offsets"):
        tolerance_offsets((0.001, 0.001, 0.001), 2.0)
    assert len(tolerance_offsets((1.0, 1.0), -1.0)) == 0
