"""Read a run folder (see docs/design.md, "Run folder") into tables for the report.

Everything the report shows comes from files written by earlier stages; this module
only reads them. Required: ``results.csv`` and ``ranking/final_ranking.csv``. Every
other part is optional: when it is absent the matching report section is omitted
and a note says why (``RunData.notes``).

Files that hold participant-controlled text (case logs) are read with a size bound,
never through a symlink, and only as text.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.config import Challenge, ConfigError, load_challenge
from evalkit.errors import EvalkitError
from evalkit.metrics import registry
from evalkit.ranking import schemas
from evalkit.runfolder import (
    CaseRecord,
    JournalError,
    RunFolder,
    RunFolderError,
    latest_by_case,
    read_journal,
    runs_by_case,
)
from evalkit.text import printable

# the ranking's input and output columns (defined once, in evalkit.ranking.schemas)
RESULTS_COLUMNS = list(schemas.RESULTS_COLUMNS)
FINAL_COLUMNS = list(schemas.TABLES["final_ranking"])
# optional ranking file stem -> columns it must have
RANKING_FILES: dict[str, list[str]] = {
    name: list(cols) for name, cols in schemas.TABLES.items() if name != "final_ranking"
}

MAX_TABLE_BYTES = 2_000_000_000  # a results table larger than this is not a run of ours
MAX_JSON_BYTES = 50_000_000
LOG_TAIL_BYTES = 65_536  # bytes read from the end of a participant log


class ReportInputError(EvalkitError, ValueError):
    """A run folder the report cannot be built from; the message names file and column."""


def is_interactive(challenge: Challenge) -> bool:
    """Whether the run was made under the interactive protocol (``[protocol] kind``)."""
    return (challenge.data.get("protocol") or {}).get("kind") == "interactive"


def report_scored(challenge: Challenge) -> list[registry.Metric]:
    """The scored metrics whose columns ``scores/<sub>/cases.csv`` holds, in the order shown.

    Single-run challenges: ``[metrics] enabled`` (:func:`evalkit.metrics.registry.enabled_scored`).
    Interactive runs: the ranked metrics (``[ranking] metrics``) that the registry
    declares with ``source = "scores"`` (DSC_AUC, NSD_AUC, DSC_Final, NSD_Final); their
    ``[metrics] enabled`` metrics (DSC, NSD) are scored per run instead
    (:func:`run_metrics`). A ranked name the registry does not know is left out.
    """
    if not is_interactive(challenge):
        return registry.enabled_scored(challenge)
    names = list(challenge.ranking.get("metrics", {}))
    return [registry.REGISTRY[n] for n in names
            if n in registry.REGISTRY and registry.REGISTRY[n].source == "scores"]


def run_metrics(challenge: Challenge) -> list[registry.Metric]:
    """Interactive runs: the metrics scored per run, ``[metrics] enabled`` (DSC, NSD), whose
    values for run ``k`` are the column ``<column>_<k>`` of ``cases.csv``; ``[]`` otherwise."""
    return registry.enabled_scored(challenge) if is_interactive(challenge) else []


def score_columns(challenge: Challenge) -> list[str]:
    """Columns a ``scores/<sub>/cases.csv`` must have: keys, one per scored metric, status."""
    return ["case", "modality", "dim", *(m.column for m in report_scored(challenge)), "status"]


#: ``scores/<sub>/iterations.csv`` (interactive runs): the columns the report reads.
ITERATION_COLUMNS = ["case", "modality", "iteration", "status", "scored_run"]


@dataclass
class RunData:
    """The tables of one run, as read from disk.

    ``results`` is the long table (``task, case, algorithm, metric, value``) with an
    added ``dim`` column (2 or 3). ``scores`` concatenates every
    ``scores/<sub>/cases.csv`` with an ``algorithm`` column (empty frame if none).
    Optional ranking tables are ``None`` when their file is absent. Interactive runs
    (``interactive``): ``iterations`` concatenates every ``scores/<sub>/iterations.csv``
    (one row per case and run, with ``algorithm``; ``scored_run`` an int, ``-1`` for
    none), or, for a submission without one, its journal's run records (no values).
    """

    run_dir: Path
    challenge: Challenge
    results: pd.DataFrame
    final_ranking: pd.DataFrame
    cases: pd.DataFrame | None = None
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    ranking: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    ranking_meta: dict[str, Any] | None = None
    journals: dict[str, pd.DataFrame] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    challenge_toml: str | None = None
    run_meta: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    iterations: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def interactive(self) -> bool:
        return is_interactive(self.challenge)

    @property
    def algorithms(self) -> list[str]:
        """Algorithms in final-rank order (ties keep the file order)."""
        return list(self.final_ranking.sort_values("final_rank", kind="stable")["algorithm"])

    @property
    def modalities(self) -> list[str]:
        """Tasks of the results table, in the challenge's modality order, extras sorted."""
        present = set(self.results["task"].astype(str))
        ordered = [m for m in self.challenge.modalities if m in present]
        return ordered + sorted(present - set(ordered))

    def table(self, name: str) -> pd.DataFrame | None:
        return self.ranking.get(name)


