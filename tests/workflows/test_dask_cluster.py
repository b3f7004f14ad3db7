"""The dask executor on a real cluster: a `dask scheduler` and `dask worker` processes, each in
its own network namespace joined by veth pairs (separate hosts on this machine, sharing the
local Docker engine), running the tiny demo set.

Shows: the leaderboard equals a local run's; a worker killed mid-case still gives every case
exactly once (and its orphan container goes when the node comes back); a node whose copy of
the submission holds another image is refused; a lost scheduler stops the run and the same
command resumes from the journal.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import docker
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.config import load_challenge
from evalkit.contract import discover_cases
from evalkit.runfolder import RunFolder, read_journal
from evalkit.runner.dask_executor import DaskExecutor
from evalkit.runner.executor import ExecutorUnavailable
from evalkit.runner.run import run_submission

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from netns_cluster import two_worker_cluster

pytestmark = [pytest.mark.docker, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, docker_client):
    """Scheduler + workers w0, w1 (namespace 2 is kept for a worker started by a test)."""
    with two_worker_cluster(tmp_path_factory.mktemp("cluster"), 3) as c:
        yield c


@pytest.fixture(scope="module")
def busy_config(small_config, tmp_path_factory) -> Path:
    """Small limits, and the `ok` image's 3 s spin before it answers (so a case is in flight)."""
    path = tmp_path_factory.mktemp("busy") / "busy.toml"
    path.write_text(small_config.read_text().replace("[runner]\n", '[runner]\ncommand = ["sh", "busy.sh"]\n'))
    return path


def _node_containers(client: docker.DockerClient, node: str, status: str | None = None) -> list:
    filters = {"label": f"evalkit.node={node}"}
    if status:
        filters["status"] = status
    return client.containers.list(all=True, filters=filters)


def _run_in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def test_cluster_leaderboard_equals_a_local_run(cluster, test_images, tiny_cases, small_config,
                                                tmp_path):
    subs = [f"boxfill={test_images['ok']}", f"empty={test_images['nothing']}"]
    common = ["--cases", str(tiny_cases), "--config", str(small_config), "--reports", str(tmp_path),
              "--no-progress"]
    assert main(["evaluate", *subs, *common, "--run", "local"]) == 0
    assert main(["evaluate", *subs, *common, "--run", "cluster", "--scheduler", cluster.address]) == 0
    local, dist = RunFolder(tmp_path / "local"), RunFolder(tmp_path / "cluster")
    cols = ["algorithm", "final_rank"]
    board = pd.read_csv(dist.ranking_dir / "final_ranking.csv")[cols]
    assert board.equals(pd.read_csv(local.ranking_dir / "final_ranking.csv")[cols])
    assert board.sort_values("final_rank")["algorithm"].tolist() == ["boxfill", "empty"]
    for name in ("boxfill", "empty"):
        a = pd.read_csv(local.scores_cases(name)).set_index("case")[["status", "dsc", "nsd"]]
        b = pd.read_csv(dist.scores_cases(name)).set_index("case")[["status", "dsc", "nsd"]]
        pd.testing.assert_frame_equal(a.sort_index(), b.sort_index())
        records = read_journal(dist.submission(name).journal)
        assert {r.node for r in records} <= {"w0", "w1"} and all(r.node for r in records)
        assert len(records) == 4 and len({r.case for r in records}) == 4
        assert {r.node for r in read_journal(local.submission(name).journal)} == {""}
    nodes = pd.read_csv(dist.nodes_path)
    assert sorted(nodes["node"]) == ["w0", "w1"]
    assert (nodes["calibration_s"] > 0).all() and nodes["cpu_model"].str.len().gt(0).all()
    report = (dist.report_dir / "report.json").read_text()
    assert '"nodes"' in report  # the per-node runtime figure
    assert not (local.root / "nodes.csv").exists()


def test_a_worker_killed_mid_case_still_gives_every_case_exactly_once(
        cluster, test_images, tiny_cases, busy_config, docker_client, tmp_path):
    challenge = load_challenge(busy_config)
    cases = discover_cases(tiny_cases / "imgs", challenge=challenge)
    executor = DaskExecutor(challenge, scheduler=cluster.address, calibrate=False)
    image = executor.prepare(test_images["ok"], name="busy")
    thread, out = _run_in_thread(lambda: run_submission(
        image, cases, tmp_path, challenge, name="busy", executor=executor, progress=False))
    deadline = time.monotonic() + 90
    running: list = []
    while not running and time.monotonic() < deadline and thread.is_alive():
        running = _node_containers(docker_client, "w0", "running")
        time.sleep(0.2)
    assert running, "no case started on w0"
    killed_case = running[0].labels["evalkit.case"]
    cluster.kill("worker0")  # SIGKILL to the nanny and the worker, mid-case
    thread.join(timeout=180)
    executor.close()
    assert not thread.is_alive() and "error" not in out, out.get("error")
    lines = read_journal(RunFolder(tmp_path).submission("busy").journal, kind=None)
    assert sorted(r.case for r in lines) == sorted(c.name for c in cases)  # each exactly once
    assert {r.status for r in lines} == {"ok"}
    assert next(r for r in lines if r.case == killed_case).node == "w1"
    assert _node_containers(docker_client, "w0")  # the orphan is still there...
    cluster.start_worker(0)
    cluster.wait_for_workers(2)
    assert _node_containers(docker_client, "w0") == []  # ... until the node comes back


