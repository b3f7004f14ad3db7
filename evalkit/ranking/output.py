"""Writing a :class:`~evalkit.ranking.pipeline.RankingResult` to disk (CSV + JSON).

File names and columns are those of :mod:`evalkit.ranking.schemas`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from evalkit.ranking.pipeline import RankingResult
from evalkit.ranking.schemas import META_FILE, TABLES


def write_ranking(result: RankingResult, out_dir: str | Path) -> list[Path]:
    """Write every table as ``<name>.csv`` (``schemas.TABLES``) and ``ranking_meta.json``
    into ``out_dir`` (created if needed). Files are written to a temporary name and renamed, so a
    crash never leaves a half-written table. Bootstrap tables that are ``None``
    (bootstrap disabled) are not written. Returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        table = getattr(result, name)
        if table is None:
            continue
        path = out / f"{name}.csv"
        tmp = path.with_suffix(".csv.tmp")
        table.to_csv(tmp, index=False)
        os.replace(tmp, path)
        written.append(path)
    meta = out / META_FILE
    tmp = meta.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, meta)
    written.append(meta)
    return written
