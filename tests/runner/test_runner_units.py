"""Unit tests of the runner's logic (no engine): journal, limits, collection, cgroups, names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalkit.config import load_challenge
from evalkit.runfolder.journal import (
    COLUMNS,
    CaseRecord,
    latest_by_case,
    open_journal,
    read_journal,
)
from evalkit.runner.cgroups import CaseCgroup, remove_cgroup
from evalkit.runner.engine import debian_mirror
from evalkit.runner.execute import CaseJob, parse_docker_time
from evalkit.runner.intake import default_name
from evalkit.runner.limits import RunnerLimits, parse_bytes
from evalkit.runner.outputs import OutputRejected, capped_folder, collect
from evalkit.runner.run import as_jobs

DESIGN_COLUMNS = (
    "case, status, exit_code, oom_killed, killed_by_runner, wall_s, engine_s, start_overhead_s, "
    "cpu_s, peak_memory_bytes, reason, output, image_id, started_at, finished_at, attempt, "
    "degraded_timing, record, iteration, node"
)


def test_journal_columns_are_the_design_seam():
    assert ", ".join(COLUMNS) == DESIGN_COLUMNS


def test_journal_round_trip_and_torn_tail(tmp_path):
    path = tmp_path / "j" / "journal.jsonl"
    with open_journal(path) as j:
        j.append(CaseRecord(case="a", status="ok", wall_s=1.5, output="outputs/a.npz"))
        j.append(CaseRecord(case="b", status="timeout", killed_by_runner=True))
    with open(path, "ab") as f:  # a harness killed in the middle of a write
        f.write(b'{"case": "c", "sta')
    recs = read_journal(path)
    assert [(r.case, r.status) for r in recs] == [("a", "ok"), ("b", "timeout")]
    assert recs[0].wall_s == 1.5 and recs[1].killed_by_runner is True
    with open_journal(path) as j:  # the torn line is cut before appending
        j.append(CaseRecord(case="c", status="ok"))
    lines = path.read_text().splitlines()
    assert [json.loads(x)["case"] for x in lines] == ["a", "b", "c"]
    assert set(json.loads(lines[0])) == set(COLUMNS)


def test_journal_rejects_a_corrupt_complete_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"case": "a", "status": "ok"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_journal(path)
    assert read_journal(tmp_path / "absent.jsonl") == []


def test_latest_by_case_keeps_the_last_attempt():
    recs = [CaseRecord("a", "harness_error"), CaseRecord("a", "ok", attempt=2), CaseRecord("b", "oom")]
    latest = latest_by_case(recs)
    assert latest["a"].status == "ok" and latest["a"].attempt == 2 and latest["b"].status == "oom"


@pytest.mark.parametrize(("text", "n"), [("8g", 8 << 30), ("256m", 256 << 20), ("2G", 2 << 30),
                                         ("1073741824", 1 << 30), (4096, 4096), ("1.5k", 1536)])
def test_parse_bytes(text, n):
    assert parse_bytes(text) == n


@pytest.mark.parametrize("bad", ["", "8x", "-1m", 0, True, "g"])
def test_parse_bytes_rejects(bad):
    with pytest.raises(ValueError, match="memory"):
        parse_bytes(bad, "memory")


def test_bundled_limits_are_hardened():
    lim = RunnerLimits.from_config(load_challenge().runner)
    hc = lim.host_config()
    assert hc["mem_limit"] == hc["memswap_limit"] == 8 << 30
    assert hc["nano_cpus"] == 2_000_000_000 and hc["pids_limit"] == 1024
    assert hc["network_mode"] == "none" and hc["cap_drop"] == ["ALL"]
    assert hc["security_opt"] == ["no-new-privileges"] and hc["init"] is True
    assert "size=2147483648" in hc["tmpfs"]["/tmp"]
    assert lim.command == ("sh", "predict.sh") and lim.timeout_s == 900
    assert lim.outputs_cap_bytes == 1 << 30


def test_bad_runner_values_name_the_key():
    runner = dict(load_challenge().runner, cpus=0)
    with pytest.raises(ValueError, match=r"\[runner\] cpus"):
        RunnerLimits.from_config(runner)
    with pytest.raises(ValueError, match=r"\[runner\] command"):
        RunnerLimits.from_config(dict(load_challenge().runner, command="sh predict.sh"))


def test_parse_docker_time():
    a = parse_docker_time("2024-06-17T10:00:00.250000000Z")
    b = parse_docker_time("2024-06-17T10:00:01.750000001Z")
    assert b - a == pytest.approx(1.5, abs=1e-6)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("2024-06-17T12:00:00.5+02:00") == pytest.approx(a + 0.25)


def test_collect_copies_a_regular_file(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "c.npz").write_bytes(b"x" * 100)
    assert collect(tmp_path / "out" / "c.npz", tmp_path / "dest" / "c.npz", 1000)
    assert (tmp_path / "dest" / "c.npz").read_bytes() == b"x" * 100
    assert not collect(tmp_path / "out" / "missing.npz", tmp_path / "dest" / "m.npz", 1000)


def test_collect_refuses_symlink_without_reading_target(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret")
    os.chmod(secret, 0)  # reading it would fail for non-root; as root nothing may open it anyway
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "c.npz").symlink_to(secret)
    with pytest.raises(OutputRejected) as exc:
        collect(tmp_path / "out" / "c.npz", tmp_path / "dest" / "c.npz", 1000)
    assert exc.value.reason == "symlink" and str(secret) in str(exc.value)
    assert not (tmp_path / "dest").exists()


def test_collect_refuses_fifo_and_oversize(tmp_path):
    (tmp_path / "out").mkdir()
    os.mkfifo(tmp_path / "out" / "f.npz")
    with pytest.raises(OutputRejected) as exc:
        collect(tmp_path / "out" / "f.npz", tmp_path / "d" / "f.npz", 1000)
    assert exc.value.reason == "not_regular_file"
    (tmp_path / "out" / "big.npz").write_bytes(b"x" * 1001)
    with pytest.raises(OutputRejected) as exc:
        collect(tmp_path / "out" / "big.npz", tmp_path / "d" / "big.npz", 1000)
    assert exc.value.reason == "too_large" and "1001" in str(exc.value)
    assert not (tmp_path / "d" / "big.npz").exists()


def test_capped_folder_fails_writes_beyond_the_cap(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a size-capped tmpfs needs root")
    folder = capped_folder(tmp_path / "outputs", 1 << 20)
    try:
        assert folder.enforced
        with pytest.raises(OSError, match="No space left"), open(folder.path / "big", "wb") as f:
            for _ in range(4):
                f.write(b"\0" * (1 << 19))
                f.flush()
        assert folder.used_bytes() <= 1 << 20
        assert oct(os.stat(folder.path).st_mode & 0o777) == "0o777"
    finally:
        folder.release()
    assert str(folder.path) not in Path("/proc/self/mountinfo").read_text()


def _fake_v1(root: Path) -> None:
    for ctrl in ("memory", "cpu,cpuacct", "pids", "systemd"):
        (root / ctrl).mkdir(parents=True)
    (root / "cpu").symlink_to(root / "cpu,cpuacct")


def test_cgroup_v1_reads_the_parent_counters(tmp_path):
    _fake_v1(tmp_path)
    cg = CaseCgroup("evalkit/run/case", version=1, root=tmp_path).create()
    assert cg.usable and cg.parent == "/evalkit/run/case"
    (tmp_path / "memory/evalkit/run/case/memory.max_usage_in_bytes").write_text("123456\n")
    (tmp_path / "cpu,cpuacct/evalkit/run/case/cpuacct.usage").write_text("2500000000\n")
    (tmp_path / "pids/evalkit/run/case").mkdir(parents=True)  # what docker creates elsewhere
    assert cg.read() == (2.5, 123456)
    for f in tmp_path.glob("*/evalkit/run/case/*"):  # cgroupfs files vanish with the folder
        f.unlink()
    cg.remove()
    assert not (tmp_path / "memory/evalkit/run/case").exists()
    assert not (tmp_path / "pids/evalkit/run/case").exists()
    assert (tmp_path / "memory/evalkit/run").exists()
    remove_cgroup("evalkit/run", tmp_path)
    assert not (tmp_path / "memory/evalkit/run").exists()


def test_cgroup_v2_reads_peak_and_usage(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids io\n")
    cg = CaseCgroup("evalkit/run/case", version=2, root=tmp_path)
    # fake kernel: controllers file appears in each new folder
    (tmp_path / "evalkit").mkdir()
    (tmp_path / "evalkit/cgroup.controllers").write_text("cpu memory pids\n")
    cg.create()
    assert cg.usable
    d = tmp_path / "evalkit/run/case"
    (d / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (d / "memory.peak").write_text("987654\n")
    assert cg.read() == (1.5, 987654)


def test_unusable_cgroup_gives_no_numbers(tmp_path):
    cg = CaseCgroup("evalkit/x", version=1, root=tmp_path / "absent").create()
    assert not cg.usable and cg.parent is None and cg.read() == (None, None)


def test_names_and_jobs(tmp_path):
    assert default_name("/x/teamA_v2.tar.gz") == "teamA_v2"
    assert default_name("registry:5000/org/team:latest") == "team-latest"
    assert default_name("sha256:abc") == "sha256-abc"
    jobs = as_jobs([tmp_path / "2DBox_CT_0001.npz", CaseJob("b", tmp_path / "b.npz")])
    assert [j.name for j in jobs] == ["2DBox_CT_0001", "b"]
    with pytest.raises(ValueError, match="duplicate"):
        as_jobs([tmp_path / "a.npz", tmp_path / "sub" / "a.npz"])


def test_debian_mirror_from_deb822_and_one_line(tmp_path):
    s = tmp_path / "debian.sources"
    s.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
                 "Types: deb\nURIs: http://mirror.example/debian-security\n")
    assert debian_mirror(s) == "http://mirror.example/debian"
