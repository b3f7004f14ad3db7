"""The run folder: everything needed to audit, resume or rerun an evaluation.

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
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evalkit.config import Challenge, load_challenge
from evalkit.provenance import versions
from evalkit.runner.intake import sha256_file

_PACKAGES = ("evalkit", "numpy", "scipy", "pandas", "docker", "statsmodels", "matplotlib",
             "surface-distance", "psutil")


class RunFolderError(RuntimeError):
    """A run folder that cannot be (re)used as asked; the message says why and what to do."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "challenge.toml"

    @property
    def cases_path(self) -> Path:
        return self.root / "cases.csv"

    @property
    def results_path(self) -> Path:
        return self.root / "results.csv"

    @property
    def ranking_dir(self) -> Path:
        return self.root / "ranking"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def submission_dir(self, name: str) -> Path:
        return self.root / "submissions" / name

    def scores_dir(self, name: str) -> Path:
        return self.root / "scores" / name

    def submissions(self) -> list[str]:
        """Names of the submissions that have an image record, in creation order."""
        base = self.root / "submissions"
        if not base.is_dir():
            return []
        subs = [p for p in base.iterdir() if (p / "image.json").is_file()]
        return [p.name for p in sorted(subs, key=lambda p: (p / "image.json").stat().st_mtime)]

    def challenge(self) -> Challenge:
        return load_challenge(self.config_path)


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
        meta = json.loads((run.root / "run.json").read_text())
        meta.setdefault("invocations", []).append({"command": command, "at": _now()})
        atomic_write_text(run.root / "run.json", json.dumps(meta, indent=2))
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
    atomic_write_text(run.root / "run.json", json.dumps(meta, indent=2))
    return run


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
