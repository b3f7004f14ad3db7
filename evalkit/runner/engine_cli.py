"""``evalkit engine ensure``: start the Docker engine and build local base images."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["ensure"],
                        help="ensure: install/start the engine if needed and build the base image")
    parser.add_argument("--config", default=None, help="challenge TOML (for [runner] base_image)")


def run(args: argparse.Namespace) -> int:
    from evalkit.config import load_challenge
    from evalkit.runner.engine import EngineError, base_image_ref, ensure_engine

    base_image = load_challenge(args.config).runner["base_image"]  # a bad file fails first
    try:
        client = ensure_engine()
        ref = base_image_ref(client, base_image)
    except EngineError as exc:
        print(f"evalkit engine: {exc}", file=sys.stderr)
        return 1
    print(ref)
    return 0
