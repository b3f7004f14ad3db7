"""A harness killed with SIGKILL mid-run resumes: every case exactly once in the journal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest
from runner_helpers import write_2d, write_config

from evalkit.runner import read_journal
from evalkit.runner.execute import token_for

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]


def evalkit_run(image_id: str, cases: Path, out: Path, config: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "evalkit.cli", "run", "--submission", image_id, "--cases",
           str(cases), "--out", str(out), "--config", str(config), "--name", "team"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_run_then_rerun_completes_each_case_once(docker_client, test_images, tmp_path):
    cases = tmp_path / "cases" / "imgs"  # the "folder with imgs/" form
    cases.mkdir(parents=True)
    names = [f"2DBox_US_{i:04d}" for i in range(5)]
    for i, n in enumerate(names):
        write_2d(cases / f"{n}.npz", seed=i)
    config = write_config(tmp_path / "c.toml")
    out = tmp_path / "run"
    journal = out / "submissions" / "team" / "journal.jsonl"
    mine = {"label": f"evalkit.run={token_for(str((out / 'submissions' / 'team').resolve()))}"}

    proc = evalkit_run(test_images["ok"], cases.parent, out, config)
    deadline = time.monotonic() + 60
    in_flight = []
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 1:
            # kill while the next case's container exists: that case is in flight
            try:
                in_flight = docker_client.containers.list(all=True, filters=mine)
            except docker.errors.NotFound:  # listed, then removed before the SDK inspected it
                continue
            if in_flight:
                break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    first = read_journal(journal)
    assert 1 <= len(first) < len(names)
    assert in_flight and in_flight[0].labels["evalkit.case"] not in {r.case for r in first}
    assert str(tmp_path) in Path("/proc/self/mountinfo").read_text()  # its capped outputs folder

    proc = evalkit_run(test_images["ok"], cases.parent, out, config)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    records = read_journal(journal)
    assert sorted(r.case for r in records) == names  # each exactly once
    assert all(r.status == "ok" for r in records), [(r.case, r.reason) for r in records]
    assert records[: len(first)] == first  # earlier results untouched
    assert b"5 cases" in stdout and b"ok 5" in stdout
    assert b"case" in stderr  # the progress bar
    assert docker_client.containers.list(all=True, filters=mine) == []
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
    outputs = sorted(p.name for p in (out / "submissions" / "team" / "outputs").iterdir())
    assert outputs == [f"{n}.npz" for n in names]
