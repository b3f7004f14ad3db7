"""Harness overhead per case: `evalkit` runner vs a plain `docker run` of the same image.

For a trivial image (tests/images/ok: reads the staged case, writes a box-fill
answer), each round times, back to back on the same input:

* baseline: ``docker run --rm`` via the docker CLI with the same two mounts and
  ``sh predict.sh`` (no limits, no staging, no validation);
* harness: ``run_submission`` on that one case (staging, capped outputs mount,
  cgroup parent, locked-down container, deadline loop, logs, collection,
  contract validation, journal fsync), timed end to end.

Prints medians and the overhead (harness - baseline) per case, plus the official
``wall_s`` (create -> exit) the harness records. Usage:
``python benchmarks/runner.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _builder():
    spec = importlib.util.spec_from_file_location("img_build", ROOT / "tests/images/build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()

    from evalkit.config import load_challenge
    from evalkit.runner import ImageRecord, run_submission
    from evalkit.runner.engine import base_image_ref, ensure_engine
    from evalkit.runner.executor import DockerExecutor

    client = ensure_engine()
    image_id = _builder().build_image(client, "ok", base_image_ref(client))
    image = ImageRecord("bench", image_id, image_id, None, None, 0, "", "amd64", "")
    challenge = load_challenge()
    executor = DockerExecutor(challenge, client=client)
    tmp = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
    try:
        case = tmp / "2DBox_CT_0001.npz"
        rng = np.random.default_rng(0)
        np.savez_compressed(case, imgs=rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
                            boxes=np.array([[4, 4, 40, 40]], dtype=np.int64))
        base, harness, wall, engine = [], [], [], []
        for i in range(args.rounds):
            inp, out = tmp / f"in{i}", tmp / f"out{i}"
            inp.mkdir(mode=0o755)
            out.mkdir(mode=0o777)
            out.chmod(0o777)
            shutil.copy(case, inp / case.name)
            t = time.perf_counter()
            subprocess.run(["docker", "run", "--rm", "-v", f"{inp}:/workspace/inputs:ro",
                            "-v", f"{out}:/workspace/outputs", image_id, "sh", "predict.sh"],
                           check=True, capture_output=True)
            base.append(time.perf_counter() - t)
            assert (out / case.name).exists()
            t = time.perf_counter()
            recs = run_submission(image, [case], tmp / "run", challenge, name=f"r{i}",
                                  executor=executor, progress=False)
            harness.append(time.perf_counter() - t)
            assert recs[0].status == "ok", recs[0].reason
            wall.append(recs[0].wall_s)
            engine.append(recs[0].engine_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    print(f"rounds: {args.rounds} (trivial image, 64x64 2D case, bundled cvpr24 limits)")
    print(f"docker run --rm (CLI), median:           {med(base):.3f} s")
    print(f"evalkit run_submission per case, median: {med(harness):.3f} s")
    print(f"  recorded wall_s (create->exit):        {med(wall):.3f} s")
    print(f"  recorded engine_s (Started->Finished): {med(engine):.3f} s")
    print(f"harness overhead per case (median diff): {med(h - b for h, b in zip(harness, base, strict=True)):+.3f} s")
    print(f"ratio harness / docker run:              {med(harness) / med(base):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
