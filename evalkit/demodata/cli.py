"""``evalkit demo-data``: write a deterministic demo challenge data set."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from evalkit.demodata.presets import PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path,
                        help="folder to write (imgs/ and gts/ are created inside)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                        help="demo: one small case per modality (default); tiny: 4 very small "
                             "cases for tests; paper: the cases of Rep-MedSAM Table 6 (large); "
                             "cvpr25: 3D cases of the CVPR 2025 interactive track (boxes as dicts, "
                             "some without boxes, manifest.csv); cvpr25-text: text-prompted 3D "
                             "cases (semantic and instance); real: a "
                             "real nuclei image and the MNI brain template from the stardist and "
                             "nilearn wheels (downloaded once; licences in demodata.json)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--preview", type=Path, default=None, metavar="PNG",
                        help="also draw one case per modality with boxes and GT contours")


def run(args: argparse.Namespace) -> int:
    from evalkit.demodata.generate import generate

    if args.seed < 0:
        print(f"--seed must be >= 0, found {args.seed}")
        return 2
    t0 = time.perf_counter()
    paths = generate(args.out, args.preset, args.seed, progress=True)
    dt = time.perf_counter() - t0
    out = Path(args.out)
    print(f"wrote {len(paths)} cases (preset {args.preset}, seed {args.seed}) in {dt:.1f} s")
    print(f"  inputs: {out / 'imgs'}")
    print(f"  ground truth: {out / 'gts'}")
    print(f"  record: {out / 'demodata.json'}")
    if args.preset == "cvpr25":
        print(f"  manifest: {out / 'manifest.csv'}")
    if args.preview is not None and args.preset == "cvpr25":
        print("  preview: not available for the cvpr25 preset (its boxes are dicts)")
    elif args.preview is not None:
        from evalkit.demodata.preview import render_preview

        png = render_preview(out, args.preview)
        print(f"  preview: {png}")
    return 0
