"""Case pages, algorithm pages, their bounds, subsets and interactive run records."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.config import load_challenge
from evalkit.metrics.registry import REGISTRY
from evalkit.ranking import rank_results
from evalkit.report import ReportInputError, build_report
from evalkit.report.inputs import log_tail
from evalkit.report.pages import PageLimits, lowest_cases, page_stem, select_case_pages


@pytest.fixture
def run4_copy(run4, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run4, dst, symlinks=True)
    return dst


def test_case_pages_show_every_algorithm_and_are_linked(run23, report23):
    out = report23.out_dir
    scores = pd.concat(
        pd.read_csv(p).assign(algorithm=p.parent.name)
        for p in (run23 / "scores").glob("*/cases.csv")
    )
    journal = {
        p.parent.name: pd.read_json(p, lines=True).set_index("case")
        for p in (run23 / "submissions").glob("*/journal.jsonl")
    }
    failed = scores[scores["status"] != "ok"]
    index = (out / "index.html").read_text()
    for case in set(failed["case"]) | set(report23.example_cases):
        page = out / "cases" / f"{case}.html"
        assert page.is_file(), case
        assert f'href="cases/{case}.html"' in index, case  # failures table / examples
        html = page.read_text()
        for _, r in scores[scores["case"] == case].iterrows():
            alg = r["algorithm"]
            assert f'href="../algorithms/{alg}.html">{alg}</a>' in html
            assert f"{r['dsc']:.4f}" in html and f"{r['nsd']:.4f}" in html
            assert f"{journal[alg].loc[case, 'wall_s']:.2f}" in html
    # the lowest case of every algorithm is linked from the leaderboard
    low = lowest_cases(pd.read_csv(run23 / "results.csv"), REGISTRY["DSC"], 1)
    for alg, case in zip(low["algorithm"], low["case"]):
        assert (out / "cases" / f"{case}.html").is_file()
        assert f'href="algorithms/{alg}.html"' in index
    assert re.search(r'<td><a href="cases/[^"]+\.html">', index)
    # the hostile log line is escaped on its case page
    hostile = (out / "cases" / "3DBox_CT_0002.html").read_text()
    assert "<script>alert(1)</script>" not in hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt; model file not found" in hostile
    assert "nonzero_exit" in hostile and "predict.sh exited with code 1" in hostile
    # a 3D example case has its picture
    assert (out / "cases" / "img" / "3DBox_CT_0001.png").is_file()
    assert 'src="img/3DBox_CT_0001.png"' in (out / "cases" / "3DBox_CT_0001.html").read_text()


def test_algorithm_pages(run23, report23):
    out = report23.out_dir
    results = pd.read_csv(run23 / "results.csv")
    for alg in results["algorithm"].unique():
        assert (out / "algorithms" / f"{alg}.html").is_file(), alg
    html = (out / "algorithms" / "dcugroup.html").read_text()  # oom + invalid_output
    assert "oom" in html and "invalid_output" in html
    assert 'href="../cases/3DBox_CT_0004.html"' in html
    r = results[(results["algorithm"] == "dcugroup") & (results["metric"] == "DSC")]
    assert f"{r[r['task'] == 'CT']['value'].mean():.4f}" in html
    rt = results[(results["algorithm"] == "dcugroup") & (results["metric"] == "RunningTime")]
    slowest = rt.sort_values("value", ascending=False).iloc[0]
    assert f"{slowest['value']:.2f}" in html and slowest["case"] in html


def test_page_bounds_are_parameters_and_stated(run4_copy):
    limits = PageLimits(lowest_per_algorithm=1, max_case_pages=4, max_case_images=2)
    report = build_report(run4_copy, run4_copy / "rep", progress=False, pages=limits)
    pages = sorted((report.out_dir / "cases").glob("*.html"))
    assert len(pages) == 4 == report.pages["case_pages"]
    assert len(list((report.out_dir / "cases" / "img").glob("*.png"))) <= 2
    index = (report.out_dir / "index.html").read_text()
    assert "at most 4 pages" in index and "The first 2 pages show" in index
    big = build_report(
        run4_copy,
        run4_copy / "rep2",
        progress=False,
        pages=PageLimits(lowest_per_algorithm=50, max_case_pages=10_000),
    )
    assert big.pages["case_pages"] == 50  # every case, each once


def test_selection_order_and_page_stems():
    failures = pd.DataFrame({"algorithm": ["b"], "case": ["c2"]})
    lowest = pd.DataFrame({"algorithm": ["a", "b"], "case": ["c3", "c2"]})
    sel = select_case_pages(["c1"], failures, lowest, 10)
    assert list(sel["case"]) == ["c1", "c2", "c3"]
    assert sel.set_index("case").loc["c2", "why"] == "failed: b; lowest: b"
    assert list(select_case_pages(["c1"], failures, lowest, 2)["case"]) == ["c1", "c2"]
    assert page_stem("3DBox_CT_0001") == "3DBox_CT_0001"
    stems = {page_stem(n) for n in ["../etc/passwd", "a b", "a_b", ".hidden", "x" * 300, "é"]}
    assert len(stems) == 6
    for s in stems:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", s), s


def test_log_tail_is_bounded_printable_and_refuses_symlinks(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"x" * 100_000 + b"\nline \x1b[31mred\n" + b"y" * 500 + b"\n")
    tail = log_tail(log, max_lines=2, max_chars=50)
    assert tail[0] == "line \\x1b[31mred" and len(tail[1]) == 51
    link = tmp_path / "b.log"
    os.symlink(log, link)
    assert log_tail(link) == []


def test_subset_report_reranks_with_the_ranking_code(run4_copy, capsys):
    results = pd.read_csv(run4_copy / "results.csv")
    algs = sorted(results["algorithm"].unique())[:2]
    report = build_report(
        run4_copy, run4_copy / "sub", progress=False, algorithms=algs, tasks=["CT", "MR"]
    )
    board = pd.read_csv(report.out_dir / "leaderboard.csv")
    assert sorted(board["algorithm"]) == algs
    assert {c for c in board.columns if c.startswith("DSC_")} >= {"DSC_CT", "DSC_MR"}
    assert "DSC_US" not in board.columns
    sub = results[results["algorithm"].isin(algs) & results["task"].isin(["CT", "MR"])]
    config = json.loads(json.dumps(load_challenge(run4_copy / "challenge.toml").ranking))
    expected = rank_results(sub, config).final_ranking.set_index("algorithm")
    assert (board.set_index("algorithm")["final_rank"] == expected.loc[algs, "final_rank"]).all()
    index = (report.out_dir / "index.html").read_text()
    assert "Subset report: algorithms " + ", ".join(algs) + "; tasks CT, MR" in index
    assert "differ from the full run" in index
    assert (report.out_dir / "ranking" / "final_ranking.csv").is_file()
    # default folder: inside the run's report, never over the full report
    again = build_report(run4_copy, progress=False, algorithms=algs[:1] + algs[1:])
    assert again.out_dir.parent == run4_copy / "report" / "subsets"
    with pytest.raises(ReportInputError, match=r"unknown task\(s\): Brain.*CT"):
        build_report(run4_copy, run4_copy / "x", progress=False, tasks=["Brain"])
    assert (
        main(
            [
                "report",
                "--run",
                str(run4_copy),
                "--algorithms",
                "nobody",
                "--out",
                str(run4_copy / "y"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "nobody" in err and algs[0] in err


def test_interactive_run_records_on_the_case_page(run4_copy):
    journal = run4_copy / "submissions" / "seno" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    first = json.loads(lines[0])
    runs = [dict(first, record="run", iteration=i, wall_s=1.5 * i) for i in (1, 2, 3)]
    journal.write_text("\n".join([json.dumps(r) for r in runs] + lines) + "\n")
    report = build_report(run4_copy, run4_copy / "rep", progress=False)
    html = (report.out_dir / "cases" / f"{first['case']}.html").read_text()
    assert "Iterations (interactive protocol)" in html
    for i in (1, 2, 3):
        assert re.search(rf"<td[^>]*>{i}</td>", html) and f"{1.5 * i:.2f}" in html
    assert "clicks" in html
    other = next(
        p for p in (report.out_dir / "cases").glob("*.html") if first["case"] not in p.name
    )
    assert "Iterations" not in other.read_text()