def _regular_file(path: Path) -> bool:
    """True for a regular file that is not a symlink (lstat, never follows links)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode)


def _read_csv(path: Path, columns: list[str], *, required: bool) -> pd.DataFrame | None:
    if not _regular_file(path):
        if required:
            raise ReportInputError(f"{path}: required table missing (or not a regular file).")
        return None
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise ReportInputError(f"{path}: {size} bytes, more than the {MAX_TABLE_BYTES} allowed.")
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: not a readable CSV table: {exc}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportInputError(
            f"{path}: missing column(s) {missing}; expected at least {columns}, "
            f"found {list(df.columns)}."
        )
    return df


def _read_json(path: Path) -> dict[str, Any] | None:
    if not _regular_file(path) or path.stat().st_size > MAX_JSON_BYTES:
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def read_journal_table(path: Path) -> pd.DataFrame | None:
    """A runner journal as a table, one row per case (its latest record), or ``None``
    when the file is absent, not a regular file or implausibly large.

    Lines are read by :func:`evalkit.runfolder.read_journal` (its policy: a torn last
    line is ignored, a garbled complete line is a :class:`~evalkit.runfolder.JournalError`).
    """
    if not _regular_file(path) or path.stat().st_size > MAX_TABLE_BYTES:
        return None
    latest = latest_by_case(read_journal(path))
    if not latest:
        return pd.DataFrame(columns=["case", "status", "reason"])
    return pd.DataFrame([asdict(r) for r in latest.values()]).reset_index(drop=True)


def last_log_line(path: Path, *, max_bytes: int = LOG_TAIL_BYTES, max_chars: int = 300) -> str:
    """Last non-empty line of a participant log, or ``""``.

    Reads at most ``max_bytes`` from the end, never through a symlink, decodes with
    replacement and cuts the line to ``max_chars`` characters (the log is hostile).
    """
    if not _regular_file(path):
        return ""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - max_bytes))
        tail = fh.read(max_bytes)
    for line in reversed(tail.decode("utf-8", errors="replace").splitlines()):
        line = "".join(ch for ch in line.strip() if ch.isprintable())
        if line:
            return line[:max_chars] + ("…" if len(line) > max_chars else "")
    return ""


def log_tail(
    path: Path, *, max_bytes: int = 8192, max_lines: int = 12, max_chars: int = 200
) -> list[str]:
    """The last ``max_lines`` non-empty lines of a participant log (``[]`` when absent).

    Same reading rules as :func:`last_log_line`: at most ``max_bytes`` from the end,
    never through a symlink (``O_NOFOLLOW`` and an ``lstat`` check), decoded with
    replacement; each line is made printable (:func:`evalkit.text.printable`) and cut
    to ``max_chars`` characters. The caller HTML-escapes them.
    """
    if not _regular_file(path):
        return []
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return []
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - max_bytes))
        tail = fh.read(max_bytes)
    lines = [ln.strip() for ln in tail.decode("utf-8", errors="replace").splitlines()]
    lines = [printable(ln) for ln in lines if ln][-max_lines:]
    return [ln[:max_chars] + ("…" if len(ln) > max_chars else "") for ln in lines]


def read_run_records(path: Path) -> dict[str, list[CaseRecord]]:
    """``record = "run"`` lines of a journal (multi-run protocols, e.g. interactive),
    grouped by case in file order; ``{}`` when absent, not a regular file or too large."""
    if not _regular_file(path) or path.stat().st_size > MAX_TABLE_BYTES:
        return {}
    return runs_by_case(read_journal(path, kind="run"))


def _case_dims(
    results: pd.DataFrame, cases: pd.DataFrame | None, scores: pd.DataFrame
) -> pd.Series:
    """case -> dim, from the pinned case list, else the scores, else the name prefix."""
    dims: dict[str, int] = {}
    for table in (scores, cases):
        if table is not None and not table.empty and {"case", "dim"} <= set(table.columns):
            dims.update(
                {str(c): int(d) for c, d in zip(table["case"], table["dim"]) if pd.notna(d)}
            )
    names = results["case"].astype(str)
    return names.map(lambda n: dims.get(n, 3 if n.startswith("3D") else 2)).astype(int)


def prepare_ranking_tables(
    tables: dict[str, pd.DataFrame | None],
) -> dict[str, pd.DataFrame | None]:
    """The optional ranking tables as the report uses them: key columns as strings
    (empty for missing), and ``bootstrap_rank_frequencies`` with a ``share`` column.

    ``frequency`` may be a count or a share: the figures use the share per (scope,
    task, metric, algorithm), which is the same under both conventions."""
    ranking: dict[str, pd.DataFrame | None] = {}
    for name in RANKING_FILES:
        df = tables.get(name)
        if df is not None:
            df = df.copy()
            for col in ("task", "metric", "algorithm", "other", "scope"):
                if col in df.columns:
                    df[col] = df[col].fillna("").astype(str)
        ranking[name] = df
    freq = ranking["bootstrap_rank_frequencies"]
    if freq is not None:
        total = freq.groupby(["scope", "task", "metric", "algorithm"])["frequency"].transform("sum")
        freq["share"] = (freq["frequency"] / total.where(total > 0)).fillna(0.0)
    return ranking


def load_run(run_dir: str | Path) -> RunData:
    """Read every table of a run folder that the report uses.

    Raises :class:`ReportInputError` when ``results.csv`` or
    ``ranking/final_ranking.csv`` is missing or lacks its columns; optional parts
    that are missing become notes.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ReportInputError(f"{run}: run folder not found.")
    folder = RunFolder(run)
    notes: list[str] = []

    toml_path = folder.config_path
    challenge_toml = None
    try:
        if _regular_file(toml_path):
            challenge = load_challenge(toml_path)
            challenge_toml = toml_path.read_text(encoding="utf-8", errors="replace")
        else:
            challenge = load_challenge()
            notes.append(
                "challenge.toml not found in the run folder: bundled cvpr24 defaults "
                "used for modality order and metric directions."
            )
    except ConfigError as exc:
        raise ReportInputError(str(exc)) from None

    results = _read_csv(folder.results_path, RESULTS_COLUMNS, required=True)
    final = _read_csv(folder.ranking_dir / "final_ranking.csv", FINAL_COLUMNS, required=True)
    assert results is not None and final is not None
    results["case"] = results["case"].astype(str)
    results["task"] = results["task"].astype(str)
    results["algorithm"] = results["algorithm"].astype(str)
    final["algorithm"] = final["algorithm"].astype(str)

    cases = _read_csv(folder.cases_path, ["case", "modality", "dim"], required=False)
    if cases is None:
        notes.append("cases.csv (pinned case list) not found: example segmentations omitted.")
    else:
        cases["case"] = cases["case"].astype(str)

    score_frames = []
    journals: dict[str, pd.DataFrame] = {}
    images: dict[str, dict[str, Any]] = {}
    needed = score_columns(challenge)
    for sub in folder.named_folders():
        df = _read_csv(folder.scores_cases(sub), needed, required=False)
        if df is not None:
            df.insert(0, "algorithm", sub)
            score_frames.append(df)
        journal = read_journal_table(folder.submission(sub).journal)
        if journal is not None:
            journals[sub] = journal
        image = _read_json(folder.submission(sub).image_record)
        if image is not None:
            images[sub] = image
    scores = pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame()
    iterations = _iteration_table(folder) if is_interactive(challenge) else pd.DataFrame()
    if scores.empty:
        notes.append("No scores/<sub>/cases.csv found: failure counts come from journals only.")
    else:
        scores["case"] = scores["case"].astype(str)

    results["dim"] = _case_dims(results, cases, scores)

    ranking = prepare_ranking_tables(
        {
            name: _read_csv(folder.ranking_dir / f"{name}.csv", cols, required=False)
            for name, cols in RANKING_FILES.items()
        }
    )
    if ranking["bootstrap_ranks"] is None:
        notes.append("ranking/bootstrap_ranks.csv not found: bootstrap rank intervals omitted.")

    return RunData(
        run_dir=run,
        challenge=challenge,
        results=results,
        final_ranking=final,
        cases=cases,
        scores=scores,
        ranking=ranking,
        ranking_meta=_read_json(folder.ranking_dir / schemas.META_FILE),
        journals=journals,
        images=images,
        challenge_toml=challenge_toml,
        run_meta=_read_json(folder.run_json),
        notes=notes,
        iterations=iterations,
    )


