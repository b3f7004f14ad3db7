"""The 23-algorithm report: every promised file, valid; numbers equal their sources;
index.html loads in headless Chromium with no missing image."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from evalkit.config import load_challenge

MODALITIES = load_challenge().modalities
METRICS = ["DSC", "NSD", "RunningTime"]
FIGURES = (
    [
        "scores_2d",
        "scores_3d",
        "bubbles_2d",
        "bubbles_3d",
        "modality_scores_top",
        "runtime_2d_top",
        "runtime_3d_top",
        "examples",
        "rank_heatmap",
        "blob_final",
        "kendall_tau",
    ]
    + [f"blob_tasks_{m}" for m in METRICS]
    + [f"significance_{m}" for m in METRICS]
    + [f"case_rank_heatmap_{m}" for m in METRICS]
    + [f"podium_{m}" for m in METRICS]
)
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_every_promised_file_exists_and_is_valid(report23):
    out = report23.out_dir
    assert sorted(f.name for f in report23.figures) == sorted(FIGURES), report23.notes
    for name in FIGURES:
        png = imread(out / "figures" / f"{name}.png")
        assert png.ndim == 3 and png.shape[0] > 200 and png.shape[1] > 300, name
        assert png[..., :3].std() > 0.01, f"{name}.png is blank"
        root = ET.parse(out / "figures" / f"{name}.svg").getroot()
        assert root.tag.endswith("svg"), name
        data = pd.read_csv(out / "figures" / f"{name}.csv")
        assert len(data) > 0 and len(data.columns) >= 2, name
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 23
    for col in [
        "final_rank",
        "algorithm",
        "mean_rank",
        "boot_median_rank",
        "rank_ci_lo",
        "rank_ci_hi",
        "p_rank1",
        "n_failed",
        "failed_timeout",
        "failed_oom",
    ]:
        assert col in board.columns, col
    for metric in METRICS:
        for mod in MODALITIES:
            assert board[f"{metric}_{mod}"].notna().all(), f"{metric}_{mod}"
    md = (out / "leaderboard.md").read_text()
    table_lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table_lines) == 4 * (23 + 2)  # main + DSC/NSD/runtime per modality
    assert len({ln.count("|") for ln in table_lines[:25]}) == 1  # rectangular
    html = (out / "leaderboard.html").read_text()
    assert html.count("<table") == 4 and html.count("<tr") == 4 * 24
    index = (out / "index.html").read_text()
    for name in FIGURES:
        assert f'src="figures/{name}.png"' in index
    assert "http://" not in index and "https://" not in index  # no network needed
    failures = pd.read_csv(out / "failures.csv")
    assert set(failures["status"]) == {
        "timeout",
        "oom",
        "invalid_output",
        "nonzero_exit",
        "missing_output",
    }
    json.loads((out / "report.json").read_text())


def test_numbers_equal_their_sources(run23, report23):
    board = pd.read_csv(report23.out_dir / "leaderboard.csv").set_index("algorithm")
    final = pd.read_csv(run23 / "ranking" / "final_ranking.csv").set_index("algorithm")
    assert (board["final_rank"] == final.loc[board.index, "final_rank"]).all()
    np.testing.assert_allclose(board["mean_rank"], final.loc[board.index, "consensus_score"])
    assert list(board["final_rank"]) == sorted(board["final_rank"])

    boot = pd.read_csv(run23 / "ranking" / "bootstrap_ranks.csv")
    fb = boot[boot["scope"] == "final"].set_index("algorithm").loc[board.index]
    np.testing.assert_allclose(board["rank_ci_lo"], fb["rank_lo"])
    np.testing.assert_allclose(board["rank_ci_hi"], fb["rank_hi"])
    np.testing.assert_allclose(board["p_rank1"], fb["p_rank1"])
    np.testing.assert_allclose(board["boot_median_rank"], fb["median_rank"])

    results = pd.read_csv(run23 / "results.csv")
    for alg, metric, mod in [
        ("seno", "DSC", "CT"),
        ("quicksam", "NSD", "OCT"),
        ("dcugroup", "RunningTime", "MR"),
        ("skippinglegday", "DSC", "CT"),
    ]:
        sel = results[
            (results["algorithm"] == alg) & (results["metric"] == metric) & (results["task"] == mod)
        ]
        assert board.loc[alg, f"{metric}_{mod}"] == pytest.approx(sel["value"].mean())

    for alg in board.index:
        journal = pd.read_json(run23 / "submissions" / alg / "journal.jsonl", lines=True)
        counts = journal["status"].value_counts()
        assert board.loc[alg, "n_failed"] == int((journal["status"] != "ok").sum())
        for status in ("timeout", "oom", "invalid_output", "nonzero_exit", "missing_output"):
            assert board.loc[alg, f"failed_{status}"] == int(counts.get(status, 0)), (alg, status)

    # the Markdown shows the same numbers, formatted
    md = (report23.out_dir / "leaderboard.md").read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| 1 | "))
    assert f"{board.iloc[0]['mean_rank']:.3f}" in row
    assert f"{board.iloc[0]['DSC_all']:.4f}" in row

    # figure data equals the results they summarise
    bub = pd.read_csv(report23.out_dir / "figures" / "bubbles_3d.csv").set_index("algorithm")
    r3 = results[results["case"].str.startswith("3D")]
    means = r3.groupby(["algorithm", "metric"])["value"].mean().unstack()
    np.testing.assert_allclose(bub["RunningTime"], means.loc[bub.index, "RunningTime"])
    np.testing.assert_allclose(bub["NSD"], means.loc[bub.index, "NSD"])


def test_hostile_log_text_is_escaped(report23):
    index = (report23.out_dir / "index.html").read_text()
    assert "<script>alert(1)</script>" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    for case, status in [("3DBox_CT_0001", "timeout"), ("3DBox_CT_0004", "oom")]:
        assert case in index and status in index
    assert "Processing slice 41/120" in index  # last stderr line of the timed-out case


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.geteuid() != 0:
        pytest.skip(
            "chromium is not installed and the test is not running as root, so it "
            "cannot apt-get install it"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"],
        [
            "apt-get",
            "-o",
            "DPkg::Lock::Timeout=300",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "chromium",
        ],
    ):
        done = subprocess.run(
            cmd, env=env, check=False, capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            pytest.skip(f"could not install chromium ({' '.join(cmd)}): {done.stderr[-300:]}")
    exe = shutil.which("chromium")
    if not exe:
        pytest.skip("apt-get install chromium succeeded but no chromium executable was found")
    return exe


def _dump(exe: str, page: Path, profile: Path) -> str:
    """The DOM of ``page`` after load, as headless Chromium sees it."""
    done = subprocess.run(
        [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "<body" in done.stdout, f"no <body> in dumped DOM; stderr: {done.stderr[-500:]}"
    return done.stdout


def _body_counts(exe: str, page: Path, profile: Path, dom: str | None = None) -> tuple[int, int]:
    dom = _dump(exe, page, profile) if dom is None else dom
    body = re.search(r"<body[^>]*>", dom)
    assert body, "no <body> in dumped DOM"
    images = re.search(r'data-images="(\d+)"', body.group(0))
    broken = re.search(r'data-broken-images="(\d+)"', body.group(0))
    assert images and broken, f"load script did not run: {body.group(0)}"
    return int(images.group(1)), int(broken.group(1))


def test_index_loads_in_headless_chromium(report23, tmp_path):
    exe = _chromium()
    n_images, n_broken = _body_counts(exe, report23.index, tmp_path / "profile")
    assert n_images == len(report23.figures)
    assert n_broken == 0

    # the check can fail: a copy with one figure removed reports exactly one broken image
    copy = tmp_path / "report_copy"
    shutil.copytree(report23.out_dir, copy)
    (copy / "figures" / "examples.png").unlink()
    assert _body_counts(exe, copy / "index.html", tmp_path / "profile2") == (n_images, 1)

    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report_index.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile3'}",
            "--virtual-time-budget=15000",
            "--window-size=1400,2400",
            f"--screenshot={shot}",
            report23.index.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert shot.is_file() and imread(shot).shape[0] > 1000


def _links_resolve(dom: str, page: Path, root: Path) -> int:
    """Every ``href``/``src`` of the dumped DOM names a file inside ``root``; returns
    how many were checked."""
    targets = re.findall(r'(?:href|src)="([^"#]+)(?:#[^"]*)?"', dom)
    for t in targets:
        assert "://" not in t, t
        path = (page.parent / t.replace("&amp;", "&")).resolve()
        assert path.is_relative_to(root.resolve()), (page.name, t)
        assert path.is_file(), (page.name, t)
    return len(targets)


def test_case_and_algorithm_pages_load_and_link_inside_the_report(report23, tmp_path):
    exe = _chromium()
    out = report23.out_dir
    pages = [
        out / "index.html",
        out / "cases" / "3DBox_CT_0001.html",
        out / "algorithms" / "seno.html",
    ]
    for i, page in enumerate(pages):
        dom = _dump(exe, page, tmp_path / f"p{i}")
        n_images, n_broken = _body_counts(exe, page, tmp_path / f"p{i}", dom)
        assert n_broken == 0, page
        assert _links_resolve(dom, page, out) > 3, page
        if page.parent.name == "cases":
            assert n_images == 1  # the case's slices
    # the check can fail: a dangling link is found
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><a href="cases/nope.html">x</a></body></html>')
    with pytest.raises(AssertionError):
        _links_resolve(bad.read_text(), bad, tmp_path)


def test_provenance_in_index(run23, report23):
    index = (report23.out_dir / "index.html").read_text()
    meta = json.loads((run23 / "ranking" / "ranking_meta.json").read_text())
    assert f"Seed: <code>{meta['seed']}</code>" in index
    assert f"bootstrap samples: <code>{meta['B']}</code>" in index
    for sub in (run23 / "submissions").iterdir():
        image = json.loads((sub / "image.json").read_text())
        assert image["image_id"] in index
    assert "tolerance_mm = 2.0" in index  # the run's challenge.toml
    assert "&quot;numpy&quot;: " in index  # versions from run.json (escaped)
