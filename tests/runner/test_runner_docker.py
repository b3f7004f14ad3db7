"""The runner against the real engine: every test image gets its exact status."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from runner_helpers import TEST_RUNNER, expected_boxfill, write_2d, write_config

from evalkit.config import load_challenge
from evalkit.runfolder import RunFolder
from evalkit.runner import ImageRecord, read_journal, run_submission
from evalkit.runner.execute import CaseJob, token_for
from evalkit.runner.executor import RunJob
from evalkit.runner.limits import RunnerLimits

pytestmark = pytest.mark.docker

SECRET = Path("/var/tmp/evalkit-runner-secret.npz")


def image_record(image_id: str, name: str) -> ImageRecord:
    return ImageRecord(name=name, reference=image_id, image_id=image_id, tarball=None,
                       tarball_sha256=None, size_bytes=0, user="", architecture="amd64", created="")


def run_image(executor, image_id, cases, run_dir: Path, name="sub", **runner):
    cfg = load_challenge(write_config(run_dir.parent / f"{run_dir.name}-{name}.toml", **runner))
    records = run_submission(image_record(image_id, name), cases, run_dir, cfg, name=name,
                             executor=executor, progress=False)
    return records, run_dir / "submissions" / name


def log_of(sub: Path, case: str) -> str:
    return (sub / "logs" / f"{case}.log").read_text(errors="replace")


def test_ok_image_answers_both_cases_as_non_root(docker_client, docker_executor, test_images, cases_dir,
                                                 tmp_path):
    cases = sorted(cases_dir.glob("*.npz"))
    seen = []
    cfg = load_challenge(write_config(tmp_path / "c.toml"))
    records = run_submission(image_record(test_images["ok"], "ok"), cases, tmp_path / "run", cfg,
                             name="ok", on_case_done=seen.append, executor=docker_executor,
                             progress=False)
    sub = tmp_path / "run" / "submissions" / "ok"
    assert [r.status for r in records] == ["ok", "ok"], [r.reason for r in records]
    assert [r.case for r in seen] == [p.name[:-4] for p in cases]
    for rec, case in zip(records, cases, strict=True):
        with np.load(sub / rec.output, allow_pickle=False) as z:
            np.testing.assert_array_equal(z["segs"], expected_boxfill(case))
        assert rec.exit_code == 0 and not rec.oom_killed and not rec.killed_by_runner
        assert rec.wall_s > 0 and 0 < rec.engine_s <= rec.wall_s
        assert rec.start_overhead_s == pytest.approx(rec.wall_s - rec.engine_s)
        assert rec.cpu_s is not None and rec.cpu_s > 0.005
        assert rec.peak_memory_bytes is not None and rec.peak_memory_bytes > 1_000_000
        assert rec.degraded_timing is False
        assert rec.image_id == test_images["ok"]
    assert [r.case for r in read_journal(sub / "journal.jsonl")] == [r.case for r in records]
    assert (sub / "image.json").exists()
    # nothing left behind: containers, mounts, cgroups, work folders
    token = token_for(str(sub.resolve()))
    assert docker_client.containers.list(all=True, filters={"label": f"evalkit.run={token}"}) == []
    assert not any((sub / "work").iterdir())
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


def test_effective_limits_inside_the_container(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["ok"], [case2d], tmp_path / "run",
                             command=["sh", "limits.sh"], memory="200m", cpus=0.5, pids_limit=77)
    assert records[0].status == "ok", records[0].reason
    limits = dict(re.findall(r"LIMIT (\S+) (.+)", log_of(sub, case2d.name[:-4])))
    if "memory/memory.limit_in_bytes" in limits:  # cgroup v1
        assert int(limits["memory/memory.limit_in_bytes"]) == 200 * 1024 * 1024
        assert int(limits["memory/memory.memsw.limit_in_bytes"]) == 200 * 1024 * 1024  # no swap
        quota, period = int(limits["cpu/cpu.cfs_quota_us"]), int(limits["cpu/cpu.cfs_period_us"])
        assert quota / period == pytest.approx(0.5)
        assert int(limits["pids/pids.max"]) == 77
    else:  # cgroup v2
        assert int(limits["memory.max"]) == 200 * 1024 * 1024
        assert limits["memory.swap.max"].strip() == "0"
        q, p = limits["cpu.max"].split()
        assert int(q) / int(p) == pytest.approx(0.5)
        assert int(limits["pids.max"]) == 77
    assert limits["uid"] == "1000"


def test_cpu_limit_holds_for_a_busy_loop(docker_executor, test_images, case2d, tmp_path):
    records, _ = run_image(docker_executor, test_images["ok"], [case2d], tmp_path / "run",
                           command=["sh", "busy.sh"], cpus=0.5, timeout_s=30)
    r = records[0]
    assert r.status == "ok", r.reason
    assert r.engine_s >= 3.0
    # three spinning threads for 3 s would use ~6 CPU s on 2 cores; the limit allows 0.5 x wall
    assert r.cpu_s <= 0.5 * r.wall_s * 1.1 + 0.1, (r.cpu_s, r.wall_s)
    # it did spin (the counter is real); how much depends on the machine's load
    assert r.cpu_s >= 0.25, (r.cpu_s, r.wall_s)


def test_sleeper_times_out_at_the_deadline(docker_executor, test_images, case2d, tmp_path):
    t = time.monotonic()
    records, _ = run_image(docker_executor, test_images["sleeper"], [case2d], tmp_path / "run",
                             timeout_s=3)
    r = records[0]
    assert r.status == "timeout" and r.killed_by_runner and not r.oom_killed
    assert 3.0 <= r.wall_s < 3.0 + 10.0
    assert time.monotonic() - t < 30
    assert "thinking..." in r.reason and "3 s deadline" in r.reason


def test_memory_hog_is_oom_and_the_next_case_is_unaffected(docker_executor, test_images, case2d,
                                                          tmp_path):
    records, _ = run_image(docker_executor, test_images["memhog"], [case2d], tmp_path / "run",
                           name="hog")
    r = records[0]
    assert r.status == "oom", (r.status, r.exit_code, r.reason)
    assert r.oom_killed and not r.killed_by_runner
    assert r.peak_memory_bytes is not None and r.peak_memory_bytes >= 200 * 1024 * 1024
    assert r.peak_memory_bytes <= 256 * 1024 * 1024 + 4096 * 1024
    nxt, _ = run_image(docker_executor, test_images["ok"], [case2d], tmp_path / "run", name="after")
    assert nxt[0].status == "ok" and nxt[0].wall_s < 30


def test_nonzero_exit_reports_last_stderr_line(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["nonzero"], [case2d], tmp_path / "run")
    r = records[0]
    assert r.status == "nonzero_exit" and r.exit_code == 3
    assert r.reason == "RuntimeError: model weights /app/weights.bin not found"
    assert "loading model" in log_of(sub, case2d.name[:-4])


def test_image_writing_nothing_is_missing_output(docker_executor, test_images, case2d, tmp_path):
    records, _ = run_image(docker_executor, test_images["nothing"], [case2d], tmp_path / "run")
    assert records[0].status == "missing_output" and records[0].output is None
    assert "2DBox_CT_0001.npz" in records[0].reason


def test_wrong_shape_is_invalid_output(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["wrongshape"], [case2d], tmp_path / "run")
    r = records[0]
    assert r.status == "invalid_output" and r.output is None
    assert "(2, 2)" in r.reason and "(32, 40)" in r.reason
    assert not (sub / "outputs" / "2DBox_CT_0001.npz").exists()
    assert (sub / "rejected" / "2DBox_CT_0001.npz").exists()


def test_symlink_to_a_host_file_is_refused_unread(docker_executor, test_images, case2d, tmp_path):
    # The host file is a *valid* answer: following the link would make the case pass.
    np.savez(SECRET, segs=expected_boxfill(case2d))
    before = SECRET.stat()
    try:
        records, sub = run_image(docker_executor, test_images["symlink"], [case2d], tmp_path / "run")
    finally:
        after = SECRET.stat()
        SECRET.unlink()
    r = records[0]
    assert r.status == "invalid_output" and r.output is None
    assert "symlink" in r.reason
    assert list((sub / "outputs").glob("*")) == [] if (sub / "outputs").exists() else True
    assert not (sub / "rejected").exists()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_network_attempt_fails_inside(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["network"], [case2d], tmp_path / "run")
    r = records[0]
    assert r.status == "ok", (r.status, r.reason)
    log = log_of(sub, case2d.name[:-4])
    assert "NETWORK REACHABLE" not in log
    assert log.count("network attempt to") == 3


def test_fork_bomb_is_contained_and_the_next_case_is_unaffected(docker_executor, test_images,
                                                                case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["forkbomb"], [case2d], tmp_path / "run",
                             name="bomb", timeout_s=4)
    assert records[0].status == "timeout" and records[0].killed_by_runner
    assert re.search(r"fork|Resource temporarily unavailable", log_of(sub, case2d.name[:-4]))
    t = time.monotonic()
    nxt, _ = run_image(docker_executor, test_images["ok"], [case2d], tmp_path / "run", name="after")
    assert nxt[0].status == "ok" and time.monotonic() - t < 30


def test_big_output_fails_inside_at_the_cap(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["bigoutput"], [case2d], tmp_path / "run")
    r = records[0]
    cap = TEST_RUNNER["outputs_cap_bytes"]
    assert r.status == "invalid_output", (r.status, r.reason)
    assert "No space left on device" in log_of(sub, case2d.name[:-4])
    assert f"cap of {cap} bytes" in r.reason
    rejected = sub / "rejected" / "2DBox_CT_0001.npz"
    assert not rejected.exists() or rejected.stat().st_size <= cap


def test_resume_skips_finished_cases(docker_executor, test_images, tmp_path):
    cases = [write_2d(tmp_path / f"2DBox_CT_{i:04d}.npz", seed=i) for i in range(3)]
    first, sub = run_image(docker_executor, test_images["ok"], cases[:2], tmp_path / "run")
    again, _ = run_image(docker_executor, test_images["ok"], cases, tmp_path / "run")
    assert [r.status for r in again] == ["ok"] * 3
    assert again[:2] == first
    journal = read_journal(sub / "journal.jsonl")
    assert sorted(r.case for r in journal) == sorted(p.name[:-4] for p in cases)


def test_log_is_bounded(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["nonzero"], [case2d], tmp_path / "run",
                             log_tail_bytes=32)
    log = (sub / "logs" / "2DBox_CT_0001.log").read_bytes()
    head, _, tail = log.partition(b"\n")
    assert b"cut to its last 32 bytes" in head and len(tail) <= 32
    assert records[0].reason == "RuntimeError: model weights /app/weights.bin not found"


def test_bad_input_is_a_harness_error_and_the_run_goes_on(docker_executor, test_images, tmp_path):
    good = write_2d(tmp_path / "2DBox_CT_0002.npz")
    bad = tmp_path / "2DBox_CT_0001.npz"
    np.savez(bad, imgs=np.zeros((8, 8, 3), np.uint8), boxes=np.array([[0, 0, 50, 50]]))
    records, _ = run_image(docker_executor, test_images["ok"], [bad, good], tmp_path / "run")
    assert [r.status for r in records] == ["harness_error", "ok"]
    assert "2DBox_CT_0001" in records[0].reason and "boxes" in records[0].reason
    # a rerun retries the harness error (attempt 2) and keeps the finished case
    again, sub = run_image(docker_executor, test_images["ok"], [bad, good], tmp_path / "run")
    assert again[0].attempt == 2 and again[1] == records[1]
    assert [r.case for r in read_journal(sub / "journal.jsonl")] == [
        "2DBox_CT_0001", "2DBox_CT_0002", "2DBox_CT_0001"]
    with pytest.raises(ValueError, match="holds results of image"):
        run_image(docker_executor, test_images["nothing"], [good], tmp_path / "run")


def test_parallel_cases_mark_timings_degraded(docker_executor, test_images, tmp_path):
    cases = [write_2d(tmp_path / f"2DBox_CT_{i:04d}.npz", seed=i) for i in range(3)]
    records, sub = run_image(docker_executor, test_images["ok"], cases, tmp_path / "run",
                             parallel_cases=2)
    assert [r.status for r in records] == ["ok"] * 3
    assert all(r.degraded_timing for r in records)
    assert len(read_journal(sub / "journal.jsonl")) == 3


def test_a_relative_run_folder_works(docker_executor, test_images, case2d, tmp_path, monkeypatch):
    """`make evaluate` passes reports/<run> relative to the checkout: bind mounts must be absolute
    (a relative host path is taken by the engine as a named volume and refused)."""
    monkeypatch.chdir(tmp_path)
    records, _ = run_image(docker_executor, test_images["ok"], [case2d], Path("rel-run"))
    assert records[0].status == "ok", records[0].reason
    assert (tmp_path / "rel-run" / "submissions" / "sub" / records[0].output).is_file()


def test_one_case_runs_again_on_a_harness_written_input(docker_executor, test_images, case2d, tmp_path):
    """The seam a multi-run protocol needs: a second run of one case stages the file the
    harness wrote, replaces the output and appends to the case log."""
    cfg = load_challenge(write_config(tmp_path / "c.toml"))
    sub = RunFolder(tmp_path / "run").submission("again")
    sub.root.mkdir(parents=True)
    case = CaseJob(case2d.name[:-4], case2d, (32, 40), 2)
    job = RunJob(image_record(test_images["ok"], "again"), case, sub, RunnerLimits.from_config(cfg.runner),
                 dict(cfg.contract))
    docker_executor.begin(sub)  # empties work/: the harness writes its files after it
    try:
        first = docker_executor.run(job)
        with np.load(sub.output(case.name)) as z:
            np.testing.assert_array_equal(z["segs"], expected_boxfill(case2d))
        written = sub.work_dir / "harness" / case2d.name
        written.parent.mkdir(parents=True)
        with np.load(case2d) as z:
            np.savez_compressed(written, imgs=z["imgs"], boxes=np.array([[0, 0, 8, 9]], dtype=np.int64))
        second = docker_executor.run(replace(job, iteration=2, case=replace(case, input_path=written)))
    finally:
        docker_executor.end(sub)
    assert (first.status, first.iteration, second.status, second.iteration) == ("ok", 1, "ok", 2), second.reason
    with np.load(sub.output(case.name)) as z:
        np.testing.assert_array_equal(z["segs"], expected_boxfill(written))
    assert f"[evalkit: run 2 of case {case.name}]" in log_of(sub.root, case.name)
    assert not any(p.name != "harness" for p in sub.work_dir.iterdir())  # scratch of both runs removed
