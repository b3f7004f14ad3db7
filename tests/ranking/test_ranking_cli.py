"""``evalkit rank`` end to end: real files in, every table out with the design's columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from ranking_helpers import random_table

from evalkit.cli import main

REPO = Path(__file__).resolve().parents[2]

COLUMNS = {
    "task_ranking.csv": ["task", "metric", "algorithm", "score", "rank", "n_cases", "n_missing"],
    "final_ranking.csv": ["algorithm", "consensus_score", "final_rank"],
    "case_ranks.csv": ["task", "metric", "case", "algorithm", "value", "rank"],
    "significance.csv": [
        "task",
        "metric",
        "algorithm",
        "other",
        "p_raw",
        "p_holm",
        "significant",
        "median_diff",
        "n_pairs",
    ],
    "bootstrap_ranks.csv": [
        "scope",
        "task",
        "metric",
        "algorithm",
        "median_rank",
        "rank_lo",
        "rank_hi",
        "p_rank1",
        "full_rank",
    ],
    "bootstrap_rank_frequencies.csv": ["scope", "task", "metric", "algorithm", "rank", "frequency"],
    "kendall_tau.csv": ["task", "metric", "sample", "tau"],
    "kendall_tau_summary.csv": ["task", "metric", "mean", "median", "q25", "q75"],
}


def write_inputs(tmp_path: Path, samples: int = 200) -> tuple[Path, Path]:
    df = random_table(np.random.default_rng(0), n_alg=4, missing=0.05)
    df.loc[0, "case"] = "NA"  # a case literally named NA must stay a case name
    results = tmp_path / "results.csv"
    df.to_csv(results, index=False)
    cfg = tmp_path / "challenge.toml"
    cfg.write_text(f"[ranking]\nbootstrap_samples = {samples}\nseed = 42\n")
    return results, cfg


def test_rank_writes_every_table_and_prints_leaderboard(tmp_path, capsys):
    results, cfg = write_inputs(tmp_path)
    out = tmp_path / "ranking"
    assert main(["rank", "--results", str(results), "--config", str(cfg), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    final = pd.read_csv(out / "final_ranking.csv")
    assert final["algorithm"].iloc[0] in stdout.splitlines()[2]  # first leaderboard row
    assert "p_rank1" in stdout
    for name, cols in COLUMNS.items():
        table = pd.read_csv(out / name, keep_default_na=False)
        assert list(table.columns) == cols, name
        assert len(table) > 0, name
    meta = json.loads((out / "ranking_meta.json").read_text())
    assert meta["scheme"] == "rank-then-aggregate" and meta["ties"] == "min"
    assert meta["seed"] == 42 and meta["B"] == 200 and meta["challenger_compat"] is False
    assert {"evalkit", "numpy", "scipy", "pandas", "python"} <= set(meta["versions"])
    assert meta["config_source"] == str(cfg)
    cases = pd.read_csv(out / "case_ranks.csv", keep_default_na=False)
    assert "NA" in set(cases["case"])
    assert len(pd.read_csv(out / "kendall_tau.csv")) == 6 * 200


def test_rank_bad_input_exits_2_with_message(tmp_path, capsys):
    results = tmp_path / "results.csv"
    results.write_text("task,case,algorithm,metric,value\nCT,c1,A,DSC,0.5\nCT,c1,A,DSC,0.6\n")
    rc = main(["rank", "--results", str(results), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "duplicate row" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    rc = main(["rank", "--results", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "absent.csv" in capsys.readouterr().err


def test_rank_as_a_real_process(tmp_path):
    results, cfg = write_inputs(tmp_path, samples=50)
    out = tmp_path / "ranking"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evalkit.cli",
            "rank",
            "--results",
            str(results),
            "--config",
            str(cfg),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "bootstrap" in proc.stderr  # tqdm progress bar on stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([*COLUMNS, "ranking_meta.json"])
