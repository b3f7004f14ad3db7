"""Run one submission image over a list of cases: resumable, journaled, with progress."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from evalkit.config import Challenge, load_challenge
from evalkit.progress import per_node
from evalkit.progress import progress as progress_bar
from evalkit.runfolder import RunFolder, check_name
from evalkit.runfolder.journal import (
    CaseRecord,
    latest_by_case,
    open_journal,
    read_journal,
    runs_by_case,
)
from evalkit.runfolder.lock import folder_lock
from evalkit.runner.execute import CaseJob, utc_now
from evalkit.runner.executor import Executor, ExecutorUnavailable, RunJob
from evalkit.runner.intake import ImageRecord
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.protocols import Protocol, make_protocol


def _expected_shape(job: CaseJob, contract_limits: dict[str, Any] | None) -> tuple[int, ...]:
    """The input's spatial shape (validated with ``evalkit.contract.load_input``)."""
    from evalkit.contract import load_input

    shape = load_input(job.input_path, contract_limits, dim=job.dim).spatial_shape
    return tuple(int(s) for s in shape)


def as_jobs(cases: Iterable[Any]) -> list[CaseJob]:
    """Cases (``evalkit.contract.Case``, ``CaseJob`` or paths to input ``.npz``) -> jobs."""
    jobs = []
    for c in cases:
        if isinstance(c, CaseJob):
            jobs.append(c)
        elif hasattr(c, "input_path") and hasattr(c, "name"):
            gt = getattr(c, "gt_path", None)
            jobs.append(CaseJob(c.name, Path(c.input_path), dim=getattr(c, "dim", None),
                                gt_path=Path(gt) if gt else None))
        else:
            p = Path(c)
            jobs.append(CaseJob(p.name[:-4] if p.name.endswith(".npz") else p.stem, p))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate case names: {dup}")
    return jobs


def run_submission(
    image: ImageRecord,
    cases: Iterable[Any],
    run_dir: str | Path,
    config: Challenge | None = None,
    name: str | None = None,
    on_case_done: Callable[[CaseRecord], None] | None = None,
    *,
    executor: Executor,
    protocol: Protocol | None = None,
    progress: bool = True,
    wait: bool = False,
) -> list[CaseRecord]:
    """Run ``image`` on every case; return the latest record of each case, in case order.

    ``cases``: ``Case`` objects, ``CaseJob`` or input paths. ``config``: a
    :class:`evalkit.config.Challenge` (``None`` = bundled CVPR24), whose ``[runner]``
    section sets the limits and whose ``[contract]`` section bounds the output
    files. ``executor`` runs the containers (:func:`evalkit.runner.executor.make_executor`;
    it is begun and ended for this submission here, not closed); ``protocol``
    decides the runs per case (``None``: ``[protocol] kind`` of ``config``).
    Writes ``<run_dir>/submissions/<name>/`` (``image.json``, ``journal.jsonl``,
    ``outputs/``, ``logs/``). Resumes: cases already in the journal with a status
    other than ``harness_error`` are skipped (and their records returned);
    ``harness_error`` cases are retried with ``attempt`` + 1.
    A journal written for another image ID raises ``ValueError`` (no mixing).
    The submission folder is locked for the whole run (:func:`evalkit.runfolder.lock.folder_lock`):
    a second process on it gets :class:`~evalkit.runfolder.lock.FolderBusyError` naming the
    holder, or with ``wait`` queues behind it.
    ``on_case_done`` is called in the calling process after each newly run case
    (from a worker thread when ``parallel_cases`` > 1).
    """
    challenge = config if config is not None else load_challenge()
    protocol = protocol if protocol is not None else make_protocol(challenge)
    limits = RunnerLimits.from_config(challenge.runner)
    contract_limits = dict(challenge.contract)
    name = check_name(name or image.name)  # a name this run creates: the safe character set
    sub = RunFolder(Path(run_dir)).submission(name)
    jobs = as_jobs(cases)
    with folder_lock(sub.root, wait=wait):  # before begin(): its clean-up must never hit a live run
        sub.image_record.write_text(image.to_json() + "\n")
        executor.begin(sub)
        try:
            return _run_cases(image, jobs, sub, limits, contract_limits, name, on_case_done,
                              executor, protocol, progress)
        finally:
            executor.end(sub)


