"""``evalkit rerun``: run a stored submission again by image ID and compare."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="the stored run folder (reports/<run>)")
    parser.add_argument("--submission", required=True, help="submission name in that run")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the rerun folder goes (default: beside the run)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from evalkit.workflows.compare_cli import print_comparison
    from evalkit.workflows.reproduce import compare, rerun, side_table, write_comparison
    from evalkit.workflows.runfolder import RunFolder

    stored = RunFolder(args.run)
    new = rerun(stored, args.submission, args.out or stored.root.parent, progress=not args.no_progress)
    cmp = compare(side_table(stored, args.submission), side_table(new, args.submission), stored.challenge())
    write_comparison(cmp, new.root / "comparison", "stored", "rerun")
    print_comparison(cmp, "stored", "rerun", new.root / "comparison")
    print(f"rerun folder: {new.root}")
    return 0 if cmp.reproduced else 1
