"""The dask executor under the CVPR25 interactive protocol, on a real cluster (a `dask
scheduler` and `dask worker` processes in network namespaces, tests/netns_cluster.py).

The same evaluation (the bundled ``click-fill`` reference image, three cases of the
``cvpr25`` demo preset: two with boxes, one without, two click runs after the box run)
is made with the local Docker executor and with the Dask executor; the interactive
protocol is deterministic given its seed, so every run record, every click, every
standing prediction and every score must be the same. The click runs' inputs are written
by the harness on the coordinator (not on the shared path), so they travel to the workers
as bytes; a worker killed while one of those runs is in flight must still give each run
exactly once, with the same results.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import docker
import numpy as np
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.runfolder import RunFolder, read_journal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo_cases import demo_subset
from netns_cluster import two_worker_cluster
from reference_images import build_reference_images

pytestmark = [pytest.mark.docker, pytest.mark.cluster, pytest.mark.slow]
#: two cases with boxes (3 and 2 classes) and one without (run 1 skipped), all small
CASES = ("CT_abdomen_0002", "MR_brain_0002", "PET_lesion_0001")
CLICKS = 2
#: journal fields that do not depend on where or how fast a run ran
SAME = ("case", "record", "iteration", "attempt", "status", "output", "reason", "exit_code",
        "oom_killed", "killed_by_runner", "image_id")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, docker_client):
    """Scheduler + workers w0, w1."""
    with two_worker_cluster(tmp_path_factory.mktemp("cluster"), 2) as c:
        yield c


@pytest.fixture(scope="module")
def click_fill(docker_client) -> str:
    """The reference of the bundled click-fill image (built when missing)."""
    return build_reference_images("click-fill", timeout=1800)["click-fill"]


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    """Three cases of the cvpr25 demo preset (imgs/, gts/, manifest.csv)."""
    return demo_subset(tmp_path_factory.mktemp("cvpr25-full"), tmp_path_factory.mktemp("cvpr25-three"),
                       "cvpr25", CASES)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """cvpr25-interactive with two click runs and small limits (a file of changes over cvpr24,
    as the bundled one)."""
    from importlib import resources

    text = resources.files("evalkit.configs").joinpath("cvpr25-interactive.toml").read_text()
    for old, new in (("clicks = 5", f"clicks = {CLICKS}"), ('memory = "16g"', 'memory = "1g"'),
                     ("timeout_s = 900", "timeout_s = 120")):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("config") / "cvpr25-small.toml"
    path.write_text(text.replace("[runner]\n", "[runner]\ncpus = 1.0\n"))
    return path


def _evaluate(click_fill: str, cases: Path, config: Path, reports: Path, run: str,
              *extra: str) -> RunFolder:
    argv = ["evaluate", f"clickfill={click_fill}", "--cases", str(cases), "--config", str(config),
            "--reports", str(reports), "--run", run, "--no-progress", *extra]
    assert main(argv) == 0
    return RunFolder(reports / run)


@pytest.fixture(scope="module")
def local_run(click_fill, cases, config, tmp_path_factory) -> RunFolder:
    return _evaluate(click_fill, cases, config, tmp_path_factory.mktemp("reports"), "local")


def _lines(run: RunFolder) -> list[dict]:
    """Every journal line (run and case records), without what depends on the machine."""
    lines = read_journal(run.submission("clickfill").journal, kind=None)
    return sorted(({k: getattr(r, k) for k in SAME} for r in lines),
                  key=lambda d: (d["case"], d["record"] == "case", d["iteration"]))


def _segs(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        return z["segs"]


def _assert_same_run(local: RunFolder, dist: RunFolder) -> None:
    assert _lines(dist) == _lines(local)
    a, b = local.submission("clickfill"), dist.submission("clickfill")
    for case in CASES:
        for k in range(1, CLICKS + 2):
            mine = a.iterations_dir(case) / f"{k}.npz"
            theirs = b.iterations_dir(case) / f"{k}.npz"
            assert mine.is_file() == theirs.is_file(), (case, k)
            if mine.is_file():
                np.testing.assert_array_equal(_segs(theirs), _segs(mine), err_msg=f"{case} run {k}")
        assert (json.loads((b.iterations_dir(case) / "clicks.json").read_text())
                == json.loads((a.iterations_dir(case) / "clicks.json").read_text())), case
        np.testing.assert_array_equal(_segs(b.output(case)), _segs(a.output(case)), err_msg=case)
        assert f"[evalkit: run {CLICKS + 1} of case {case}]" in b.log(case).read_text()
    drop = ["wall_s"]
    pd.testing.assert_frame_equal(
        pd.read_csv(dist.scores_cases("clickfill")).sort_values("case", ignore_index=True),
        pd.read_csv(local.scores_cases("clickfill")).sort_values("case", ignore_index=True))
    its = [pd.read_csv(r.scores_cases("clickfill").with_name("iterations.csv"))
           .drop(columns=drop).sort_values(["case", "iteration"], ignore_index=True)
           for r in (local, dist)]
    pd.testing.assert_frame_equal(its[1], its[0])
    assert not list(b.work_dir.glob("interactive/*"))  # no harness-written input left behind
    _assert_runs_on_their_nodes(dist)


def _assert_runs_on_their_nodes(dist: RunFolder) -> None:
    """The report's fairness rows are the container runs, each on the node it ran on (a
    case's runs can span nodes; its case record names only the last)."""
    from evalkit.report.inputs import read_journal_table
    from evalkit.report.nodes import journal_rows, node_runtimes

    journal = dist.submission("clickfill").journal
    rows = node_runtimes(journal_rows(dist.root, {"clickfill": read_journal_table(journal)}))
    want = sorted((r.case, r.node, r.wall_s) for r in read_journal(journal, kind="run")
                  if r.status != "skipped")
    assert sorted(zip(rows["case"], rows["node"], rows["wall_s"], strict=True)) == want