def _run_cases(image, jobs, sub, limits, contract_limits, name, on_case_done, executor, protocol,
               progress) -> list[CaseRecord]:
    everything = read_journal(sub.journal, kind=None)
    done = latest_by_case([r for r in everything if r.record == "case"])
    runs = runs_by_case(everything)
    others = sorted({r.image_id for r in done.values()} - {image.image_id})
    if others:
        raise ValueError(
            f"{sub.journal}: holds results of image {others[0]}, not {image.image_id}; "
            "use another submission name or run folder instead of mixing two images")
    results: dict[str, CaseRecord] = {}
    todo: list[tuple[CaseJob, int]] = []
    for job in jobs:
        prev = done.get(job.name)
        if prev is not None and prev.status != "harness_error":
            results[job.name] = prev
        else:
            todo.append((job, (prev.attempt or 1) + 1 if prev is not None else 1))

    degraded = limits.parallel_cases > 1
    in_flight = max(limits.parallel_cases, executor.capacity())
    counts = Counter(r.status for r in results.values())
    nodes: Counter = Counter()
    lock = threading.Lock()
    bar = progress_bar(total=len(jobs), initial=len(results), desc=f"run {name}", unit="case",
                       enabled=progress)
    bar.set_postfix_str(_summary(counts))

    def one(item: tuple[CaseJob, int]) -> CaseRecord:
        job, attempt = item
        try:
            job = replace(job, expected_shape=job.expected_shape or _expected_shape(job, contract_limits))
        except Exception as exc:  # noqa: BLE001 - unreadable input: organiser side, recorded as harness_error
            rec = _harness_error(job.name, image, attempt, degraded, f"input {job.input_path}: {exc}")
        else:
            run_job = RunJob(image, job, sub, limits, contract_limits, attempt=attempt, iteration=1,
                             degraded=degraded)
            try:
                rec = protocol.run_case(executor, run_job, runs.get(job.name, []), journal)
            except ExecutorUnavailable:
                raise  # nothing to record: the next run resumes this case from the journal
            except Exception as exc:  # noqa: BLE001 - the harness's own failure: recorded, never fatal
                rec = _harness_error(job.name, image, attempt, degraded,
                                     f"protocol {protocol.kind}: {type(exc).__name__}: {exc}")
        with lock:
            journal.append(rec)
            results[rec.case] = rec
            counts[rec.status] += 1
            if rec.node:
                nodes[rec.node] += 1
            wall = f" {rec.wall_s:.1f}s" if rec.wall_s is not None else ""
            where = f" on {rec.node}" if rec.node else ""
            bar.set_postfix_str(f"{rec.case} {rec.status}{wall}{where} | {_summary(counts)}"
                                + (f" | {per_node(nodes)}" if nodes else ""))
            bar.update(1)
        if on_case_done is not None:
            on_case_done(rec)
        return rec

    with open_journal(sub.journal) as journal:
        try:
            if in_flight > 1 and len(todo) > 1:
                with ThreadPoolExecutor(max_workers=min(in_flight, len(todo))) as pool:
                    list(pool.map(one, todo))
            else:
                for item in todo:
                    one(item)
        finally:
            bar.close()
    return [results[j.name] for j in jobs if j.name in results]


def _harness_error(case: str, image: ImageRecord, attempt: int, degraded: bool, reason: str) -> CaseRecord:
    now = utc_now()
    return CaseRecord(case=case, status="harness_error", image_id=image.image_id, reason=reason[:600],
                      attempt=attempt, started_at=now, finished_at=now, degraded_timing=degraded)


def _summary(counts: Counter) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"
