"""``evalkit evaluate``: run, score, rank and report submissions into a run folder."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from evalkit.config import load_challenge
from evalkit.text import printable

BUNDLED_MANIFEST = Path("build/reference/images.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="*", metavar="[NAME=]IMAGE",
                        help="image tarballs (.tar, .tar.gz) or local image references; "
                             "NAME= sets the name shown on the leaderboard")
    parser.add_argument("--bundled", action="store_true",
                        help=f"also evaluate the bundled reference submissions (built by "
                             f"reference_submissions/build.py, listed in {BUNDLED_MANIFEST})")
    parser.add_argument("--cases", type=Path, required=True,
                        help="case folder with imgs/ and gts/ (official format)")
    parser.add_argument("--run", default=None,
                        help="run name (folder under --reports) or a path; default: from the submissions")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="where run folders live")
    parser.add_argument("--config", default=None, help="challenge file (TOML); default: bundled cvpr24")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="run the containers on this Dask scheduler's workers (the dask "
                             "executor; overrides [executor] scheduler; README 'Several machines')")
    parser.add_argument("--wait", action="store_true",
                        help="if another evalkit process is using the run folder, wait for it "
                             "(default: stop at once, naming it)")


#: ``[contract] inputs`` -> the track whose bundled images suit it (``images-<track>.json``).
TRACKS = {"boxes": "", "interactive": "interactive", "text": "text"}


def bundled_manifest(challenge=None) -> Path:
    """The bundled-images list for ``challenge``'s inputs: ``images.json`` (CVPR24 boxes),
    ``images-interactive.json``, ``images-text.json`` (written by reference_submissions/build.py)."""
    inputs = "boxes" if challenge is None else challenge.contract.get("inputs", "boxes")
    track = TRACKS.get(inputs, inputs)
    return BUNDLED_MANIFEST if not track else BUNDLED_MANIFEST.with_name(f"images-{track}.json")


def bundled_submissions(manifest: Path = BUNDLED_MANIFEST) -> list[str]:
    """``NAME=REFERENCE`` for each image that ``reference_submissions/build.py`` built."""
    if not manifest.is_file():
        raise FileNotFoundError(
            f"{manifest}: no bundled images listed. Build them first: "
            "'.venv/bin/python reference_submissions/build.py' (or 'make references')."
        )
    images = json.loads(manifest.read_text())
    return [f"{name}={ref}" for name, ref in images.items()]


def _run_dir(args, subs) -> Path:
    if args.run:
        p = Path(args.run)
        return p if (p.is_absolute() or len(p.parts) > 1) else args.reports / p
    names = [s.name or Path(s.source).name.split(".")[0].split(":")[0] for s in subs]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", "+".join(names))[:60] or "run"
    return args.reports / slug


def run(args: argparse.Namespace) -> int:
    from evalkit.runner.executor import make_executor
    from evalkit.workflows.evaluate import Submission, evaluate

    try:
        challenge = load_challenge(args.config)
        texts = list(args.submissions) + (bundled_submissions(bundled_manifest(challenge))
                                          if args.bundled else [])
        if not texts:
            print("evalkit evaluate: no submissions given (pass images or --bundled).", file=sys.stderr)
            return 2
        subs = [Submission.parse(t) for t in texts]
        executor = make_executor(challenge, scheduler=args.scheduler) if args.scheduler else None
        try:
            outcome = evaluate(subs, args.cases, _run_dir(args, subs), challenge, executor=executor,
                               progress=not args.no_progress, command=sys.argv, wait=args.wait)
        finally:
            if executor is not None:
                executor.close()
    except FileNotFoundError as exc:
        print(f"evalkit evaluate: {exc}", file=sys.stderr)
        return 2
    board = outcome.run.report_dir / "leaderboard.md"
    if board.is_file():
        print(board.read_text())
    for note in outcome.notes:
        print(f"note: {printable(note)}")
    print(f"run folder: {outcome.run.root}")
    print(f"report:     {outcome.run.report_dir / 'index.html'}")
    harness = harness_errors(outcome.run)
    if harness:
        print("evalkit evaluate: the harness failed on " + ", ".join(f"{n}: {k} case(s)" for n, k in harness.items())
              + " (see the journals' reason). Fix the cause and run the same command again: "
              "only those cases are retried.", file=sys.stderr)
        return 1
    return 0


def harness_errors(run) -> dict[str, int]:
    """Submissions with cases whose latest record is ``harness_error`` (the run is incomplete)."""
    from evalkit.runner import latest_by_case, read_journal

    out = {}
    for name in run.submissions():
        latest = latest_by_case(read_journal(run.submission(name).journal))
        n = sum(r.status == "harness_error" for r in latest.values())
        if n:
            out[name] = n
    return out
