"""``check``: a participant's self-check of their image before they submit.

Runs the image under the challenge's official limits on sample cases (the demo set
by default), validates every output against the contract, scores it, and turns
each failure into a verdict a participant can act on: what went wrong, on which
case, and what to change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from evalkit.config import Challenge
from evalkit.metrics import registry
from evalkit.metrics.registry import Metric, enabled_scored
from evalkit.runfolder import RunFolder, RunFolderError, latest_by_case, read_journal, runs_by_case
from evalkit.runner import CaseRecord, ImageRecord, run_submission
from evalkit.runner.execute import READ_ONLY_NOTE
from evalkit.runner.executor import Executor, make_executor
from evalkit.workflows.evaluate import OverlappedScorer, case_table
from evalkit.workflows.interactive import evaluate_interactive, is_interactive

# status -> (what it means, how to fix it). {case}, {reason}, {limit} are filled in.
ADVICE: dict[str, tuple[str, str]] = {
    "timeout": (
        "case {case} ran past the {limit} s deadline and was killed",
        ("make inference faster (export to OpenVINO/ONNX, cache per-slice embeddings, "
        "use all CPUs the container gets) or check that predict.sh does not wait for input"),
    ),
    "oom": (
        "case {case} went over the {limit} memory limit (no swap) and was killed",
        ("lower peak memory: process 3D volumes slice by slice, free intermediate arrays, "
        "avoid loading every model at once"),
    ),
    "nonzero_exit": (
        "predict.sh failed on case {case}: {reason}",
        "run the image locally on this case and read the full log; the last stderr line is shown",
    ),
    "missing_output": (
        "no output for case {case} ({reason})",
        ("write /workspace/outputs/<same name as the input>.npz with key 'segs' for every "
        "input in /workspace/inputs"),
    ),
    "invalid_output": (
        "the output of case {case} breaks the contract: {reason}",
        ("write 'segs' as a uint16 (or uint8) label map with the input's spatial shape, "
        "label i for box i (text prompts: the class id of text_prompts, or instances 1..n), "
        "with np.savez_compressed (no pickled objects)"),
    ),
    "harness_error": (
        "evalkit could not run case {case}: {reason}",
        "this is on the evaluation side, not your image; rerun the check, and report it if it persists",
    ),
    "over_budget": (
        "case {case} went over its time budget: {reason}",
        ("the budget covers every run of a case together (box + clicks); start faster (lazy "
        "imports, a compiled model), reuse what each run can (prev_pred, cached embeddings)"),
    ),
}


#: A write to the read-only root filesystem, seen in a failed case's stderr.
READ_ONLY_ADVICE = ("[read_only_rootfs] your image writes to {path} (case {case}{more}), but only "
                    "/tmp, /workspace/outputs and the tmpfs folders the organisers list are writable. "
                    "Fix: write to /tmp, or ask the organisers to list it in [runner] writable_paths.")


def read_only_path(reason: str | None) -> str | None:
    """The path of a read-only-filesystem write the runner noted in a case's ``reason``
    (``"a path outside them"`` when the error named none); ``None`` when there is none."""
    _, sep, tail = (reason or "").rpartition(READ_ONLY_NOTE)
    if not sep:
        return None
    return tail.strip().split(" ")[0] or "a path outside them"


@dataclass
class CheckResult:
    image: ImageRecord
    table: pd.DataFrame  # case, status, wall_s, peak_memory_mb, <scored metric columns: dsc, nsd>, reason
    problems: list[str]  # one line per failing status: what happened and the fix
    warnings: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def default_cases_dir(seed: int = 0, preset: str = "demo") -> Path:
    """The demo set of ``preset`` in the user's cache, generated on first use (deterministic)."""
    from evalkit.demodata.generate import generate

    tag = f"demo-seed{seed}" if preset == "demo" else f"{preset}-seed{seed}"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evalkit" / tag
    if not (base / "gts").is_dir():
        generate(base, preset=preset, seed=seed)
    return base


def demo_preset(challenge: Challenge) -> str:
    """The demo-data preset matching ``challenge``'s inputs (``cvpr25`` for interactive ones,
    ``cvpr25-text`` for text prompts)."""
    inputs = challenge.contract.get("inputs")
    return {"interactive": "cvpr25", "text": "cvpr25-text"}.get(inputs, "demo")


def verdict_lines(records: list[CaseRecord], challenge: Challenge) -> list[str]:
    """One line per distinct failing status (first case named, count given) with its fix."""
    limits = {"timeout": challenge.runner["timeout_s"], "oom": challenge.runner["memory"]}
    by_status: dict[str, list[CaseRecord]] = {}
    for rec in records:
        if rec.status != "ok":
            by_status.setdefault(rec.status, []).append(rec)
    lines = []
    for status, recs in by_status.items():
        what, fix = ADVICE.get(status, ("case {case}: {reason}", "see the log"))
        first = recs[0]
        more = f" (and {len(recs) - 1} more case(s))" if len(recs) > 1 else ""
        text = what.format(case=first.case, reason=first.reason or "no message",
                           limit=limits.get(status, ""))
        lines.append(f"[{status}] {text}{more}. Fix: {fix}.")
    read_only = [(rec, path) for rec in records if (path := read_only_path(rec.reason)) is not None]
    if read_only:
        rec, path = read_only[0]
        more = f"; {len(read_only) - 1} more case(s) too" if len(read_only) > 1 else ""
        lines.append(READ_ONLY_ADVICE.format(path=path, case=rec.case, more=more))
    return lines


