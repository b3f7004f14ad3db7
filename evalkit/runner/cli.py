"""``evalkit run``: run one submission image on a folder of cases."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--submission", required=True,
                        help="image tarball (.tar, .tar.gz) or a local image reference/ID (never pulled)")
    parser.add_argument("--cases", required=True, type=Path,
                        help="folder of input .npz cases, or a folder holding imgs/")
    parser.add_argument("--out", required=True, type=Path,
                        help="run folder; results go to <out>/submissions/<name>/")
    parser.add_argument("--config", default=None, help="challenge TOML (default: bundled cvpr24)")
    parser.add_argument("--name", default=None, help="submission name (default: from the file/reference)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="run the containers on this Dask scheduler's workers (the dask "
                             "executor; overrides [executor] scheduler)")
    parser.add_argument("--wait", action="store_true",
                        help="if another evalkit process is using the submission folder, wait for it "
                             "(default: stop at once, naming it)")


def cases_folder(path: Path) -> Path:
    """``DIR`` or ``DIR/imgs`` when DIR holds an ``imgs/`` folder."""
    return path / "imgs" if (path / "imgs").is_dir() else path


def run(args: argparse.Namespace) -> int:
    from evalkit.config import load_challenge
    from evalkit.contract import discover_cases
    from evalkit.runfolder import RunFolder, check_name
    from evalkit.runner.executor import make_executor
    from evalkit.runner.run import run_submission

    if args.name is not None:
        check_name(args.name)  # before anything touches the engine or the disk
    try:
        challenge = load_challenge(args.config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cases = discover_cases(cases_folder(args.cases), challenge=challenge)
        for w in caught[:5]:
            print(f"evalkit run: warning: {w.message}", file=sys.stderr)
        if len(caught) > 5:
            print(f"evalkit run: ... and {len(caught) - 5} more warnings", file=sys.stderr)
        if not cases:
            print(f"evalkit run: no .npz cases in {cases_folder(args.cases)}", file=sys.stderr)
            return 2
        with make_executor(challenge, scheduler=args.scheduler) as executor:
            image = executor.prepare(args.submission, name=args.name)
            records = run_submission(image, cases, args.out, challenge, name=image.name,
                                     executor=executor, progress=not args.no_progress, wait=args.wait)
    except ValueError as exc:  # not an EvalkitError: e.g. duplicate case names
        print(f"evalkit run: {exc}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    journal = RunFolder(args.out).submission(image.name).journal
    print(f"{image.name} ({image.image_id[:19]}): {len(records)} cases, "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"; journal {journal}")
    return 0