def _scored_run(value: object) -> int:
    """``scored_run`` of an iterations row as an int (the run whose file was scored), -1 for none."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -1
    return int(v) if math.isfinite(v) else -1


def _iteration_table(folder: RunFolder) -> pd.DataFrame:
    """Every submission's run rows (see :class:`RunData`): ``algorithm, case, modality,
    iteration, status, scored_run, dsc, nsd, wall_s, reason``."""
    cols = ["algorithm", "case", "modality", "iteration", "status", "scored_run", "dsc", "nsd",
            "wall_s", "reason"]
    frames = []
    for sub in folder.named_folders():
        df = _read_csv(folder.scores_dir(sub) / "iterations.csv", ITERATION_COLUMNS,
                       required=False)
        if df is None:
            try:
                runs = read_run_records(folder.submission(sub).journal)
            except (JournalError, RunFolderError):  # no journal to read runs from
                runs = {}
            rows = []
            for case, recs in runs.items():
                last = max((r.attempt for r in recs), default=1)
                for r in recs:
                    if r.attempt == last:
                        stem = Path(r.output).stem if r.output else ""
                        rows.append({"case": case, "modality": "", "iteration": r.iteration,
                                     "status": r.status, "scored_run": stem,
                                     "wall_s": r.wall_s, "reason": r.reason})
            df = pd.DataFrame(rows)
            if df.empty:
                continue
        df = df.reindex(columns=cols[1:])
        df.insert(0, "algorithm", sub)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out["case"] = out["case"].astype(str)
    out["iteration"] = pd.to_numeric(out["iteration"], errors="coerce").fillna(0).astype(int)
    out["status"] = out["status"].fillna("unknown").astype(str)
    out["scored_run"] = [_scored_run(v) for v in out["scored_run"]]
    return out