def _tiny_image_tarball(client: docker.DockerClient, path: Path) -> str:
    """A tarball of a one-file image (another image than any submission); returns its ID."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY note /note\n"), ("note", b"other\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, rm=True, pull=False,
                                   tag="evalkit-test/other-image:latest")
    with open(path, "wb") as f:
        f.writelines(image.save())
    return image.id


def test_a_node_with_another_image_is_refused(cluster, test_images, tiny_cases, small_config,
                                              docker_client, tmp_path):
    good = tmp_path / "subs" / "team.tar"
    good.parent.mkdir()
    with open(good, "wb") as f:
        f.writelines(docker_client.images.get(test_images["ok"]).save())
    other = tmp_path / "other.tar"
    other_id = _tiny_image_tarball(docker_client, other)
    cluster.kill("worker1")
    cluster.start_worker(2, name="wbad", private=(other, good))  # its copy of team.tar differs
    cluster.wait_for_workers(2)
    challenge = load_challenge(small_config)
    cases = discover_cases(tiny_cases / "imgs", challenge=challenge)
    with DaskExecutor(challenge, scheduler=cluster.address) as executor:
        image = executor.prepare(str(good), name="team")
        assert image.image_id == test_images["ok"]
        records = run_submission(image, cases, tmp_path / "run", challenge, name="team",
                                 executor=executor, progress=False)
    assert [r.status for r in records] == ["ok"] * 4 and {r.node for r in records} == {"w0"}
    nodes = pd.read_csv(RunFolder(tmp_path / "run").nodes_path, keep_default_na=False).set_index("node")
    refusal = nodes.loc["wbad", "refused"]
    assert "wbad" in refusal and image.image_id in refusal and other_id in refusal
    assert nodes.loc["w0", "refused"] == ""

    cluster.kill("worker0")  # only the refusing node is left: nothing runs another image
    with DaskExecutor(challenge, scheduler=cluster.address, calibrate=False) as executor:
        records = run_submission(image, cases, tmp_path / "run2", challenge, name="team",
                                 executor=executor, progress=False)
    assert [r.status for r in records] == ["harness_error"] * 4
    assert all("wbad" in r.reason and image.image_id in r.reason and other_id in r.reason
               for r in records)
    cluster.kill("worker2")
    cluster.start_worker(0)
    cluster.start_worker(1)
    cluster.wait_for_workers(2)


def test_a_lost_scheduler_stops_the_run_and_the_same_command_resumes(
        cluster, test_images, tiny_cases, busy_config, docker_client, tmp_path):
    challenge = load_challenge(busy_config)
    cases = discover_cases(tiny_cases / "imgs", challenge=challenge)
    executor = DaskExecutor(challenge, scheduler=cluster.address, calibrate=False, reconnect_s=3)
    image = executor.prepare(test_images["ok"], name="busy")
    thread, out = _run_in_thread(lambda: run_submission(
        image, cases, tmp_path, challenge, name="busy", executor=executor, progress=False))
    journal = RunFolder(tmp_path).submission("busy").journal
    deadline = time.monotonic() + 90
    while not read_journal(journal) and time.monotonic() < deadline:
        time.sleep(0.2)
    cluster.kill("scheduler")
    thread.join(timeout=120)
    executor.close()
    assert isinstance(out.get("error"), ExecutorUnavailable), out
    before = read_journal(journal, kind=None)
    assert 1 <= len(before) < 4 and {r.status for r in before} == {"ok"}  # nothing half-recorded
    cluster.restart()
    with DaskExecutor(challenge, scheduler=cluster.address, calibrate=False) as again:
        run_submission(image, cases, tmp_path, challenge, name="busy", executor=again, progress=False)
    after = read_journal(journal, kind=None)
    assert after[:len(before)] == before
    assert sorted(r.case for r in after) == sorted(c.name for c in cases)
    assert {r.status for r in after} == {"ok"}
