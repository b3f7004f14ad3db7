"""The ``evalkit`` command: a thin front end over the stages.

Each subcommand lives with its stage as ``evalkit/<stage>/cli.py`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them.
Stage modules are imported lazily so ``evalkit --help`` stays fast and a broken
optional stage cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from evalkit.errors import EvalkitError
from evalkit.text import printable

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-data": ("evalkit.demodata.cli", "write the deterministic demo challenge data set"),
    "validate": ("evalkit.contract.cli", "check a folder of cases (inputs, GT, predictions) against the contract"),
    "run": ("evalkit.runner.cli", "run one submission image on a folder of cases"),
    "engine": ("evalkit.runner.engine_cli", "install/start the Docker engine and build local base images"),
    "score": ("evalkit.metrics.cli", "score a folder of predictions against ground truth (DSC, NSD)"),
    "rank": ("evalkit.ranking.cli", "rank algorithms from a long results table"),
    "report": ("evalkit.report.cli", "write the leaderboard, figures and index.html of a run"),
    "evaluate": ("evalkit.workflows.evaluate_cli", "run, score, rank and report submissions (resumable)"),
    "check": ("evalkit.workflows.check_cli", "participant self-check of an image on sample cases"),
    "rerun": ("evalkit.workflows.rerun_cli", "rerun a submission of a stored run by image ID"),
    "compare": ("evalkit.workflows.compare_cli", "compare two runs: metric differences and runtime ratio"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalkit",
        description="Evaluate, score and rank promptable medical image segmentation submissions.",
    )
    from evalkit import __version__

    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_unavailable=f"'evalkit {name}' is not available in this build ({module} missing).")
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except EvalkitError as exc:  # the one place an intended error becomes an exit status
        print(f"evalkit {args.command}: {printable(exc.one_line())}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
