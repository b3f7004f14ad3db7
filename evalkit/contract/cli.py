"""``evalkit validate``: check a folder of cases (inputs, GT, predictions) against the contract.

Prints one line per case (``ok`` or the error) to stdout, a summary to stderr,
and exits 1 if any case (or the folder itself) fails.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from tqdm import tqdm

from evalkit.config import ConfigError, load_challenge
from evalkit.contract.cases import discover_cases
from evalkit.contract.errors import ContractError
from evalkit.contract.validate import load_gt, load_input, load_prediction
from evalkit.progress import is_terminal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inputs", required=True, type=Path, help="folder of input .npz cases")
    parser.add_argument("--gt", type=Path, default=None, help="folder of ground-truth .npz files")
    parser.add_argument(
        "--pred", type=Path, default=None, help="folder of predictions (<case>.npz with 'segs')"
    )
    parser.add_argument(
        "--manifest", type=Path, default=None, help="CSV case,modality,dim overriding names"
    )
    parser.add_argument(
        "--config", default=None, help="challenge TOML (default: the bundled cvpr24)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        challenge = load_challenge(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    limits = challenge.contract
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cases = discover_cases(args.inputs, args.gt, args.manifest, challenge)
        except ContractError as exc:
            print(f"FAIL {exc}")
            return 1
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if not cases:
        print(f"FAIL {args.inputs}: no .npz cases found")
        return 1
    failed = 0
    for case in tqdm(cases, desc="validate", unit="case", file=sys.stderr, leave=False,
                     disable=not is_terminal(sys.stderr)):  # no redraws in a log file
        try:
            inp = load_input(case, limits)
            checked = ["input"]
            if case.gt_path is not None:
                load_gt(
                    case.gt_path,
                    case.dim,
                    inp.spatial_shape,
                    limits,
                    n_boxes=inp.n_instances,
                    case=case.name,
                )
                checked.append("gt")
            if args.pred is not None:
                load_prediction(
                    args.pred / case.file_name, inp.spatial_shape, limits, case=case.name
                )
                checked.append("pred")
        except ContractError as exc:
            failed += 1
            tqdm.write(f"FAIL {case.name}: {exc}", file=sys.stdout)
            continue
        tqdm.write(
            f"ok   {case.name} ({case.dim}D {case.modality}, {inp.n_instances} boxes; "
            f"{'+'.join(checked)})",
            file=sys.stdout,
        )
    print(f"{len(cases) - failed}/{len(cases)} cases ok", file=sys.stderr)
    return 1 if failed else 0
