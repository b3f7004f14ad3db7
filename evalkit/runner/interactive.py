"""The interactive protocol (CVPR25): a box run, then one run after each simulated click.

Per case, with ``n = [protocol] clicks`` (5):

1. run 1 gets the case's input (its per-class boxes). A case without ``boxes`` skips
   it: a run record with status ``skipped``, no output, time 0 (scored 0, as the
   official script does);
2. before each run ``k = 2 .. n + 1`` the harness computes one click per class of the
   ground truth from the prediction standing after run ``k - 1``
   (:func:`evalkit.runner.clicks.next_clicks`; the GT stays on the host) and writes a
   new input: ``imgs``, ``spacing``, ``clicks``, ``clicks_order`` (accumulated),
   ``prev_pred`` (that prediction, uint8) and ``boxes`` (when the case has them),
   the members and pickled object layout participants' code loads today.

Every run is a fresh locked-down container of the executor. After each run the
protocol appends a ``record = "run"`` journal line whose ``output`` names the file
that stands for that run's prediction:

* the run's own valid output, moved to ``iterations/<case>/<k>.npz``;
* after a failed run (any status but ``ok``), with ``[protocol.official]
  keep_outputs`` (the official outputs folder is kept between runs): the previous
  standing file, which the official script scores again; its reason says so;
* otherwise (strict) none: the run scores 0 and the next click comes from an empty
  prediction.

The clicks of every run are kept, pickle-free, in ``iterations/<case>/clicks.json``.
The case record that follows the run lines has the summed wall clock and CPU time,
the final standing file (copied to ``outputs/<case>.npz``), and a status: ``ok``
when every run was ``ok`` (or ``skipped``); ``over_budget`` when the runs together
took longer than ``budget_s_per_class`` x the GT's classes (the remaining runs are
not started; the case scores 0); else the first failed run's status, its reason
prefixed with ``run k:`` (the case is still scored run by run).

Resume: run records of the current attempt already in the journal are not run
again; the clicks are recomputed from their standing files (the same clicks: the
simulation is deterministic), and the first unfinished run is the next one. A
``harness_error`` run ends the case as ``harness_error`` (retried from run 1 as the
next attempt, like any harness error).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.config import Challenge, load_challenge
from evalkit.runfolder import CaseRecord, Journal, SubmissionFolder
from evalkit.runfolder.layout import atomic_write_text
from evalkit.runner.executor import Executor, RunJob
from evalkit.runner.protocols import Protocol


@dataclass(frozen=True)
class InteractiveSettings:
    """``[protocol]`` of an interactive challenge, resolved.

    ``clicks``: click runs after the box run. ``seed``: the tie-break seed of the
    click simulation. ``max_edt_voxels``: padded error boxes above this are
    max-pooled 2x2x2 before the distance transform. ``budget_s_per_class``: time
    budget of all runs of a case, seconds per GT class (0 = none). ``keep_outputs`` /
    ``uint8_prev``: the official quirks (``mode = "strict"`` sets both false).
    """

    clicks: int = 5
    seed: int = 42
    max_edt_voxels: int = 60_000_000
    budget_s_per_class: float = 90.0
    keep_outputs: bool = True
    uint8_prev: bool = True

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> InteractiveSettings:
        p = challenge.data.get("protocol") or {}
        official = p.get("official") or {}
        strict = p.get("mode", "official") == "strict"
        return cls(clicks=int(p.get("clicks", 5)), seed=int(p.get("click_seed", 42)),
                   max_edt_voxels=int(p.get("max_edt_voxels", 60_000_000)),
                   budget_s_per_class=float(p.get("budget_s_per_class", 90.0)),
                   keep_outputs=False if strict else bool(official.get("keep_outputs", True)),
                   uint8_prev=False if strict else bool(official.get("uint8_prev", True)))


def write_run_input(path: Path, imgs: np.ndarray, spacing: np.ndarray, members: dict[str, Any],
                    prev_pred: np.ndarray, boxes_member: np.ndarray | None) -> None:
    """Write a click run's input as the official harness does (``np.savez_compressed`` of
    ``imgs, spacing, clicks, clicks_order, prev_pred[, boxes]``; ``clicks`` and
    ``clicks_order`` become the object arrays numpy makes of the lists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    arrays: dict[str, Any] = {"imgs": imgs, "spacing": spacing, "clicks": members["clicks"],
                              "clicks_order": members["clicks_order"], "prev_pred": prev_pred}
    if boxes_member is not None:
        arrays["boxes"] = boxes_member
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


