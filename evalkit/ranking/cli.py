"""``evalkit rank --results FILE [--config FILE] --out DIR``.

Reads the long results table (CSV: ``task, case, algorithm, metric, value``),
ranks it with the challenge file's ``[ranking]`` settings, writes every table as
CSV plus ``ranking_meta.json`` into ``--out`` and prints the final leaderboard.
Exit status 0 on success, 2 on unusable input or settings (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from evalkit.config import load_challenge
from evalkit.ranking.output import write_ranking
from evalkit.ranking.pipeline import RankingResult, rank_results
from evalkit.ranking.table import KEYS

NA_VALUES = ["", "NA", "NaN", "nan", "null"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", required=True, type=Path, help="long results table (CSV)")
    parser.add_argument(
        "--config",
        default=None,
        help="challenge file (TOML, merged over the bundled cvpr24 defaults); default: cvpr24",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder for the tables")


def read_results(path: str | Path) -> pd.DataFrame:
    """Read ``results.csv``: key columns as text (a case named "NA" stays "NA"),
    empty / NA values in ``value`` as missing."""
    return pd.read_csv(
        path,
        dtype={k: str for k in KEYS},
        keep_default_na=False,
        na_values={"value": NA_VALUES},
    )


def leaderboard(result: RankingResult) -> str:
    """The final ranking as text, with bootstrap stability columns when available."""
    board = result.final_ranking.copy()
    if result.bootstrap_ranks is not None:
        final = result.bootstrap_ranks[result.bootstrap_ranks["scope"] == "final"]
        board = board.merge(
            final[["algorithm", "median_rank", "rank_lo", "rank_hi", "p_rank1"]],
            on="algorithm",
            how="left",
        )
    board.insert(0, "rank", board.pop("final_rank").map(lambda r: f"{r:g}"))
    return board.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def run(args: argparse.Namespace) -> int:
    try:
        challenge = load_challenge(args.config)
        results = read_results(args.results)
        result = rank_results(results, challenge.ranking, progress=True)
    except FileNotFoundError as exc:
        print(f"evalkit rank: {exc}", file=sys.stderr)
        return 2
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        print(f"evalkit rank: {args.results}: not a readable CSV table: {exc}", file=sys.stderr)
        return 2
    result.meta["config_source"] = challenge.source
    result.meta["results_file"] = str(args.results)
    written = write_ranking(result, args.out)
    print(
        f"{challenge.name}: {len(result.final_ranking)} algorithms, "
        f"scheme {result.meta['scheme']}, ties {result.meta['ties']}, "
        f"B = {result.meta['B']} (seed {result.meta['seed']}, "
        f"challenger_compat {result.meta['challenger_compat']})"
    )
    print(leaderboard(result))
    print(f"wrote {len(written)} files to {args.out}", file=sys.stderr)
    return 0
