"""Run one submission image over a list of cases: resumable, journaled, with progress."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from tqdm import tqdm

from evalkit.runfolder import RunFolder
from evalkit.runfolder.journal import CaseRecord, latest_by_case, open_journal, read_journal
from evalkit.runner.cgroups import remove_cgroup
from evalkit.runner.execute import CaseJob, clean_workdir, run_case, token_for, utc_now
from evalkit.runner.intake import ImageRecord
from evalkit.runner.limits import RunnerLimits


def submission_dir(run_dir: str | Path, name: str) -> Path:
    """``<run_dir>/submissions/<name>`` (:class:`evalkit.runfolder.RunFolder`), absolute."""
    return RunFolder(Path(run_dir)).submission_dir(name)


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
            jobs.append(CaseJob(c.name, Path(c.input_path), dim=getattr(c, "dim", None)))
        else:
            p = Path(c)
            jobs.append(CaseJob(p.name[:-4] if p.name.endswith(".npz") else p.stem, p))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate case names: {dup}")
    return jobs


def cleanup_leftovers(client: docker.DockerClient, sub_dir: Path, run_token: str) -> int:
    """Remove containers, cgroups and mounted work folders left by a killed run; returns containers removed."""
    removed = 0
    try:
        for c in client.containers.list(all=True, filters={"label": f"evalkit.run={run_token}"}):
            try:
                c.remove(force=True)
                removed += 1
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                pass
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        pass
    remove_cgroup(f"evalkit/{run_token}")
    work = sub_dir / "work"
    if work.is_dir():
        for d in work.iterdir():
            clean_workdir(d)
    return removed


def _cgroups_usable(client: docker.DockerClient) -> bool:
    try:
        return str(client.info().get("CgroupDriver", "")) == "cgroupfs"
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False


def run_submission(
    image: ImageRecord,
    cases: Iterable[Any],
    run_dir: str | Path,
    config=None,
    name: str | None = None,
    on_case_done: Callable[[CaseRecord], None] | None = None,
    *,
    client: docker.DockerClient | None = None,
    progress: bool = True,
) -> list[CaseRecord]:
    """Run ``image`` on every case; return the latest record of each case, in case order.

    ``cases``: ``Case`` objects, ``CaseJob`` or input paths. ``config``: a
    :class:`evalkit.config.Challenge` (``None`` = bundled CVPR24), whose ``[runner]``
    section sets the limits and whose ``[contract]`` section bounds the output
    files. Writes ``<run_dir>/submissions/<name>/`` (``image.json``,
    ``journal.jsonl``, ``outputs/``, ``logs/``). Resumes: cases already in the
    journal with a status other than ``harness_error`` are skipped (and their
    records returned); ``harness_error`` cases are retried with ``attempt`` + 1.
    A journal written for another image ID raises ``ValueError`` (no mixing).
    ``on_case_done`` is called in the calling process after each newly run case
    (from a worker thread when ``parallel_cases`` > 1).
    """
    from evalkit.config import load_challenge

    challenge = config if config is not None else load_challenge()
    limits = RunnerLimits.from_config(challenge.runner)
    contract_limits = dict(challenge.contract)
    name = name or image.name
    sub_dir = submission_dir(run_dir, name)
    sub_dir.mkdir(parents=True, exist_ok=True)
    (sub_dir / "image.json").write_text(image.to_json() + "\n")
    if client is None:
        from evalkit.runner.engine import ensure_engine

        client = ensure_engine()
    run_token = token_for(str(sub_dir.resolve()))
    cleanup_leftovers(client, sub_dir, run_token)

    jobs = as_jobs(cases)
    journal_path = sub_dir / "journal.jsonl"
    done = latest_by_case(read_journal(journal_path))
    others = sorted({r.image_id for r in done.values()} - {image.image_id})
    if others:
        raise ValueError(
            f"{journal_path}: holds results of image {others[0]}, not {image.image_id}; "
            "use another submission name or run folder instead of mixing two images")
    results: dict[str, CaseRecord] = {}
    todo: list[tuple[CaseJob, int]] = []
    for job in jobs:
        prev = done.get(job.name)
        if prev is not None and prev.status != "harness_error":
            results[job.name] = prev
        else:
            todo.append((job, (prev.attempt or 1) + 1 if prev is not None else 1))

    use_cgroups = _cgroups_usable(client)
    degraded = limits.parallel_cases > 1
    counts = Counter(r.status for r in results.values())
    lock = threading.Lock()
    bar = tqdm(total=len(jobs), initial=len(results), desc=f"run {name}", unit="case",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)
    bar.set_postfix_str(_summary(counts))

    def one(item: tuple[CaseJob, int]) -> CaseRecord:
        job, attempt = item
        try:
            job = CaseJob(job.name, job.input_path,
                          job.expected_shape or _expected_shape(job, contract_limits), job.dim)
        except Exception as exc:  # noqa: BLE001 - unreadable input: organiser side, recorded as harness_error
            now = utc_now()
            rec = CaseRecord(case=job.name, status="harness_error", image_id=image.image_id,
                             reason=f"input {job.input_path}: {exc}"[:600], attempt=attempt,
                             started_at=now, finished_at=now, degraded_timing=degraded)
        else:
            rec = run_case(client, image.image_id, job, sub_dir, limits, contract_limits,
                           run_token=run_token, attempt=attempt, use_cgroups=use_cgroups,
                           degraded=degraded)
        with lock:
            journal.append(rec)
            results[rec.case] = rec
            counts[rec.status] += 1
            bar.update(1)
            bar.set_postfix_str(_summary(counts))
        if on_case_done is not None:
            on_case_done(rec)
        return rec

    with open_journal(journal_path) as journal:
        try:
            if limits.parallel_cases > 1 and len(todo) > 1:
                with ThreadPoolExecutor(max_workers=limits.parallel_cases) as pool:
                    list(pool.map(one, todo))
            else:
                for item in todo:
                    one(item)
        finally:
            bar.close()
            remove_cgroup(f"evalkit/{run_token}")
    return [results[j.name] for j in jobs if j.name in results]


def _summary(counts: Counter) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"
