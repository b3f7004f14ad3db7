"""The container's filesystem through the real engine (hardening items 3 and 4).

A read-only root filesystem; size-capped tmpfs at /tmp, at the image user's HOME, at
the listed ``writable_paths`` and over the image's VOLUMEs; no volume left behind.
"""

from __future__ import annotations

import pytest
from test_runner_docker import log_of, run_image

from evalkit.runner.execute import READ_ONLY_NOTE
from evalkit.runner.intake import IntakeError, intake

pytestmark = pytest.mark.docker

CAPPED = {"tmpfs_tmp": "16m", "writable_size": "16m"}  # memory stays 256m (TEST_RUNNER)


def case_name(path) -> str:
    return path.name[:-4]


def test_a_write_to_the_image_filesystem_fails_inside(docker_executor, test_images, case2d, tmp_path):
    """64 MiB to /var/tmp then /app: the first write fails with EROFS, nothing is written."""
    records, sub = run_image(docker_executor, test_images["writer"], [case2d], tmp_path / "run",
                             command=["sh", "predict.sh", "rootfs"])
    rec, log = records[0], log_of(sub, case_name(case2d))
    assert rec.status == "nonzero_exit", (rec.status, rec.reason, log)
    assert "Read-only file system" in log and "WRITE /var/tmp 64 rc=0" not in log, log
    assert f"{READ_ONLY_NOTE} /var/tmp/blob" in rec.reason


def test_read_only_rootfs_can_be_switched_off(docker_executor, test_images, case2d, tmp_path):
    records, sub = run_image(docker_executor, test_images["writer"], [case2d], tmp_path / "run",
                             command=["sh", "predict.sh", "rootfs"], read_only_rootfs=False)
    log = log_of(sub, case_name(case2d))
    assert records[0].status == "ok", (records[0].reason, log)
    assert "WRITE /var/tmp 64 rc=0" in log and "WRITE /app 64 rc=0" in log


@pytest.mark.parametrize("where, extra", [
    ("/tmp", {}),
    ("HOME", {}),  # root's /root in the test base image
    ("/opt/cache", {"writable_paths": ["/opt/cache"]}),
])
def test_writable_mounts_work_and_are_capped(where, extra, docker_executor, test_images, case2d,
                                             tmp_path):
    fits, _ = run_image(docker_executor, test_images["writer"], [case2d], tmp_path / "run",
                        name="fits", command=["sh", "predict.sh", "write", where, "8"], **CAPPED, **extra)
    assert fits[0].status == "ok", fits[0].reason
    over, sub = run_image(docker_executor, test_images["writer"], [case2d], tmp_path / "run",
                          name="over", command=["sh", "predict.sh", "write", where, "24"],
                          **CAPPED, **extra)
    log = log_of(sub, case_name(case2d))
    assert over[0].status == "nonzero_exit", (over[0].reason, log)
    assert "No space left on device" in log, log


def test_an_image_volume_is_a_capped_tmpfs_and_leaves_no_volume(docker_client, docker_executor,
                                                                 test_images, case2d, tmp_path):
    before = {v.id for v in docker_client.volumes.list()}
    fits, _ = run_image(docker_executor, test_images["volume"], [case2d], tmp_path / "run",
                        name="fits", command=["sh", "predict.sh", "8"], **CAPPED)
    assert fits[0].status == "ok", fits[0].reason
    over, sub = run_image(docker_executor, test_images["volume"], [case2d], tmp_path / "run",
                          name="over", command=["sh", "predict.sh", "24"], **CAPPED)
    log = log_of(sub, case_name(case2d))
    assert over[0].status == "nonzero_exit" and "No space left on device" in log, (over[0].reason, log)
    assert {v.id for v in docker_client.volumes.list()} - before == set()


def test_intake_records_home_and_volumes(docker_client, test_images):
    writer = intake(test_images["writer"], docker_client)
    assert (writer.home, writer.home_files, writer.volumes) == ("/root", (), ())  # root's skeleton only
    assert writer.tmpfs_paths() == ("/root",)
    ok = intake(test_images["ok"], docker_client)  # USER 1000:1000, not in /etc/passwd
    assert ok.home == "/" and ok.tmpfs_paths() == ()
    volume = intake(test_images["volume"], docker_client)
    assert volume.volumes == ("/data",) and volume.tmpfs_paths() == ("/root", "/data")


def test_intake_refuses_a_volume_the_image_ships_files_in(docker_client, test_images):
    before = {v.id for v in docker_client.volumes.list()}
    with pytest.raises(IntakeError, match=r"VOLUME /data and ships files there \(model.bin\)"):
        intake(test_images["volumefull"], docker_client)
    assert {v.id for v in docker_client.volumes.list()} - before == set()  # the probe's volume too


def test_tmpfs_writes_count_against_the_memory_limit(docker_executor, test_images, case2d, tmp_path):
    """A 256m tmpfs in a 96m container: filling it runs into the memory limit (tmpfs pages
    are charged to the container's memory cgroup), not past it."""
    records, sub = run_image(docker_executor, test_images["writer"], [case2d], tmp_path / "run",
                             command=["sh", "predict.sh", "write", "/opt/cache", "200"],
                             memory="96m", writable_size="256m", writable_paths=["/opt/cache"])
    assert records[0].status == "oom", (records[0].status, records[0].reason,
                                        log_of(sub, case_name(case2d)))


def test_a_home_the_image_ships_files_in_is_not_hidden(docker_client, docker_executor, test_images,
                                                       case2d, tmp_path):
    """``useradd -m app`` plus files in ~/.local: no tmpfs over HOME (it would hide them)."""
    image = intake(test_images["homefiles"], docker_client)
    assert image.home == "/home/app" and image.home_files and image.tmpfs_paths() == ()
    records, sub = run_image(docker_executor, test_images["homefiles"], [case2d], tmp_path / "run")
    assert records[0].status == "ok", records[0].reason
    assert "shipped-in-home" in log_of(sub, case_name(case2d))
