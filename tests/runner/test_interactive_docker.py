"""The interactive protocol on the real engine: every run a fresh locked-down container.

The ``flaky-runs`` test image (tests/images/flaky-runs) answers a fixed block on every
run except the one its case name asks it to fail: a timeout, an out-of-memory kill, an
invalid output, no output or a crash in run k. Each shows up in run k's journal record,
the later runs still happen, and the official keep-outputs switch scores run k with the
previous run's prediction (strict: with none).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evalkit.config import Challenge, load_challenge
from evalkit.runfolder import RunFolder, read_journal
from evalkit.runfolder.journal import runs_by_case
from evalkit.runner import run_submission
from evalkit.runner.execute import CaseJob
from evalkit.runner.intake import intake

pytestmark = pytest.mark.docker
SHAPE = (4, 16, 16)
BOX = {"z_min": 0, "z_max": 3, "z_mid": 1, "z_mid_x_min": 2, "z_mid_y_min": 2,
       "z_mid_x_max": 12, "z_mid_y_max": 12}


def _challenge(mode: str = "official") -> Challenge:
    base = load_challenge("cvpr25-interactive")
    data = copy.deepcopy(base.data)
    data["runner"].update(timeout_s=8, memory="256m", cpus=1.0)
    data["protocol"]["mode"] = mode
    return Challenge(data, f"{base.source}+test-{mode}")


def _cases(tmp: Path, names: list[str]) -> list[CaseJob]:
    (tmp / "imgs").mkdir()
    (tmp / "gts").mkdir()
    gts = np.zeros(SHAPE, np.uint8)
    gts[:, 2:12, 2:12] = 1
    jobs = []
    for name in names:
        members = {"imgs": (gts * 100).astype(np.uint8), "spacing": np.array([1.0, 1.0, 1.0])}
        if not name.startswith("vessel"):
            members["boxes"] = [BOX]
        np.savez_compressed(tmp / "imgs" / f"{name}.npz", **members)
        np.savez_compressed(tmp / "gts" / f"{name}.npz", gts=gts)
        jobs.append(CaseJob(name, tmp / "imgs" / f"{name}.npz", dim=3,
                            gt_path=tmp / "gts" / f"{name}.npz"))
    return jobs


@pytest.fixture(scope="module")
def flaky(docker_client, test_images):
    return intake(test_images["flaky-runs"], docker_client, name="flaky")


@pytest.mark.parametrize("mode", ["official", "strict"])
def test_failures_in_run_k(tmp_path, docker_executor, flaky, mode):
    names = ["CT_timeout3", "CT_oom2", "CT_invalid4", "CT_nothing3", "CT_crash5", "vessel_ok"]
    records = run_submission(flaky, _cases(tmp_path, names), tmp_path / "run", _challenge(mode),
                             name="flaky", executor=docker_executor, progress=False)
    sub = RunFolder(tmp_path / "run").submission("flaky")
    runs = runs_by_case(read_journal(sub.journal, kind=None))
    expect = {"CT_timeout3": (3, "timeout"), "CT_oom2": (2, "oom"),
              "CT_invalid4": (4, "invalid_output"), "CT_nothing3": (3, "missing_output"),
              "CT_crash5": (5, "nonzero_exit")}
    final = {r.case: r for r in records}
    for case, (k, status) in expect.items():
        statuses = [r.status for r in runs[case]]
        assert len(statuses) == 6, (case, statuses)
        assert statuses[k - 1] == status and statuses.count("ok") == 5, (case, statuses)
        bad = runs[case][k - 1]
        want = f"iterations/{case}/{k - 1}.npz" if mode == "official" else None
        assert bad.output == want, (case, bad.output, bad.reason)
        assert final[case].status == status and final[case].reason.startswith(f"run {k}:")
    assert [r.status for r in runs["vessel_ok"]] == ["skipped"] + ["ok"] * 5
    assert final["vessel_ok"].status == "ok"
    assert runs["CT_timeout3"][2].killed_by_runner
    # the GT never entered a container: each staged input held the image and the clicks only
    log = sub.log("CT_oom2").read_text()
    assert "run 1, members boxes,imgs,spacing" in log
    assert "run 6, members boxes,clicks,clicks_order,imgs,prev_pred,spacing" in log
    assert "gts" not in log


def test_resume_after_a_killed_harness_reruns_only_what_is_missing(tmp_path, docker_executor, flaky):
    ch = _challenge()
    cases = _cases(tmp_path, ["CT_ok"])
    run_submission(flaky, cases, tmp_path / "run", ch, name="flaky", executor=docker_executor,
                   progress=False)
    sub = RunFolder(tmp_path / "run").submission("flaky")
    lines = sub.journal.read_text().splitlines(keepends=True)
    clicks = (sub.iterations_dir("CT_ok") / "clicks.json").read_text()
    # as if the harness died after run 3: the journal holds runs 1-3 only
    sub.journal.write_text("".join(lines[:3]))
    for k in (4, 5, 6):
        (sub.iterations_dir("CT_ok") / f"{k}.npz").unlink()
    run_submission(flaky, cases, tmp_path / "run", ch, name="flaky", executor=docker_executor,
                   progress=False)
    everything = read_journal(sub.journal, kind=None)
    assert [r.iteration for r in everything if r.record == "run"] == [1, 2, 3, 4, 5, 6]
    assert [r.record for r in everything].count("case") == 1
    assert (sub.iterations_dir("CT_ok") / "clicks.json").read_text() == clicks
    assert replace(everything[-1]).status == "ok"