class Interactive(Protocol):
    """The CVPR25 interactive protocol (module docstring)."""

    kind = "interactive"

    def __init__(self, settings: InteractiveSettings | None = None):
        self.settings = settings if settings is not None else InteractiveSettings.from_challenge(
            load_challenge("cvpr25-interactive"))

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> Interactive:
        return cls(InteractiveSettings.from_challenge(challenge))

    def run_case(self, executor: Executor, job: RunJob, previous_runs: list[CaseRecord],
                 journal: Journal) -> CaseRecord:
        from evalkit.contract import load_gt, load_interactive_input, load_prediction
        from evalkit.runner.clicks import ClickHistory, ClickSettings, next_clicks

        s = self.settings
        sub, case = job.submission, job.case
        if case.gt_path is None:
            raise ValueError(f"case {case.name}: the interactive protocol needs its ground truth "
                             "(a gts/ folder beside imgs/) to simulate clicks")
        inp = load_interactive_input(case.input_path, job.contract_limits, case=case.name)
        gts = load_gt(case.gt_path, 3, inp.spatial_shape, job.contract_limits, case=case.name).gts
        labels = [int(v) for v in np.unique(gts) if v != 0]
        click_settings = ClickSettings(uint8_prev=s.uint8_prev, max_edt_voxels=s.max_edt_voxels,
                                       seed=s.seed)
        folder = sub.iterations_dir(case.name)
        folder.mkdir(parents=True, exist_ok=True)
        done = {r.iteration: r for r in previous_runs if r.attempt == job.attempt}
        budget = s.budget_s_per_class * len(labels)
        history = ClickHistory(labels)
        runs: list[CaseRecord] = []
        standing: Path | None = None

        def prediction(path: Path | None) -> np.ndarray | None:
            if path is None:
                return None
            return load_prediction(path, inp.spatial_shape, job.contract_limits, case=case.name)

        for k in range(1, s.clicks + 2):
            prev = prediction(standing) if k > 1 else None
            if k > 1:
                history.add(next_clicks(prev, gts, click_settings))
                atomic_write_text(folder / "clicks.json", history.to_json() + "\n")
            rec = done.get(k)
            if rec is None:
                rec = self._run(executor, job, k, inp, history, prev, folder)
                rec = self._stand(rec, k, standing, folder, sub)
                journal.append(rec)
            runs.append(rec)
            if rec.status == "harness_error":
                return replace(rec, record="case", reason=f"run {k}: {rec.reason}")
            standing = sub.root / rec.output if rec.output else None
            if standing is not None and not standing.is_file():
                raise FileNotFoundError(f"{standing}: the recorded prediction of run {k} is gone")
            total = sum(r.wall_s or 0.0 for r in runs)
            if budget > 0 and total > budget:
                return self._case(runs, standing, sub, case.name, status="over_budget",
                                  reason=f"runs 1-{k} took {total:.1f} s, over the budget of "
                                  f"{budget:g} s ({s.budget_s_per_class:g} s x {len(labels)} "
                                  "classes); the case scores 0")
        return self._case(runs, standing, sub, case.name)

    def _run(self, executor: Executor, job: RunJob, k: int, inp, history, prev: np.ndarray | None,
             folder: Path) -> CaseRecord:
        """Run ``k`` in a fresh container (run 1 on the case's own input)."""
        from evalkit.runner.execute import utc_now

        if k == 1:
            if inp.boxes is None:
                now = utc_now()
                return CaseRecord(case=job.case.name, status="skipped", wall_s=0.0, engine_s=0.0,
                                  image_id=job.image.image_id, started_at=now, finished_at=now,
                                  reason="no boxes: the box run is skipped and scores 0",
                                  attempt=job.attempt, degraded_timing=job.degraded, iteration=1)
            return executor.run(replace(job, iteration=1))
        shape = inp.spatial_shape
        if prev is None:
            prev_pred = np.zeros(shape, np.uint8)
        elif self.settings.uint8_prev or int(prev.max(initial=0)) <= 255:
            prev_pred = prev.astype(np.uint8)
        else:
            prev_pred = prev
        written = job.submission.work_dir / "interactive" / f"{folder.name}.npz"
        # np.int64 coordinates, the objects the official script pickles
        write_run_input(written, inp.imgs, inp.spacing, history.to_members(numpy_scalars=True),
                        prev_pred, inp.boxes_member)
        try:
            return executor.run(replace(job, iteration=k,
                                        case=replace(job.case, input_path=written)))
        finally:
            written.unlink(missing_ok=True)

    def _stand(self, rec: CaseRecord, k: int, standing: Path | None, folder: Path,
               sub: SubmissionFolder) -> CaseRecord:
        """The run record of run ``k``: its output moved to ``<k>.npz``, or what stands instead."""
        rec = replace(rec, record="run", iteration=k)
        if rec.status == "ok" and rec.output:
            mine = folder / f"{k}.npz"
            os.replace(sub.root / rec.output, mine)
            return replace(rec, output=sub.relative(mine))
        if rec.status in ("skipped", "harness_error"):
            return replace(rec, output=None)
        if self.settings.keep_outputs and standing is not None:
            return replace(rec, output=sub.relative(standing),
                           reason=f"{rec.reason}; scored with the prediction of run "
                           f"{standing.stem} (official: the outputs folder is kept between runs)")
        return replace(rec, output=None, reason=f"{rec.reason}; this run scores 0")

    @staticmethod
    def _case(runs: list[CaseRecord], standing: Path | None, sub: SubmissionFolder, case: str,
              status: str | None = None, reason: str = "") -> CaseRecord:
        """The case record after its runs: summed times, final prediction, one status."""
        last = runs[-1]
        failed = next((r for r in runs if r.status not in ("ok", "skipped")), None)
        if status is None:
            status = failed.status if failed is not None else "ok"
            reason = f"run {failed.iteration}: {failed.reason}" if failed is not None else ""
        output = None
        if standing is not None:
            final = sub.output(case)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(final.name + ".part")
            shutil.copyfile(standing, tmp)
            os.replace(tmp, final)
            output = sub.relative(final)

        def total(field: str) -> float | None:
            values = [getattr(r, field) for r in runs if r.status != "skipped"]
            return None if not values or any(v is None for v in values) else float(sum(values))

        peaks = [r.peak_memory_bytes for r in runs if r.peak_memory_bytes is not None]
        return replace(last, record="case", status=status, reason=reason[:1200], output=output,
                       wall_s=sum(r.wall_s or 0.0 for r in runs), engine_s=total("engine_s"),
                       start_overhead_s=total("start_overhead_s"), cpu_s=total("cpu_s"),
                       peak_memory_bytes=max(peaks) if peaks else None,
                       started_at=runs[0].started_at,
                       degraded_timing=any(r.degraded_timing for r in runs),
                       exit_code=failed.exit_code if failed is not None else last.exit_code,
                       oom_killed=any(r.oom_killed for r in runs),
                       killed_by_runner=any(r.killed_by_runner for r in runs))
