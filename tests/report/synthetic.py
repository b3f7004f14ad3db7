"""A synthetic run folder (docs/design.md layout) for report tests.

``make_run(root, n_algorithms=23)`` writes results for ``n_algorithms`` algorithms on
every CVPR24 modality, per-submission scores, journals with a few failures, bounded
logs, image records, and one tiny npz example case per modality (input, GT and every
algorithm's prediction). Ranking outputs come from the real ``evalkit.ranking``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.config import load_challenge
from evalkit.ranking import rank_results, write_ranking

NAMES = [
    "seno",
    "automlfreiburg",
    "skippinglegday",
    "hmi306",
    "baseline-litemedsam",
    "dcugroup",
    "lkeb-medsam-distill",
    "ns-lab",
    "team-with-a-rather-long-submission-name",
    "uestc-vision",
    "medi-lite",
    "fastseg",
    "repvit-sam",
    "efficient-box",
    "tinyvit-prompt",
    "pixelwise",
    "ucas-mia",
    "boxformer",
    "litemed-xl",
    "cpu-seg",
    "sam-on-laptop",
    "nano-medsam",
    "quicksam",
]
DIM3 = {"CT", "MR", "PET"}
FAILURES = {  # algorithm index -> list of (case index within run, status, reason, log line)
    2: [(0, "timeout", "case exceeded the 900 s deadline", "Processing slice 41/120")],
    5: [
        (3, "oom", "container killed by the kernel OOM killer (8g limit)", "Killed"),
        (
            7,
            "invalid_output",
            "segs: expected shape (64, 64), found (32, 32)",
            "ValueError: could not broadcast input array",
        ),
    ],
    11: [
        (
            1,
            "nonzero_exit",
            "predict.sh exited with code 1",
            "RuntimeError: <script>alert(1)</script> model file not found",
        )
    ],
    17: [(4, "missing_output", "no outputs/<case>.npz written", "done.")],
}


def _case_names(modalities: list[str], per_modality: int) -> list[tuple[str, str, int]]:
    out = []
    for mod in modalities:
        dim = 3 if mod in DIM3 else 2
        for i in range(per_modality):
            out.append((f"{dim}DBox_{mod}_{i + 1:04d}", mod, dim))
    return out


def _example_arrays(rng: np.random.Generator, dim: int) -> tuple[dict, dict]:
    """A tiny phantom: image, boxes and GT with two blobs."""
    size = 64
    yy, xx = np.mgrid[:size, :size]
    gts2 = np.zeros((size, size), np.uint16)
    boxes = []
    for label, (cy, cx, r) in enumerate([(22, 24, 10), (42, 44, 8)], start=1):
        mask = ((yy - cy) / r) ** 2 + ((xx - cx) / (r * 1.3)) ** 2 <= 1
        gts2[mask] = label
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min() - 2, ys.min() - 2, xs.max() + 2, ys.max() + 2])
    base = (40 + 120 * (gts2 > 0) + rng.normal(0, 18, (size, size))).clip(0, 255).astype(np.uint8)
    if dim == 2:
        imgs = np.stack([base, base, (base * 0.8).astype(np.uint8)], axis=-1)
        return ({"imgs": imgs, "boxes": np.array(boxes, np.int64)}, {"gts": gts2})
    depth = 6
    imgs = np.stack([base] * depth)
    gts = np.zeros((depth, size, size), np.uint16)
    gts[1:5] = gts2
    boxes3 = np.array([[b[0], b[1], 1, b[2], b[3], 4] for b in boxes], np.int64)
    spacing = np.array([2.5, 0.8, 0.8])
    return ({"imgs": imgs, "boxes": boxes3, "spacing": spacing}, {"gts": gts, "spacing": spacing})


def _perturb(gts: np.ndarray, shift: int) -> np.ndarray:
    return np.roll(gts, shift, axis=-1)


def make_run(
    root: Path,
    *,
    n_algorithms: int = 23,
    per_modality: int = 8,
    seed: int = 0,
    bootstrap_samples: int = 40,
    examples: bool = True,
    bootstrap: bool = True,
    demo_dir: Path | None = None,
    names: list[str] | None = None,
) -> Path:
    """Write a synthetic run folder under ``root`` and return it.

    ``demo_dir``: a folder written by ``evalkit demo-data`` (``imgs/``, ``gts/``); its
    cases replace the tiny phantoms as example cases where the names match."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    challenge = load_challenge()
    (root / "challenge.toml").write_text(challenge.to_toml())
    (root / "run.json").write_text(
        json.dumps(
            {
                "created": "2026-01-01T00:00:00+00:00",
                "challenge": "cvpr24",
                "config_source": "bundled:cvpr24",
                "seed": challenge.ranking["seed"],
                "bootstrap_samples": bootstrap_samples,
                "versions": {"python": "3.11", "evalkit": "0.1.0", "numpy": np.__version__},
                "invocations": [
                    {
                        "command": ["evalkit", "evaluate", "--synthetic"],
                        "at": "2026-01-01T00:00:00+00:00",
                    }
                ],
            },
            indent=2,
        )
    )
    modalities = challenge.modalities
    cases = _case_names(modalities, per_modality)
    algs = names or [NAMES[i] if i < len(NAMES) else f"algo{i:02d}" for i in range(n_algorithms)]

    data = root / "data"
    case_rows = []
    example_gts: dict[str, np.ndarray] = {}
    for ci, (case, mod, dim) in enumerate(cases):
        inp, gtp = data / "inputs" / f"{case}.npz", data / "gts" / f"{case}.npz"
        sha = ""
        if examples and case.endswith("_0001"):
            inp.parent.mkdir(parents=True, exist_ok=True)
            gtp.parent.mkdir(parents=True, exist_ok=True)
            if demo_dir is not None and (demo_dir / "imgs" / f"{case}.npz").is_file():
                shutil.copy(demo_dir / "imgs" / f"{case}.npz", inp)
                shutil.copy(demo_dir / "gts" / f"{case}.npz", gtp)
                with np.load(gtp, allow_pickle=False) as z:
                    example_gts[case] = z["gts"]
            else:
                x, g = _example_arrays(rng, dim)
                np.savez_compressed(inp, **x)
                np.savez_compressed(gtp, **g)
                example_gts[case] = g["gts"]
            sha = hashlib.sha256(inp.read_bytes()).hexdigest()
        case_rows.append(
            {
                "case": case,
                "modality": mod,
                "dim": dim,
                "input_path": str(inp),
                "gt_path": str(gtp),
                "input_sha256": sha,
                "gt_sha256": sha,
            }
        )
    pd.DataFrame(case_rows).to_csv(root / "cases.csv", index=False)

    mod_effect = {m: rng.normal(0, 0.04) for m in modalities}
    case_effect = rng.normal(0, 0.07, len(cases))  # shared difficulty: paired tests see it
    results = []
    for a, alg in enumerate(algs):
        quality = 0.9 - 0.012 * a + rng.normal(0, 0.01)
        speed2, speed3 = 1.0 + 0.6 * a * rng.uniform(0.5, 1.5), 8 + 3 * a * rng.uniform(0.5, 1.5)
        fails = {ci: (st, why, line) for ci, st, why, line in FAILURES.get(a, [])}
        sub = root / "submissions" / alg
        (sub / "logs").mkdir(parents=True, exist_ok=True)
        (sub / "outputs").mkdir(parents=True, exist_ok=True)
        image_id = "sha256:" + hashlib.sha256(alg.encode()).hexdigest()
        (sub / "image.json").write_text(
            json.dumps(
                {
                    "name": alg,
                    "reference": f"{alg}:latest",
                    "image_id": image_id,
                    "tarball": f"{alg}.tar.gz",
                    "tarball_sha256": hashlib.sha256(alg[::-1].encode()).hexdigest(),
                    "size_bytes": 1_000_000 * (a + 1),
                    "user": "1000:1000",
                    "architecture": "amd64",
                    "created": "2025-12-01T00:00:00Z",
                }
            )
        )
        journal, score_rows = [], []
        for ci, (case, mod, dim) in enumerate(cases):
            q = np.clip(quality + mod_effect[mod] + case_effect[ci] + rng.normal(0, 0.03), 0, 1)
            dsc = float(np.clip(q, 0, 1))
            nsd = float(np.clip(dsc + rng.normal(0.02, 0.05), 0, 1))
            wall = float(rng.lognormal(np.log(speed3 if dim == 3 else speed2), 0.25))
            status, reason, line = "ok", "", f"finished {case}"
            if ci in fails:
                status, reason, line = fails[ci]
                dsc = nsd = 0.0
                if status == "timeout":
                    wall = 900.0
            (sub / "logs" / f"{case}.log").write_text(f"loading model\nrunning {case}\n{line}\n")
            out = None
            if case in example_gts and status == "ok":
                gt = example_gts[case]
                seg = _perturb(gt, shift=(1 + a % 4) * max(1, gt.shape[-1] // 64))
                np.savez_compressed(sub / "outputs" / f"{case}.npz", segs=seg)
                out = f"outputs/{case}.npz"
            journal.append(
                {
                    "case": case,
                    "status": status,
                    "exit_code": 0 if status == "ok" else 1,
                    "oom_killed": status == "oom",
                    "killed_by_runner": status == "timeout",
                    "wall_s": wall,
                    "engine_s": wall * 0.97,
                    "start_overhead_s": 0.4,
                    "cpu_s": wall * 1.6,
                    "peak_memory_bytes": int(2e9),
                    "reason": reason,
                    "output": out,
                    "image_id": image_id,
                    "started_at": "2026-01-01T00:00:00Z",
                    "finished_at": "2026-01-01T00:00:10Z",
                    "attempt": 1,
                    "degraded_timing": False,
                }
            )
            score_rows.append(
                {
                    "case": case,
                    "modality": mod,
                    "dim": dim,
                    "n_instances": 2,
                    "dsc": round(dsc, 4),
                    "nsd": round(nsd, 4),
                    "dsc_unrounded": dsc,
                    "nsd_unrounded": nsd,
                    "status": status,
                    "reason": reason,
                }
            )
            results += [
                (mod, case, alg, "DSC", round(dsc, 4)),
                (mod, case, alg, "NSD", round(nsd, 4)),
                (mod, case, alg, "RunningTime", wall),
            ]
        with (sub / "journal.jsonl").open("w") as fh:
            fh.writelines(json.dumps(j) + "\n" for j in journal)
        (root / "scores" / alg).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(score_rows).to_csv(root / "scores" / alg / "cases.csv", index=False)
    res = pd.DataFrame(results, columns=["task", "case", "algorithm", "metric", "value"])
    res.to_csv(root / "results.csv", index=False)
    write_ranking_outputs(res, root / "ranking", bootstrap_samples, seed)
    if not bootstrap:
        for name in (
            "bootstrap_ranks",
            "bootstrap_rank_frequencies",
            "kendall_tau",
            "kendall_tau_summary",
        ):
            (root / "ranking" / f"{name}.csv").unlink(missing_ok=True)
    return root


def write_ranking_outputs(results: pd.DataFrame, out: Path, B: int, seed: int) -> None:
    """Ranking CSVs from the real ranking stage, with ``B`` bootstrap samples."""
    config = dict(load_challenge().ranking, bootstrap_samples=B, seed=seed)
    write_ranking(rank_results(results, config), out)
