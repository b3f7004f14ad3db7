"""Two runs into one folder cannot corrupt each other (hardening issue, item 1), through the
real engine: the second process is refused, naming the first; with --wait it queues."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import write_2d

from evalkit.runfolder import read_journal

pytestmark = pytest.mark.docker


def _cases(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        write_2d(root / f"2DBox_CT_{i:04d}.npz", seed=i)
    return root


def _run(image: str, cases: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", "run", "--submission", image, "--cases", str(cases),
         "--out", str(out), "--name", "team", "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.05)


def _slow_config(tmp_path: Path) -> Path:
    """The sleeper image runs to this deadline: each case holds the folder for ~4 s, so the
    second process surely arrives while the first is inside its run, however loaded the machine."""
    config = tmp_path / "slow.toml"
    config.write_text('[runner]\ntimeout_s = 4\nmemory = "256m"\ncpus = 1.0\n')
    return config


def test_second_run_on_the_same_folder_is_refused(test_images, tmp_path):
    cases = _cases(tmp_path / "cases", 3)
    out, config = tmp_path / "run", _slow_config(tmp_path)
    first = _run(test_images["sleeper"], cases, out, "--config", str(config))
    _wait_for(out / "submissions" / "team" / "image.json")  # the first one is inside its run
    second = _run(test_images["sleeper"], cases, out, "--config", str(config))
    err2 = second.communicate(timeout=120)[1]
    alive = first.poll() is None
    _, err1 = first.communicate(timeout=300)
    assert second.returncode == 2, err2  # main: 0, and its clean-up killed the first's container
    assert alive, "the first run ended before the second was refused: the test proves nothing"
    assert first.returncode == 0, err1
    assert "in use by pid" in err2 and str(first.pid) in err2 and "--wait" in err2
    assert "Traceback" not in err2
    records = read_journal(out / "submissions" / "team" / "journal.jsonl")
    assert sorted(r.case for r in records) == sorted(p.stem for p in cases.glob("*.npz"))
    # every case ran to its deadline undisturbed: none lost its input or container to the second
    assert {r.status for r in records} == {"timeout"}, [(r.case, r.status, r.reason) for r in records]


def test_wait_queues_behind_the_first_run(test_images, tmp_path):
    cases = _cases(tmp_path / "cases", 2)
    out, config = tmp_path / "run", _slow_config(tmp_path)
    first = _run(test_images["sleeper"], cases, out, "--config", str(config))
    _wait_for(out / "submissions" / "team" / "image.json")
    second = _run(test_images["sleeper"], cases, out, "--config", str(config), "--wait")
    _, err1 = first.communicate(timeout=300)
    first_done = time.monotonic()
    _, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    assert time.monotonic() >= first_done
    records = read_journal(out / "submissions" / "team" / "journal.jsonl")
    # the second found every case done (a timeout is final): nothing ran twice
    assert len(records) == 2 and {r.status for r in records} == {"timeout"}


def test_a_staged_input_lost_mid_run_is_a_harness_error(test_images, tmp_path):
    """Whatever the image then reports, a case whose staged input vanished under it was the
    harness's failure: harness_error (retried on resume), never a participant status."""
    import threading

    from evalkit.cli import main

    cases = _cases(tmp_path / "cases", 1)
    out = tmp_path / "run"
    config = tmp_path / "c.toml"
    config.write_text('[runner]\ntimeout_s = 4\nmemory = "256m"\ncpus = 1.0\n')

    def remove_staged() -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            found = list((out / "submissions" / "team" / "work").glob("*/inputs/*.npz"))
            if found:
                time.sleep(0.5)
                found[0].unlink()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=remove_staged)
    thread.start()
    rc = main(["run", "--submission", test_images["sleeper"], "--cases", str(cases), "--out", str(out),
               "--name", "team", "--no-progress", "--config", str(config)])
    thread.join()
    (rec,) = read_journal(out / "submissions" / "team" / "journal.jsonl")
    assert rc == 0
    assert rec.status == "harness_error", (rec.status, rec.reason)
    assert "staged input" in rec.reason
