"""``evaluate``: run every submission on every case, score, rank all, write the report.

The run folder (:mod:`evalkit.workflows.runfolder`) makes it resumable: the runner
skips cases already in a submission's journal, scoring is cheap and redone from the
collected outputs, and ranking/report are rebuilt from all submissions in the run.
Adding a submission to a finished run therefore only runs the new one.

Scoring overlaps the runner: each finished case is handed to a low-priority scoring
process while the next container runs (niceness 19, so the participant container
keeps the CPUs it is timed on; the report states when timings are marked degraded).
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evalkit.config import Challenge
from evalkit.contract import discover_cases
from evalkit.metrics.case import CASE_COLUMNS
from evalkit.metrics.folder import tables_from_results, write_scores
from evalkit.metrics.results import results_table
from evalkit.metrics.scoring import CaseResult, score_case
from evalkit.metrics.settings import settings_from_challenge
from evalkit.ranking import parse_settings, rank_results, write_ranking
from evalkit.ranking.table import RankingInputError
from evalkit.report import build_report
from evalkit.runfolder import check_name
from evalkit.runfolder.lock import folder_lock
from evalkit.runner import ImageRecord, run_submission
from evalkit.runner.executor import Executor, make_executor
from evalkit.workflows.interactive import evaluate_interactive, is_interactive
from evalkit.workflows.runfolder import RunFolder, RunFolderError, open_run


@dataclass(frozen=True)
class Submission:
    """A submission as given on the command line: ``[NAME=]TARBALL_OR_REFERENCE``."""

    source: str
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> Submission:
        name, sep, source = text.partition("=")
        if sep and name and "/" not in name and ":" not in name:
            return cls(source=source, name=check_name(name))
        return cls(source=text)


def case_table(cases_dir: Path, challenge: Challenge) -> pd.DataFrame:
    """The case list of a case folder (``imgs/`` + ``gts/``, or inputs only).

    Columns ``case, modality, dim, input_path, gt_path`` (absolute paths; ``gt_path``
    empty when there is no ground truth). A ``manifest.csv`` (``case,modality,dim``) in
    ``cases_dir`` gives the modality and dim of the cases it lists.
    """
    cases_dir = Path(cases_dir)
    imgs = cases_dir / "imgs" if (cases_dir / "imgs").is_dir() else cases_dir
    gts = cases_dir / "gts" if (cases_dir / "gts").is_dir() else None
    manifest = cases_dir / "manifest.csv"
    cases = discover_cases(imgs, gts, manifest if manifest.is_file() else None,
                           challenge=challenge)
    return pd.DataFrame(
        {
            "case": [c.name for c in cases],
            "modality": [c.modality for c in cases],
            "dim": [c.dim for c in cases],
            "input_path": [str(Path(c.input_path).resolve()) for c in cases],
            "gt_path": [str(Path(c.gt_path).resolve()) if c.gt_path else "" for c in cases],
        }
    )


def _nice() -> None:
    try:
        os.nice(19)
    except OSError:
        pass


class OverlappedScorer:
    """Scores cases in a background process pool as the runner finishes them."""

    def __init__(self, challenge: Challenge, cases: pd.DataFrame, workers: int = 1):
        self.settings = settings_from_challenge(challenge)
        self.limits = dict(challenge.contract)
        self.aliases = challenge.modality_aliases
        self.gt = dict(zip(cases["case"], cases["gt_path"]))
        self.cases = cases.set_index("case")
        self.args: dict[str, tuple] = {}
        self.pool = ProcessPoolExecutor(max_workers=workers, initializer=_nice)
        self.futures: dict[str, Future] = {}

    def submit(self, sub_dir: Path, case: str, status: str, reason: str, output: str | None) -> None:
        pred = sub_dir / output if output else None
        args = ((case, self.gt[case], pred, self.settings),
                {"limits": self.limits, "aliases": self.aliases, "runner_status": status, "runner_reason": reason,
                 "input_path": self.cases.loc[case, "input_path"],
                 # text cases keep the discovered modality and dim (free case names)
                 "modality_dim": ((str(self.cases.loc[case, "modality"]), int(self.cases.loc[case, "dim"]))
                                  if self.limits.get("inputs") == "text" else None)})
        self.args[case] = args
        self.futures[case] = self.pool.submit(score_case, *args[0], **args[1])

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The cases and instances tables of every submitted case, sorted by case.

        A case whose scoring process died (it breaks the pool) is scored again alone in
        a fresh process; if that dies too it is recorded as ``harness_error``.
        """
        results = [self._result(case) for case in sorted(self.futures)]
        return tables_from_results(results)

    def _result(self, case: str) -> CaseResult:
        try:
            return self.futures[case].result()
        except Exception:  # noqa: BLE001 - BrokenProcessPool or a crash inside the worker
            args = self.args[case]
        try:
            with ProcessPoolExecutor(max_workers=1, initializer=_nice) as pool:
                return pool.submit(score_case, *args[0], **args[1]).result()
        except Exception as exc:  # noqa: BLE001
            row = {c: float("nan") for c in CASE_COLUMNS}
            gt_case = self.cases.loc[case]
            row.update(case=case, modality=gt_case["modality"], dim=int(gt_case["dim"]), n_instances=0,
                       status="harness_error", reason=f"scoring failed twice: {type(exc).__name__}")
            return CaseResult(row)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def evaluate_submission(run: RunFolder, image: ImageRecord, name: str, cases: pd.DataFrame,
                        challenge: Challenge, executor: Executor, progress: bool = True) -> pd.DataFrame:
    """Run one submission through ``executor`` (resuming its journal), score it, write
    ``scores/<name>/``.

    Returns the cases score table.
    """
    sub_dir = run.submission_dir(name)
    scorer = OverlappedScorer(challenge, cases, workers=1)
    try:
        def on_done(rec) -> None:
            scorer.submit(sub_dir, rec.case, rec.status, rec.reason, rec.output)

        records = run_submission(image, [Path(p) for p in cases["input_path"]], run.root, challenge,
                                 name=name, on_case_done=on_done, executor=executor, progress=progress)
        for rec in records:  # cases finished in an earlier invocation (resume)
            if rec.case not in scorer.futures:
                on_done(rec)
        score_cases, instances = scorer.tables()
    finally:
        scorer.close()
    write_scores(score_cases, instances, run.scores_cases(name),
                 settings=scorer.settings, challenge_toml=challenge.to_toml(),
                 extra={"submission": name, "image_id": image.image_id})
    return score_cases


