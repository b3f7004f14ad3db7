"""Small case folders for tests: a few cases copied out of a generated demo preset."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def demo_subset(work: Path, out: Path, preset: str, cases: Sequence[str], seed: int = 0) -> Path:
    """Generate ``preset`` (``evalkit demo-data``) under ``work`` and copy ``cases`` (names
    without ``.npz``) into ``out/imgs`` and ``out/gts``, with the matching rows of the
    preset's ``manifest.csv`` when it writes one. Returns ``out``."""
    from evalkit.demodata.generate import generate

    generate(work, preset=preset, seed=seed)
    for sub in ("imgs", "gts"):
        (out / sub).mkdir(parents=True)
        for case in cases:
            shutil.copy(work / sub / f"{case}.npz", out / sub / f"{case}.npz")
    if (work / "manifest.csv").is_file():
        manifest = pd.read_csv(work / "manifest.csv")
        manifest[manifest["case"].isin(cases)].to_csv(out / "manifest.csv", index=False)
    return out