def test_the_interactive_protocol_on_the_cluster_equals_a_local_run(
        cluster, click_fill, cases, config, local_run, tmp_path):
    lines = _lines(local_run)
    runs = [d for d in lines if d["record"] == "run"]
    assert len(runs) == len(CASES) * (CLICKS + 1)
    statuses = {(d["case"], d["iteration"]): d["status"] for d in runs}
    assert statuses[("MR_brain_0002", 1)] == "skipped"  # the case without boxes
    assert {s for key, s in statuses.items() if key != ("MR_brain_0002", 1)} == {"ok"}
    cases_csv = pd.read_csv(local_run.scores_cases("clickfill"))
    assert (cases_csv["status"] == "ok").all() and (cases_csv["dsc_3"] > 0).all()

    dist = _evaluate(click_fill, cases, config, tmp_path, "cluster", "--scheduler", cluster.address)
    _assert_same_run(local_run, dist)
    records = read_journal(dist.submission("clickfill").journal, kind=None)
    ran = [r for r in records if r.record == "run" and r.status != "skipped"]
    assert ran and {r.node for r in ran} <= {"w0", "w1"} and all(r.node for r in ran)
    assert {r.node for r in read_journal(local_run.submission("clickfill").journal, kind=None)} \
        == {""}


def _node_containers(client: docker.DockerClient, node: str, *, running: bool = True) -> list:
    filters = {"label": f"evalkit.node={node}"} | ({"status": "running"} if running else {})
    return client.containers.list(all=not running, filters=filters)


def test_a_worker_killed_during_a_click_run_still_gives_each_run_once(
        cluster, click_fill, cases, config, local_run, docker_client, tmp_path):
    out: dict = {}

    def target():
        try:
            out["run"] = _evaluate(click_fill, cases, config, tmp_path, "killed",
                                   "--scheduler", cluster.address)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    journal = RunFolder(tmp_path / "killed").submission("clickfill").journal
    deadline = time.monotonic() + 240
    victim = None
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        started = {r.case for r in read_journal(journal, kind="run")} if journal.is_file() else set()
        for node in ("w0", "w1"):
            if any(c.labels.get("evalkit.case") in started
                   for c in _node_containers(docker_client, node)):
                victim = node  # a case's runs are serial: one after a recorded run is a click run
                break
        time.sleep(0.05)
    assert victim is not None, "no click run seen in flight"
    i = int(victim[1:])
    cluster.kill(f"worker{i}")  # SIGKILL to the nanny and the worker, mid-run
    thread.join(timeout=600)
    assert not thread.is_alive() and "error" not in out, out.get("error")
    dist = out["run"]
    _assert_same_run(local_run, dist)
    ran = [r for r in read_journal(dist.submission("clickfill").journal, kind=None)
           if r.record == "run" and r.status != "skipped"]
    assert f"w{1 - i}" in {r.node for r in ran}
    cluster.start_worker(i)
    cluster.wait_for_workers(2)
    # the orphan (SIGKILL left it behind) went when the node came back
    assert _node_containers(docker_client, victim, running=False) == []


def test_a_lost_scheduler_mid_case_resumes_at_the_next_run_with_the_same_results(
        cluster, click_fill, cases, config, local_run, tmp_path):
    from evalkit.config import load_challenge
    from evalkit.runner.dask_executor import DaskExecutor
    from evalkit.runner.executor import ExecutorUnavailable
    from evalkit.workflows.evaluate import Submission, evaluate

    challenge = load_challenge(config)
    subs = [Submission(click_fill, "clickfill")]
    run_dir = tmp_path / "resumed"
    out: dict = {}

    def target():
        executor = DaskExecutor(challenge, scheduler=cluster.address, calibrate=False,
                                reconnect_s=3)
        try:
            evaluate(subs, cases, run_dir, challenge, executor=executor, progress=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
        finally:
            executor.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    journal = RunFolder(run_dir).submission("clickfill").journal
    deadline = time.monotonic() + 240
    while not read_journal(journal, kind="run") and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.kill("scheduler")
    thread.join(timeout=180)
    assert not thread.is_alive() and isinstance(out.get("error"), ExecutorUnavailable), out
    before = read_journal(journal, kind=None)
    begun = {r.case for r in before if r.record == "run"}
    ended = {r.case for r in before if r.record == "case"}
    assert begun - ended, "no case was stopped between its runs"
    assert {r.status for r in before} <= {"ok", "skipped"}  # nothing half-recorded
    cluster.restart()
    with DaskExecutor(challenge, scheduler=cluster.address, calibrate=False) as again:
        evaluate(subs, cases, run_dir, challenge, executor=again, progress=False)
    after = read_journal(journal, kind=None)
    assert after[:len(before)] == before
    keys = [(r.case, r.record, r.iteration, r.attempt) for r in after]
    assert len(keys) == len(set(keys))  # no run made twice: the resumed cases went on
    _assert_same_run(local_run, RunFolder(run_dir))
