"""``evalkit report --run DIR [--out DIR]``: write the leaderboard, figures and index.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        required=True,
        type=Path,
        metavar="DIR",
        help="run folder (results.csv, ranking/, scores/, submissions/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="report folder (default: <run>/report)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from evalkit.report.build import build_report

    report = build_report(args.run, args.out, progress=not args.no_progress)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.index)
    return 0
