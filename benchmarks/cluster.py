"""Cluster throughput: the dask executor with one worker against two, on the same cases.

A `dask scheduler` and two `dask worker` processes run in network namespaces of their own
(tests/netns_cluster.py: separate hosts on this machine, joined by veth, sharing the local
Docker engine). Each worker offers one slot and every container gets ``cpus = 1``. The
image is tests/images/ok with ``sh busy.sh`` (about 3 s of CPU spin per case, then a
box-fill answer), on the tiny demo set copied to ``--cases`` cases. Prints cases per
minute with one worker and with two, the speed-up, and each node's calibration
(``nodes.csv``). Needs root, ``ip`` and ``nsenter``. Usage:
``python benchmarks/cluster.py [--cases 8]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CONFIG = """
[runner]
command = ["sh", "busy.sh"]
memory = "256m"
cpus = 1.0
pids_limit = 128
timeout_s = 30
tmpfs_tmp = "64m"
outputs_cap_bytes = 8_388_608
"""


def _builder():
    spec = importlib.util.spec_from_file_location("img_build", ROOT / "tests/images/build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_cases(out: Path, n: int) -> Path:
    """``n`` cases: the tiny preset's four, then renamed copies of them."""
    from evalkit.demodata.generate import generate

    tiny = out / "tiny"
    generate(tiny, preset="tiny", seed=0)
    imgs = out / "cases" / "imgs"
    imgs.mkdir(parents=True)
    sources = sorted((tiny / "imgs").glob("*.npz"))
    for i in range(n):
        src = sources[i % len(sources)]
        stem, _, number = src.stem.rpartition("_")
        shutil.copy(src, imgs / f"{stem}_{int(number) + 100 * (i // len(sources)):04d}.npz")
    return imgs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=8)
    args = ap.parse_args()

    from netns_cluster import NetnsCluster, why_not_available

    from evalkit.config import load_challenge
    from evalkit.contract import discover_cases
    from evalkit.runner.dask_executor import DaskExecutor
    from evalkit.runner.engine import base_image_ref, ensure_engine
    from evalkit.runner.run import run_submission

    reason = why_not_available()
    if reason:
        print(f"benchmarks/cluster.py: cannot run: {reason}", file=sys.stderr)
        return 2
    client = ensure_engine()
    image_id = _builder().build_image(client, "ok", base_image_ref(client))
    with tempfile.TemporaryDirectory(prefix="evalkit-cluster-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "busy.toml").write_text(CONFIG)
        challenge = load_challenge(tmp / "busy.toml")
        cases = discover_cases(make_cases(tmp, args.cases), challenge=challenge)
        rows, nodes = [], None
        with NetnsCluster(2, tmp / "cluster") as cluster:
            cluster.setup_network()
            cluster.start_scheduler()
            for n_workers in (1, 2):
                cluster.start_worker(n_workers - 1)
                cluster.wait_for_workers(n_workers)
                run = tmp / f"run{n_workers}"
                with DaskExecutor(challenge, scheduler=cluster.address, calibrate=False) as executor:
                    image = executor.prepare(image_id, name="busy")
                    t0 = time.monotonic()
                    records = run_submission(image, cases, run, challenge, name="busy",
                                             executor=executor, progress=False)
                    elapsed = time.monotonic() - t0
                walls = [r.wall_s for r in records if r.wall_s is not None]
                rows.append({"workers": n_workers, "cases": len(records),
                             "ok": sum(r.status == "ok" for r in records),
                             "elapsed_s": round(elapsed, 1),
                             "cases_per_min": round(60 * len(records) / elapsed, 2),
                             "median_wall_s": round(float(pd.Series(walls).median()), 2),
                             "per_node": dict(pd.Series([r.node for r in records]).value_counts())})
            # calibration (untimed): a one-case run with it on, both nodes up
            with DaskExecutor(challenge, scheduler=cluster.address) as executor:
                run_submission(image, cases[:1], tmp / "calibration", challenge, name="busy",
                               executor=executor, progress=False)
            nodes = pd.read_csv(tmp / "calibration" / "nodes.csv")
        table = pd.DataFrame(rows)
        print(f"dask executor throughput, {args.cases} cases of tests/images/ok busy.sh "
              "(cpus = 1 per container, one slot per worker):")
        print(table.to_string(index=False))
        print(f"speed-up two workers / one: {table['cases_per_min'].iloc[1] / table['cases_per_min'].iloc[0]:.2f}x")
        print("calibration (nodes.csv; median of 3 repetitions, seconds):")
        print(nodes[["node", "calibration_s", "calibration_runs", "cpu_model", "cpus"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
