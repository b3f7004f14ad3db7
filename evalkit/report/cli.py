"""``evalkit report --run DIR [--out DIR] [--algorithms a,b] [--tasks CT,MR]``: write the
leaderboard, figures, case and algorithm pages and index.html (a subset is re-ranked)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


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
        help="report folder (default: <run>/report; a subset: <run>/report/subsets/subset-<hash>)",
    )
    parser.add_argument(
        "--algorithms",
        type=_names,
        default=None,
        metavar="A,B",
        help="only these algorithms (comma-separated), re-ranked on the subset",
    )
    parser.add_argument(
        "--tasks",
        type=_names,
        default=None,
        metavar="T,U",
        help="only these tasks (modalities, comma-separated), re-ranked on the subset",
    )
    parser.add_argument(
        "--lowest-cases",
        type=int,
        default=None,
        metavar="N",
        help="case pages for the N lowest-scoring cases of every algorithm (default 3)",
    )
    parser.add_argument(
        "--max-case-pages", type=int, default=None, metavar="N", help="at most N case pages (500)"
    )
    parser.add_argument(
        "--max-case-images",
        type=int,
        default=None,
        metavar="N",
        help="pictures on the first N case pages (60)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from evalkit.report.build import build_report
    from evalkit.report.pages import PageLimits

    limits = PageLimits()
    for field, value in (
        ("lowest_per_algorithm", args.lowest_cases),
        ("max_case_pages", args.max_case_pages),
        ("max_case_images", args.max_case_images),
    ):
        if value is not None:
            limits = replace(limits, **{field: max(0, value)})
    report = build_report(
        args.run,
        args.out,
        progress=not args.no_progress,
        algorithms=args.algorithms,
        tasks=args.tasks,
        pages=limits,
    )
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.index)
    return 0