@dataclass
class EvaluateOutcome:
    run: RunFolder
    leaderboard: pd.DataFrame | None
    notes: list[str]


def evaluate(submissions: list[Submission], cases_dir: Path, run_dir: Path, challenge: Challenge,
             *, executor: Executor | None = None, progress: bool = True,
             command: list[str] | None = None, wait: bool = False) -> EvaluateOutcome:
    """Evaluate ``submissions`` on ``cases_dir`` into ``run_dir``; resumable, additive.

    ``executor``: where the images run (``None``: ``[executor] kind`` of ``challenge``,
    closed at the end; one passed in is left open). Raises :class:`RunFolderError`
    when ``run_dir`` holds a run made with another configuration or case set, or when
    a submission name is reused for another image. The run folder is locked for the
    whole evaluation; another process on it gets a ``FolderBusyError`` naming the holder,
    or with ``wait`` queues behind it.
    """
    parse_settings(challenge.ranking)  # a bad [ranking] section fails now, not after the runs
    own = executor is None
    executor = executor if executor is not None else make_executor(challenge)
    cases = case_table(cases_dir, challenge)
    if (cases["gt_path"] == "").any():
        missing = cases.loc[cases["gt_path"] == "", "case"].tolist()[:5]
        raise RunFolderError(f"{cases_dir}: no ground truth for {missing}: evaluate needs gts/.")
    notes: list[str] = []
    with folder_lock(run_dir, wait=wait):
        run = open_run(run_dir, challenge, cases, command or sys.argv)
        try:
            for sub in submissions:
                image = executor.prepare(sub.source, name=sub.name)
                name = sub.name or image.name
                _check_same_image(run, name, image)
                print(f"[evalkit] {name}: image {image.image_id[:19]} ({image.reference})", file=sys.stderr)
                if is_interactive(challenge):
                    evaluate_interactive(run, image, name, cases, challenge, executor,
                                         progress=progress)
                else:
                    evaluate_submission(run, image, name, cases, challenge, executor,
                                        progress=progress)
        finally:
            if own:
                executor.close()
        return rank_and_report(run, challenge, notes)


def rank_and_report(run: RunFolder, challenge: Challenge, notes: list[str] | None = None) -> EvaluateOutcome:
    """(Re)build results.csv, the ranking and the report from every submission of the run."""
    notes = list(notes or [])
    results = results_table(run, challenge.ranking["metrics"],
                            drop_inapplicable=challenge.contract.get("inputs", "boxes") == "text")
    results.to_csv(run.results_path, index=False)
    board = None
    if results["algorithm"].nunique() < 2:
        notes.append("ranking skipped: it needs at least two submissions in the run")
    else:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ranking = rank_results(results, challenge.ranking)
            notes += _summarise_warnings([str(w.message) for w in caught])
        except RankingInputError as exc:
            notes.append(f"ranking skipped: {exc}")
        else:
            write_ranking(ranking, run.ranking_dir)
            board = ranking.final_ranking
    if board is None:
        notes.append("report skipped: it is built from a ranking")
    else:
        notes += list(build_report(run.root, run.report_dir).notes)
    return EvaluateOutcome(run, board, notes)


def _summarise_warnings(messages: list[str]) -> list[str]:
    """Ranking warnings as notes; the per-task one-case warnings folded into one line."""
    one_case = [m for m in messages if re.match(r"ranking task \S+: only 1 case", m)]
    notes = [m for m in dict.fromkeys(messages) if m not in one_case]
    if one_case:
        tasks = [m.split()[2].rstrip(":") for m in one_case]
        notes.append(f"{len(tasks)} task(s) have a single case ({', '.join(tasks)}): they are ranked "
                     "on it, but no difference there can be significant and their bootstrap is trivial")
    return notes


def _check_same_image(run: RunFolder, name: str, image: ImageRecord) -> None:
    record = run.submission(name).image_record
    if record.is_file():
        old = json.loads(record.read_text())
        if old.get("image_id") != image.image_id:
            raise RunFolderError(
                f"{record}: submission '{name}' was evaluated with image {old.get('image_id')}, "
                f"now {image.image_id}. Give the new image another name (NAME=IMAGE) or use a new run."
            )