def image_warnings(image: ImageRecord) -> list[str]:
    out = []
    if image.user in ("", "root", "0", "0:0"):
        out.append("the image runs as root; the evaluation runs it with all capabilities dropped, "
                   "but a non-root USER in the Dockerfile is safer and more portable")
    if image.architecture not in ("amd64", "x86_64"):
        out.append(f"the image is built for {image.architecture}; the evaluation machine is amd64")
    return out


def check_metrics(challenge: Challenge) -> list[Metric]:
    """The scored metrics the check table shows (``[metrics] enabled``; DSC and NSD by default)."""
    return enabled_scored(challenge)


def check(submission: str, cases_dir: Path, out_dir: Path, challenge: Challenge, *,
          executor: Executor | None = None, progress: bool = True) -> CheckResult:
    """Run ``submission`` on ``cases_dir`` into ``out_dir`` and judge it as the evaluation would.

    ``executor``: where the image runs (``None``: ``[executor] kind`` of ``challenge``,
    closed at the end; one passed in is left open).
    """
    own = executor is None
    executor = executor if executor is not None else make_executor(challenge)
    try:
        return _check(submission, cases_dir, out_dir, challenge, executor, progress)
    finally:
        if own:
            executor.close()


def _check(submission: str, cases_dir: Path, out_dir: Path, challenge: Challenge, executor: Executor,
           progress: bool) -> CheckResult:
    cases = case_table(cases_dir, challenge)
    image = executor.prepare(submission)
    if is_interactive(challenge):
        return _check_interactive(image, cases, out_dir, challenge, executor, progress)
    scorer = OverlappedScorer(challenge, cases) if (cases["gt_path"] != "").all() else None
    sub_dir = RunFolder(out_dir).submission_dir(image.name)
    columns = [m.column for m in check_metrics(challenge)]
    try:
        records = run_submission(image, [Path(p) for p in cases["input_path"]], out_dir, challenge,
                                 name=image.name, executor=executor, progress=progress)
        if scorer is not None:
            for rec in records:
                scorer.submit(sub_dir, rec.case, rec.status, rec.reason, rec.output)
            scores = scorer.tables()[0].set_index("case")
        else:
            scores = None
    finally:
        if scorer is not None:
            scorer.close()
    rows = []
    for rec in records:
        rows.append({
            "case": rec.case,
            "status": rec.status,
            "wall_s": rec.wall_s,
            "peak_memory_mb": None if rec.peak_memory_bytes is None else rec.peak_memory_bytes / 2**20,
            **{c: None if scores is None else scores.loc[rec.case, c] for c in columns},
            "reason": rec.reason,
        })
    return CheckResult(image, pd.DataFrame(rows), verdict_lines(records, challenge), image_warnings(image))


def _check_interactive(image: ImageRecord, cases: pd.DataFrame, out_dir: Path, challenge: Challenge,
                       executor: Executor, progress: bool) -> CheckResult:
    """The check under the interactive protocol: every run judged, failures named by run."""
    if (cases["gt_path"] == "").any():
        raise RunFolderError("the interactive check simulates clicks from the ground truth: "
                             "give a case folder with gts/ (evalkit demo-data --preset cvpr25)")
    run = RunFolder(out_dir)
    table = evaluate_interactive(run, image, image.name, cases, challenge, executor,
                                 progress=progress).set_index("case")
    everything = read_journal(run.submission(image.name).journal, kind=None)
    finals = latest_by_case([r for r in everything if r.record == "case"])
    runs_of = runs_by_case(everything)
    n_runs = int(challenge.data["protocol"]["clicks"]) + 1
    failed_runs = []
    for r in everything:
        final = finals.get(r.case)
        if (r.record == "run" and final is not None and r.attempt == final.attempt
                and r.status not in ("ok", "skipped")):
            failed_runs.append(replace(r, case=f"{r.case} (run {r.iteration} of {n_runs}: "
                                       f"{'the box run' if r.iteration == 1 else 'click ' + str(r.iteration - 1)})"))
    budget = [f for f in finals.values() if f.status == "over_budget"]
    columns = [registry.get(n).column for n in ("DSC_AUC", "DSC_Final", "NSD_Final")]
    rows = []
    for case, rec in finals.items():
        runs = [r.status for r in runs_of.get(case, []) if r.attempt == rec.attempt]
        rows.append({"case": case, "status": rec.status, "wall_s": rec.wall_s,
                     "peak_memory_mb": None if rec.peak_memory_bytes is None
                     else rec.peak_memory_bytes / 2**20,
                     "runs": " ".join(runs),
                     **{c: table.loc[case, c] if case in table.index else None for c in columns},
                     "reason": rec.reason})
    return CheckResult(image, pd.DataFrame(rows), verdict_lines(failed_runs + budget, challenge),
                       image_warnings(image))
