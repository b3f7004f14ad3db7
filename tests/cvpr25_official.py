"""Loaders for the official CVPR25_iter_eval.py outputs kept in tests/data/cvpr25/ (README there).

Per submission ``<team>`` (``clickfill``, ``skipiter``): the official metrics CSV
``official/<team>/<team>_metrics.csv``, the official saved predictions
``official/<team>/<case>.npz`` (``segs``, ``all_segs``) and, for all of them,
``official/clicks.json`` (the clicks parsed from the ``--verbose`` log). GT:
``gts/<case>.npz``; spacing and the box flag: ``demodata.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data" / "cvpr25"
OFFICIAL = DATA / "official"


def teams() -> list[str]:
    return sorted(p.name for p in OFFICIAL.iterdir() if p.is_dir())


def metrics_table(team: str) -> pd.DataFrame:
    """The official CSV, indexed by case stem."""
    df = pd.read_csv(OFFICIAL / team / f"{team}_metrics.csv")
    df["case"] = df["CaseName"].str.removesuffix(".npz")
    return df.set_index("case")


def case_info() -> dict[str, dict]:
    return {c["name"]: c for c in json.loads((DATA / "demodata.json").read_text())["cases"]}


def gts(case: str) -> np.ndarray:
    with np.load(DATA / "gts" / f"{case}.npz") as f:
        return f["gts"]


def predictions(team: str, case: str) -> list[np.ndarray | None]:
    """The six iterations' predictions as the official script scored them (uint8 ``all_segs``);
    ``None`` for iteration 1 of a case without boxes (no run: the script saves 5 arrays then)."""
    with np.load(OFFICIAL / team / f"{case}.npz") as f:
        all_segs = list(f["all_segs"])
    if not case_info()[case]["boxes"]:
        assert len(all_segs) == 5
        return [None, *all_segs]
    assert len(all_segs) == 6
    return all_segs


def clicks() -> dict:
    return json.loads((OFFICIAL / "clicks.json").read_text())
