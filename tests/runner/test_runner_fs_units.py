"""Unit tests (no engine) of the filesystem settings: tmpfs mounts, HOME, read-only errors,
engine timing of a container that exits within milliseconds, old image records."""

from __future__ import annotations

import json

import pytest

from evalkit.config import load_challenge
from evalkit.runner.execute import READ_ONLY_NOTE, engine_seconds, readonly_write
from evalkit.runner.imagefs import env_home, passwd_home, resolve_home
from evalkit.runner.intake import ImageRecord
from evalkit.runner.limits import RunnerLimits, writable_path_problem

PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
app:x:1000:1000::/home/app:/bin/sh
1001:x:1002:1002::/home/numeric-name:/bin/sh
"""


def limits(**runner) -> RunnerLimits:
    return RunnerLimits.from_config(dict(load_challenge().runner, **runner))


def test_bundled_runner_has_a_read_only_root_and_capped_tmpfs():
    hc = limits().host_config(("/root", "/data"))
    assert hc["read_only"] is True
    assert hc["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=2147483648",
                           "/root": "rw,nosuid,nodev,size=268435456",
                           "/data": "rw,nosuid,nodev,size=268435456"}
    assert limits(read_only_rootfs=False).host_config()["read_only"] is False


def test_tmpfs_mounts_take_listed_paths_and_skip_the_unmountable():
    lim = limits(writable_paths=["/opt/cache", "/root"], writable_size="16m")
    mounts = lim.tmpfs_mounts(("/root", "/", "", "/workspace/outputs", "/tmp", "/data/"))
    assert list(mounts) == ["/tmp", "/opt/cache", "/root", "/data"]
    assert mounts["/opt/cache"].endswith(f"size={16 << 20}")


@pytest.mark.parametrize("path", ["relative", "/", "/a/../b", "/a/", "//a", "/proc/x", "/dev/shm",
                                  "/workspace", "/workspace/inputs", "/workspace/outputs/x"])
def test_paths_that_never_get_a_tmpfs(path):
    assert writable_path_problem(path)
    with pytest.raises(ValueError, match=r"\[runner\] writable_paths"):
        limits(writable_paths=[path])


def test_writable_paths_must_be_a_list():
    with pytest.raises(ValueError, match=r"\[runner\] writable_paths"):
        limits(writable_paths="/opt/cache")
    assert writable_path_problem("/workspace/model") == ""


def test_home_follows_the_engine_rule():
    assert env_home(["PATH=/bin", "HOME=/srv/me"]) == "/srv/me"
    assert env_home(["HOME="]) is None and env_home(None) is None
    assert passwd_home(PASSWD, "app") == "/home/app"
    assert passwd_home(PASSWD, "1000:1000") == "/home/app"
    assert passwd_home(PASSWD, "1001") == "/home/numeric-name"  # a name is matched first
    assert passwd_home(PASSWD, "") == "/root" and passwd_home(PASSWD, "0:0") == "/root"
    assert passwd_home(PASSWD, "10001:10001") is None
    assert resolve_home(["HOME=/x"], "app", PASSWD) == "/x"
    assert resolve_home(None, "10001:10001", PASSWD) == "/"  # unlisted uid: the engine sets HOME=/
    assert resolve_home(None, "", None) == "/root"  # root without /etc/passwd


def test_engine_seconds_of_a_container_that_exits_within_milliseconds():
    started, finished = "2026-12-01T09:26:17.465931031Z", "2026-12-01T09:26:17.465276183Z"
    assert engine_seconds(started, finished) == 0.0  # FinishedAt stamped before StartedAt
    assert engine_seconds("2026-12-01T09:26:18.499342426Z",
                          "2026-12-01T09:26:18.50330516Z") == pytest.approx(0.003962734, abs=1e-6)
    assert engine_seconds(started, "0001-01-01T00:00:00Z") is None
    assert engine_seconds(None, finished) is None
    assert engine_seconds("2026-12-01T09:26:20Z", "2026-12-01T09:26:17Z") is None  # clocks off


@pytest.mark.parametrize("stderr, path", [
    ("sh: 1: cannot create /var/tmp/a: Read-only file system", "/var/tmp/a"),
    ("Traceback ...\nOSError: [Errno 30] Read-only file system: '/app/x.bin'", "/app/x.bin"),
    ("touch: cannot touch '/app/y': Read-only file system\nother line", "/app/y"),
    ("mkdir: cannot create directory ‘/data/q’: Read-only file system", "/data/q"),
    ("bash: /opt/z: Read-only file system", "/opt/z"),
    ("head: error writing 'standard output': Read-only file system", ""),
    ("No space left on device", None),
])
def test_readonly_write_finds_the_path(stderr, path):
    assert readonly_write(stderr) == path


def test_an_image_record_from_before_still_loads():
    old = {"name": "t", "reference": "r", "image_id": "sha256:" + "a" * 64, "tarball": None,
           "tarball_sha256": None, "size_bytes": 1, "user": "", "architecture": "amd64",
           "created": "", "something_newer": 1}
    rec = ImageRecord.from_dict(old)
    assert rec.home is None and rec.volumes == () and rec.tmpfs_paths() == ()
    new = ImageRecord.from_dict({**old, "home": "/home/app", "volumes": ["/data"]})
    assert ImageRecord.from_dict(json.loads(new.to_json())) == new
    assert new.tmpfs_paths() == ("/home/app", "/data")
    shipped = ImageRecord.from_dict({**old, "home": "/home/app", "home_files": [".local"]})
    assert shipped.tmpfs_paths() == ()  # a tmpfs would hide what the image ships in HOME
    assert ImageRecord.from_dict({**old, "home": "/"}).tmpfs_paths() == ()


def test_check_advice_names_the_read_only_path():
    from evalkit.runfolder import CaseRecord
    from evalkit.workflows.check import verdict_lines

    recs = [CaseRecord(case="c1", status="nonzero_exit",
                       reason=f"sh: 1: cannot create /app/w: Read-only file system; {READ_ONLY_NOTE} /app/w"),
            CaseRecord(case="c2", status="ok")]
    lines = verdict_lines(recs, load_challenge())
    assert any(line.startswith("[read_only_rootfs] your image writes to /app/w (case c1)")
               and "write to /tmp, or ask the organisers to list it in [runner] writable_paths" in line
               for line in lines), lines
