"""Creating and re-opening a run folder (its paths are :mod:`evalkit.runfolder`).

Layout (see docs/design.md)::

    reports/<run>/
      challenge.toml        merged challenge configuration (pinned at creation)
      run.json              versions, seed, command lines, creation time
      cases.csv             pinned case list: case, modality, dim, input_path, gt_path, sha256
      submissions/<sub>/    runner: image.json, journal.jsonl, logs/, outputs/
      scores/<sub>/         metrics: cases.csv, instances.csv
      results.csv           long table for ranking (task, case, algorithm, metric, value)
      ranking/              ranking tables
      report/               leaderboard, figures, index.html

A run folder is created once and then only appended to: re-opening it with a
different configuration or case set is an error, so results never mix settings.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pandas as pd

from evalkit.config import Challenge
from evalkit.provenance import versions
from evalkit.runfolder import RunFolder, RunFolderError, atomic_write_text
from evalkit.runner.intake import sha256_file

_PACKAGES = ("evalkit", "numpy", "scipy", "pandas", "docker", "statsmodels", "matplotlib",
             "surface-distance", "psutil")


def open_run(root: Path, challenge: Challenge, cases: pd.DataFrame, command: list[str]) -> RunFolder:
    """Create ``root`` or re-open it after checking that configuration and cases are unchanged.

    ``cases`` has columns ``case, modality, dim, input_path, gt_path``; the sha256 of each
    input and GT file is added and pinned. Raises :class:`RunFolderError` when an existing
    run was made with another configuration or another case set.
    """
    run = RunFolder(Path(root))
    pinned = cases.copy()
    pinned["input_sha256"] = [sha256_file(Path(p)) for p in pinned["input_path"]]
    pinned["gt_sha256"] = [sha256_file(Path(p)) if isinstance(p, str) and p else "" for p in pinned["gt_path"]]
    config_text = challenge.to_toml()

    if run.config_path.exists():
        if run.config_path.read_text() != config_text:
            raise RunFolderError(
                f"{run.config_path}: this run was made with another challenge configuration. "
                "Use a new run name (RUN=...) or the same --config as before."
            )
        old = pd.read_csv(run.cases_path, dtype=str, keep_default_na=False)
        same = (sorted(old["case"]) == sorted(pinned["case"])) and dict(
            zip(old["case"], old["input_sha256"])) == dict(zip(pinned["case"], pinned["input_sha256"]))
        if not same:
            raise RunFolderError(
                f"{run.cases_path}: the case set differs from the one this run was made with "
                "(names or file contents changed). Use a new run name (RUN=...)."
            )
        meta = json.loads(run.run_json.read_text())
        meta.setdefault("invocations", []).append({"command": command, "at": _now()})
        atomic_write_text(run.run_json, json.dumps(meta, indent=2))
        return run

    run.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.config_path, config_text)
    atomic_write_text(run.cases_path, pinned.to_csv(index=False))
    meta = {
        "created": _now(),
        "challenge": challenge.name,
        "config_source": challenge.source,
        "seed": challenge.ranking["seed"],
        "bootstrap_samples": challenge.ranking["bootstrap_samples"],
        "versions": versions(_PACKAGES),
        "invocations": [{"command": command, "at": _now()}],
    }
    atomic_write_text(run.run_json, json.dumps(meta, indent=2))
    return run


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

__all__ = ["RunFolder", "RunFolderError", "atomic_write_text", "open_run"]
