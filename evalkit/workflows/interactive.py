"""Evaluate one submission under the interactive protocol: run, then score run by run.

The runner (:mod:`evalkit.runner.interactive`) journals every run; scoring waits
until the submission's runs are done, then reads the journal once and scores each
case in a process pool (:mod:`evalkit.metrics.interactive_scoring`). Writes
``scores/<sub>/cases.csv`` (the case metrics, read by ``results.csv``),
``scores/<sub>/iterations.csv`` (one row per run) and ``scores/<sub>/cases_meta.json``.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pandas as pd

from evalkit.config import Challenge
from evalkit.metrics.interactive_scoring import (
    InteractiveScoring,
    interactive_tables,
    score_interactive_case,
)
from evalkit.metrics.settings import settings_from_challenge
from evalkit.provenance import CORE_PACKAGES, versions
from evalkit.runfolder import RunFolder, read_journal
from evalkit.runfolder.journal import latest_by_case, runs_by_case
from evalkit.runner import ImageRecord, run_submission
from evalkit.runner.execute import CaseJob
from evalkit.runner.executor import Executor


def is_interactive(challenge: Challenge) -> bool:
    """Whether ``challenge`` runs the interactive protocol (``[protocol] kind``)."""
    return (challenge.data.get("protocol") or {}).get("kind") == "interactive"


def case_jobs(cases: pd.DataFrame) -> list[CaseJob]:
    """Runner jobs from the pinned case table (the GT path rides along for the clicks)."""
    from pathlib import Path

    return [CaseJob(c, Path(i), dim=int(d), gt_path=Path(g) if g else None)
            for c, i, d, g in zip(cases["case"], cases["input_path"], cases["dim"],
                                  cases["gt_path"], strict=True)]


def evaluate_interactive(run: RunFolder, image: ImageRecord, name: str, cases: pd.DataFrame,
                         challenge: Challenge, executor: Executor,
                         progress: bool = True) -> pd.DataFrame:
    """Run ``image`` on every case with the interactive protocol (resuming), score every run,
    write ``scores/<name>/``; returns the cases table."""
    run_submission(image, case_jobs(cases), run.root, challenge, name=name, executor=executor,
                   progress=progress)
    settings = settings_from_challenge(challenge)
    how = InteractiveScoring.from_challenge(challenge, settings)
    sub = run.submission(name)
    everything = read_journal(sub.journal, kind=None)
    final = latest_by_case([r for r in everything if r.record == "case"])
    runs_of = runs_by_case(everything)
    jobs = []
    for case, modality, input_path, gt_path in zip(cases["case"], cases["modality"],
                                                   cases["input_path"], cases["gt_path"],
                                                   strict=True):
        rec = final.get(case)
        attempt = rec.attempt if rec is not None else None
        runs = [r for r in runs_of.get(case, []) if attempt is None or r.attempt == attempt]
        jobs.append((case, modality, gt_path, input_path, str(sub.root), runs, rec, how))
    limits = dict(challenge.contract)
    with ProcessPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        futures = [pool.submit(score_interactive_case, *job, limits=limits) for job in jobs]
        results = [f.result() for f in futures]
    table, iterations = interactive_tables(results, how)
    out = run.scores_cases(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    iterations.to_csv(out.with_name("iterations.csv"), index=False)
    meta = {"created": datetime.now(UTC).isoformat(timespec="seconds"),
            "settings": settings.as_dict(), "interactive": how.__dict__,
            "versions": versions(CORE_PACKAGES), "n_cases": len(table),
            "status_counts": {str(k): int(v) for k, v in table["status"].value_counts().items()},
            "challenge_toml": challenge.to_toml(), "submission": name, "image_id": image.image_id}
    out.with_name("cases_meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return table
