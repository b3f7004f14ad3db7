"""``evalkit check``: will my image pass the real evaluation?"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from evalkit.config import load_challenge
from evalkit.text import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", metavar="IMAGE_OR_TARBALL",
                        help="your image: a tarball from 'docker save' or a local image reference")
    parser.add_argument("--cases", type=Path, default=None,
                        help="sample cases (imgs/ and gts/); default: the demo set, generated once "
                             "into ~/.cache/evalkit")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the run folder here (outputs, logs, journal); default: a temporary folder")
    parser.add_argument("--config", default=None, help="challenge file (TOML); default: bundled cvpr24")
    parser.add_argument("--no-progress", action="store_true")


def _fmt(x, spec: str) -> str:
    return "-" if x is None or pd.isna(x) else format(x, spec)


def run(args: argparse.Namespace) -> int:
    from evalkit.workflows.check import check, check_metrics, default_cases_dir, demo_preset

    try:
        challenge = load_challenge(args.config)
        cases = args.cases or default_cases_dir(preset=demo_preset(challenge))
        with tempfile.TemporaryDirectory(prefix="evalkit-check-") as tmp:
            out = args.out or Path(tmp)
            result = check(args.submission, cases, out, challenge, progress=not args.no_progress)
    except FileNotFoundError as exc:
        print(f"evalkit check: {exc}", file=sys.stderr)
        return 2
    r = challenge.runner
    print(f"image {printable(result.image.reference)} ({result.image.image_id[:19]}), "
          f"{result.image.size_bytes / 2**20:.0f} MiB; limits: memory {r['memory']} (no swap), "
          f"{r['cpus']} CPUs, {r['timeout_s']} s per case, no network")
    if "runs" in result.table.columns:
        _print_interactive(result.table)
    else:
        _print_single(result.table, check_metrics(challenge))
    for w in result.warnings:
        print(f"warning: {printable(w)}")
    if result.passed:
        print("VERDICT: PASS - every case ran within the limits and wrote a valid output.")
        return 0
    print("VERDICT: FAIL - this image would lose cases in the real evaluation:")
    for line in result.problems:
        print(f"  {printable(line)}")
    return 1


def _print_interactive(table: pd.DataFrame) -> None:
    from evalkit.metrics import registry

    auc, final = registry.get("DSC_AUC").column, registry.get("DSC_Final").column
    print(f"{'case':<28} {'status':<12} {'total s':>8} {'DSC_AUC':>8} {'DSC_Final':>9}  runs 1-6")
    for row in table.to_dict("records"):
        print(f"{printable(row['case']):<28} {row['status']:<12} {_fmt(row['wall_s'], '8.2f')} "
              f"{_fmt(row[auc], '8.4f')} {_fmt(row[final], '9.4f')}  {row['runs']}")


def _print_single(table: pd.DataFrame, metrics) -> None:
    """One line per case: status, time, memory and every enabled scored metric (DSC, NSD; F1...)."""
    print(f"{'case':<28} {'status':<15} {'time s':>7} {'peak MiB':>9} "
          + " ".join(f"{m.name:>7}" for m in metrics))
    for row in table.to_dict("records"):
        print(f"{printable(row['case']):<28} {row['status']:<15} {_fmt(row['wall_s'], '7.2f')} "
              f"{_fmt(row['peak_memory_mb'], '9.0f')} "
              + " ".join(f"{_fmt(row.get(m.column), '7.4f'):>7}" for m in metrics))
