"""Where everything of a run lives (docs/design.md, "Run folder").

::

    <run>/
      challenge.toml        merged challenge configuration (pinned at creation)
      run.json              versions, seed, command lines, creation time
      cases.csv             pinned case list with sha256 of every input and GT file
      nodes.csv             cluster runs only: each node's calibration (evalkit.runner.dask_executor)
      submissions/<sub>/    runner: image.json, journal.jsonl, logs/, outputs/, rejected/, work/
      scores/<sub>/         metrics: cases.csv, instances.csv (+ Parquet, meta JSON)
      results.csv           long table for ranking (task, case, algorithm, metric, value)
      ranking/              ranking tables
      report/               leaderboard, figures, index.html

Paths are absolute and resolved (the engine takes a relative host path in a bind mount for a
named volume, so nothing handed to it may be relative). This module only names
paths; creating and pinning a run is the workflows' job.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from evalkit.config import Challenge, load_challenge
from evalkit.errors import EvalkitError


class RunFolderError(EvalkitError, RuntimeError):
    """A run folder that cannot be (re)used as asked; the message says why and what to do."""


class UnsafeNameError(RunFolderError, ValueError):
    """A submission or case name that cannot be a folder or file name inside the run."""


#: A submission name: a folder under ``submissions/`` and ``scores/``, a label in tables.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str, what: str = "submission name") -> str:
    """``name`` if it is a safe submission name, else :class:`UnsafeNameError`.

    Safe: 1 to 128 characters of letters, digits, ``.``, ``_`` and ``-``, starting with a
    letter or digit (so no path separator, no ``..``, no hidden file, nothing a shell or
    a terminal treats specially).
    """
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        shown = repr(name)[:80]
        raise UnsafeNameError(
            f"{what} {shown} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..'), e.g. NAME=team-a")
    return name


def check_component(name: str, what: str = "case name") -> str:
    """``name`` if it is one path component that stays where it is joined (no separator,
    no NUL, not ``.``/``..``, not empty, at most 255 characters), else
    :class:`UnsafeNameError`. Every path :class:`RunFolder` builds from a name passes it;
    names a run *creates* must also pass the stricter :func:`check_name`."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
            or "\0" in name or len(name) > 255):
        raise UnsafeNameError(f"{what} {repr(name)[:80]} cannot be a file or folder name in the run folder")
    return name


def check_case_name(case: str) -> str:
    """:func:`check_component` for a case name."""
    return check_component(case, "case name")


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class SubmissionFolder:
    """``<run>/submissions/<name>/``: what the runner writes for one submission."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def image_record(self) -> Path:
        return self.root / "image.json"

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def rejected_dir(self) -> Path:
        return self.root / "rejected"

    @property
    def work_dir(self) -> Path:
        """Scratch space of running cases (staged inputs, capped outputs); emptied after each."""
        return self.root / "work"

    def output(self, case: str) -> Path:
        """The collected, validated prediction of ``case``."""
        return self.outputs_dir / f"{check_case_name(case)}.npz"

    @property
    def iterations_root(self) -> Path:
        """Multi-run protocols: ``iterations/<case>/`` per case (each run's prediction, clicks)."""
        return self.root / "iterations"

    def iterations_dir(self, case: str) -> Path:
        """``iterations/<case>/``: ``<k>.npz`` (the prediction standing after run k) and
        ``clicks.json`` (the simulated clicks, pickle-free) of the interactive protocol."""
        return self.iterations_root / check_case_name(case)

    def log(self, case: str) -> Path:
        return self.logs_dir / f"{check_case_name(case)}.log"

    def rejected(self, case: str) -> Path:
        return self.rejected_dir / f"{check_case_name(case)}.npz"

    def relative(self, path: Path) -> str:
        """``path`` relative to this folder (as the journal's ``output`` stores it)."""
        return str(Path(path).relative_to(self.root))


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder; ``root`` is made absolute."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def config_path(self) -> Path:
        return self.root / "challenge.toml"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def cases_path(self) -> Path:
        return self.root / "cases.csv"

    @property
    def results_path(self) -> Path:
        return self.root / "results.csv"

    @property
    def nodes_path(self) -> Path:
        """``nodes.csv``: the machines of a cluster run and their calibration (dask executor)."""
        return self.root / "nodes.csv"

    @property
    def ranking_dir(self) -> Path:
        return self.root / "ranking"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def submissions_root(self) -> Path:
        return self.root / "submissions"

    @property
    def scores_root(self) -> Path:
        return self.root / "scores"

    def submission(self, name: str) -> SubmissionFolder:
        """The folder of submission ``name`` (a single path component, :func:`check_component`)."""
        return SubmissionFolder(self.submissions_root / check_component(name, "submission name"))

    def submission_dir(self, name: str) -> Path:
        return self.submission(name).root

    def scores_dir(self, name: str) -> Path:
        return self.scores_root / check_component(name, "submission name")

    def scores_cases(self, name: str) -> Path:
        """``scores/<name>/cases.csv`` (instances.csv and the Parquet copies sit beside it)."""
        return self.scores_dir(name) / "cases.csv"

    def challenge(self) -> Challenge:
        """The configuration pinned in the run (``challenge.toml``)."""
        return load_challenge(self.config_path)

    def submissions(self) -> list[str]:
        """Names of the submissions that have an image record, in creation order."""
        base = self.submissions_root
        if not base.is_dir():
            return []
        subs = [p for p in base.iterdir() if (p / "image.json").is_file()]
        return [p.name for p in sorted(subs, key=lambda p: ((p / "image.json").stat().st_mtime, p.name))]

    def named_folders(self) -> list[str]:
        """Every submission name that has a folder under ``submissions/`` or ``scores/``
        (symlinks are never followed), sorted; for readers of partial runs."""
        names: set[str] = set()
        for base in (self.scores_root, self.submissions_root):
            if base.is_dir() and not base.is_symlink():
                names |= {p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink()}
        return sorted(names)
