"""``evalkit score``: score a folder of predictions against ground truth (the enabled metrics)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalkit.config import ConfigError, load_challenge
from evalkit.metrics.folder import output_paths, read_statuses, score_folder, write_scores
from evalkit.metrics.settings import settings_from_challenge
from evalkit.text import printable

EPILOG = """\
outputs (beside --out):
  --out scores/cases.csv  ->  scores/cases.csv, scores/instances.csv
  --out scores/team.csv   ->  scores/team.csv,  scores/team_instances.csv
  plus Parquet copies (<stem>.parquet, <instances stem>.parquet) and <stem>_meta.json
  (settings, challenge file, package versions).

cases.csv:     case, modality, dim, n_instances, dsc, nsd, dsc_unrounded, nsd_unrounded, status, reason
instances.csv: case, modality, dim, label, dsc, nsd, gt_voxels, pred_voxels
  (with the default [metrics] enabled = ["DSC", "NSD"]; every enabled metric adds its
  column, e.g. enabled = ["DSC", "NSD", "HD95", "ASSD"] adds hd95, assd, hd95_unrounded, ...)

status: ok; a runner status from --statuses (scored DSC 0 / NSD 0); missing_output or
invalid_output (DSC 0 / NSD 0, reason names the file, key and problem); gt_error and
harness_error (NaN). Exit status: 0 when every case was scored (whatever the participant's
outputs), 1 when a GT file is unusable or scoring failed, 2 for bad arguments.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--gt", required=True, type=Path, help="folder of ground-truth <case>.npz (gts, spacing)")
    parser.add_argument("--pred", required=True, type=Path, help="folder of predictions <case>.npz (segs)")
    parser.add_argument("--inputs", type=Path, default=None,
                        help="folder of input cases <case>.npz (text cases read their text_prompts there)")
    parser.add_argument("--out", required=True, type=Path, help="cases CSV to write (instances CSV beside it)")
    parser.add_argument("--config", default=None, help="challenge TOML (default: the bundled cvpr24)")
    parser.add_argument("--mode", choices=["official", "strict"], default=None,
                        help="override metrics.mode of the challenge file")
    parser.add_argument("--statuses", type=Path, default=None,
                        help="runner journal.jsonl: non-ok runner statuses carry through (DSC 0 / NSD 0)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: metrics.workers of the challenge file)")
    parser.add_argument("--no-parquet", action="store_true", help="write CSV only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        challenge = load_challenge(args.config)
        settings = settings_from_challenge(challenge, mode=args.mode)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.gt.is_dir():
        print(f"error: --gt {args.gt}: not a folder", file=sys.stderr)
        return 2
    if not args.pred.is_dir():
        print(f"warning: --pred {args.pred}: not a folder; every case scores as missing_output",
              file=sys.stderr)
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return 2
    statuses = {}
    if args.statuses is not None:
        try:
            statuses = read_statuses(args.statuses)
        except (OSError, ValueError) as exc:
            print(f"error: --statuses: {exc}", file=sys.stderr)
            return 2
    case_info = None
    if args.inputs is not None and challenge.contract.get("inputs") == "text":
        from evalkit.contract import discover_cases

        try:  # free case names: modality and dim as case discovery finds them
            case_info = {c.name: (c.modality, c.dim)
                         for c in discover_cases(args.inputs, None, challenge=challenge)}
        except (OSError, ValueError) as exc:
            print(f"error: --inputs: {exc}", file=sys.stderr)
            return 2
    cases, instances = score_folder(
        args.gt,
        args.pred if args.pred.is_dir() else None,
        settings,
        limits=challenge.contract,
        aliases=challenge.modality_aliases,
        statuses=statuses,
        workers=args.workers,
        progress=not args.quiet,
        inputs_dir=args.inputs,
        case_info=case_info,
    )
    paths = write_scores(
        cases, instances, args.out, settings=settings, challenge_toml=challenge.to_toml(),
        parquet=not args.no_parquet,
        extra={"gt_dir": str(args.gt), "pred_dir": str(args.pred), "challenge_source": challenge.source,
               "statuses": None if args.statuses is None else str(args.statuses)},
    )
    counts = cases["status"].value_counts().to_dict()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"scored {len(cases)} cases ({settings.mode} mode): {summary}", file=sys.stderr)
    if len(cases):
        means = ", ".join(f"mean {m.name} {cases[m.column].mean():.4f}" for m in settings.metrics)
        print(means, file=sys.stderr)
    for key in ("cases", "instances"):
        print(f"wrote {paths[key]}", file=sys.stderr)
    bad = cases[cases["status"].isin(["gt_error", "harness_error"])]
    for _, row in bad.iterrows():
        print(f"FAIL {printable(row['case'])}: {row['status']}: {printable(str(row['reason']))}",
              file=sys.stderr)
    return 1 if len(bad) else 0


__all__ = ["add_arguments", "output_paths", "run"]
