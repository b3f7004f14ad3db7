"""The executor and protocol seams (no engine): selection by config, the journal a
protocol leaves, resume through any executor, and that docker stays inside the runner."""

from __future__ import annotations

import ast
import copy
from dataclasses import replace
from pathlib import Path

import pytest
from runner_helpers import write_2d

from evalkit.config import Challenge, ConfigError, load_challenge
from evalkit.runfolder import CaseRecord, RunFolder, open_journal, read_journal
from evalkit.runner.execute import CaseJob
from evalkit.runner.executor import DockerExecutor, Executor, ExecutorError, RunJob, make_executor
from evalkit.runner.intake import ImageRecord
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.protocols import Protocol, SingleRun, make_protocol
from evalkit.runner.run import run_submission

EVALKIT = Path(__file__).resolve().parents[2] / "evalkit"
IMAGE_ID = "sha256:" + "ab" * 32


def image_record(image_id: str = IMAGE_ID, name: str = "team") -> ImageRecord:
    return ImageRecord(name=name, reference=image_id, image_id=image_id, tarball=None,
                       tarball_sha256=None, size_bytes=0, user="", architecture="amd64", created="")


class FakeExecutor(Executor):
    """Records every call; each run ends with the status given for its case (default ok)."""

    kind = "fake"

    def __init__(self, statuses: dict[str, str] | None = None, fail: set[str] | None = None):
        self.statuses = statuses or {}
        self.fail = fail or set()
        self.jobs: list[RunJob] = []
        self.begun: list[Path] = []
        self.ended: list[Path] = []

    def prepare(self, submission: str, name: str | None = None) -> ImageRecord:
        return image_record(name=name or "team")

    def begin(self, sub) -> None:
        self.begun.append(sub.root)

    def run(self, job: RunJob) -> CaseRecord:
        self.jobs.append(job)
        if job.case.name in self.fail:
            raise RuntimeError("the fake harness broke")
        return CaseRecord(case=job.case.name, status=self.statuses.get(job.case.name, "ok"),
                          image_id=job.image.image_id, attempt=job.attempt, iteration=job.iteration,
                          wall_s=0.5, degraded_timing=job.degraded)

    def end(self, sub) -> None:
        self.ended.append(sub.root)


def challenge_with(**sections) -> Challenge:
    base = load_challenge()
    data = copy.deepcopy(base.data)
    for key, value in sections.items():
        data[key] = value
    return Challenge(data, "test:" + ",".join(sections))


@pytest.fixture
def cases(tmp_path) -> list[Path]:
    (tmp_path / "cases").mkdir()
    return [write_2d(tmp_path / "cases" / f"2DBox_CT_{i:04d}.npz", seed=i) for i in range(3)]


def test_bundled_config_selects_docker_and_single(tmp_path):
    challenge = load_challenge()
    assert challenge.data["executor"]["kind"] == "docker"
    assert challenge.data["protocol"]["kind"] == "single"
    executor = make_executor(challenge)
    assert isinstance(executor, DockerExecutor)
    assert executor._client is None  # nothing provisioned until first use
    assert isinstance(make_protocol(challenge), SingleRun)
    assert isinstance(make_protocol(None), SingleRun)


@pytest.mark.parametrize(("section", "factory"), [("executor", make_executor), ("protocol", make_protocol)])
def test_unknown_kind_is_a_config_error_naming_file_and_key(section, factory, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[{section}]\nkind = "slurm"\n')
    with pytest.raises(ConfigError, match=rf"c\.toml: {section}\.kind:? .*'slurm'"):
        load_challenge(path)
    # a Challenge built around the loader is refused by the factory too
    with pytest.raises(ConfigError, match=rf"test:{section}: {section}\.kind .*'slurm'"):
        factory(challenge_with(**{section: {"kind": "slurm"}}))


def test_single_run_writes_one_case_record_per_case(cases, tmp_path):
    executor = FakeExecutor(statuses={"2DBox_CT_0001": "timeout"})
    seen = []
    records = run_submission(image_record(), cases, tmp_path / "run", name="team",
                             on_case_done=seen.append, executor=executor, progress=False)
    sub = RunFolder(tmp_path / "run").submission("team")
    assert [r.status for r in records] == ["ok", "timeout", "ok"]
    assert [r.case for r in seen] == [r.case for r in records]
    lines = read_journal(sub.journal, kind=None)
    assert [(r.case, r.record, r.iteration, r.attempt) for r in lines] == [
        (f"2DBox_CT_{i:04d}", "case", 1, 1) for i in range(3)]
    assert read_journal(sub.journal, kind="run") == []
    assert sub.image_record.is_file()
    # one executor run per case, with the case's own input, its shape and the run's limits
    assert [j.case.input_path for j in executor.jobs] == cases
    assert all(j.case.expected_shape == (32, 40) and j.iteration == 1 and j.submission == sub
               for j in executor.jobs)
    assert executor.jobs[0].limits.timeout_s == 900 and executor.jobs[0].contract_limits["max_instances"]
    assert executor.begun == executor.ended == [sub.root]


def test_resume_skips_done_cases_and_retries_harness_errors(cases, tmp_path):
    sub = RunFolder(tmp_path / "run").submission("team")
    sub.root.mkdir(parents=True)
    with open_journal(sub.journal) as j:
        j.append(CaseRecord("2DBox_CT_0000", "oom", image_id=IMAGE_ID))
        j.append(CaseRecord("2DBox_CT_0001", "harness_error", image_id=IMAGE_ID, attempt=1))
    executor = FakeExecutor()
    records = run_submission(image_record(), cases, tmp_path / "run", name="team",
                             executor=executor, progress=False)
    assert [(j.case.name, j.attempt) for j in executor.jobs] == [("2DBox_CT_0001", 2), ("2DBox_CT_0002", 1)]
    assert [(r.case, r.status, r.attempt) for r in records] == [
        ("2DBox_CT_0000", "oom", 1), ("2DBox_CT_0001", "ok", 2), ("2DBox_CT_0002", "ok", 1)]
    again = FakeExecutor()
    run_submission(image_record(), cases, tmp_path / "run", name="team", executor=again, progress=False)
    assert again.jobs == []  # everything done
    assert len(read_journal(sub.journal)) == 4
    with pytest.raises(ValueError, match="mixing two images"):
        run_submission(image_record("sha256:" + "cd" * 32), cases, tmp_path / "run", name="team",
                       executor=FakeExecutor(), progress=False)


def test_a_failing_protocol_or_executor_is_a_harness_error_and_the_run_goes_on(cases, tmp_path):
    executor = FakeExecutor(fail={"2DBox_CT_0000"})
    records = run_submission(image_record(), cases, tmp_path / "run", name="team",
                             executor=executor, progress=False)
    assert [r.status for r in records] == ["harness_error", "ok", "ok"]
    assert "protocol single: RuntimeError: the fake harness broke" in records[0].reason
    assert executor.ended  # torn down after the error too


class TwoRuns(Protocol):
    """A test multi-run protocol: run 2 stages a harness-written input; resumes from the journal."""

    kind = "two-runs"

    def __init__(self):
        self.previous: dict[str, list[CaseRecord]] = {}

    def run_case(self, executor, job, previous_runs, journal):
        self.previous[job.case.name] = previous_runs
        done = {r.iteration: r for r in previous_runs if r.attempt == job.attempt}
        last = None
        for i in (1, 2):
            if i in done:
                last = done[i]
                continue
            staged = job.case.input_path
            if i > 1:  # the harness rewrites the input between runs
                staged = job.submission.work_dir / "harness" / f"{job.case.name}.npz"
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_bytes(job.case.input_path.read_bytes())
            last = executor.run(replace(job, iteration=i, case=replace(job.case, input_path=staged)))
            journal.append(replace(last, record="run"))
        return replace(last, record="case")


def test_the_seam_carries_a_multi_run_protocol(cases, tmp_path):
    sub = RunFolder(tmp_path / "run").submission("team")
    sub.root.mkdir(parents=True)
    first = CaseRecord("2DBox_CT_0000", "ok", image_id=IMAGE_ID, record="run", iteration=1)
    with open_journal(sub.journal) as j:  # a harness killed after run 1 of the first case
        j.append(first)
    executor, protocol = FakeExecutor(), TwoRuns()
    records = run_submission(image_record(), cases[:2], tmp_path / "run", name="team",
                             executor=executor, protocol=protocol, progress=False)
    assert protocol.previous == {"2DBox_CT_0000": [first], "2DBox_CT_0001": []}
    assert [(j.case.name, j.iteration) for j in executor.jobs] == [
        ("2DBox_CT_0000", 2), ("2DBox_CT_0001", 1), ("2DBox_CT_0001", 2)]
    assert executor.jobs[0].case.input_path == sub.work_dir / "harness" / "2DBox_CT_0000.npz"
    lines = [(r.case, r.record, r.iteration) for r in read_journal(sub.journal, kind=None)]
    assert lines == [("2DBox_CT_0000", "run", 1), ("2DBox_CT_0000", "run", 2), ("2DBox_CT_0000", "case", 2),
                     ("2DBox_CT_0001", "run", 1), ("2DBox_CT_0001", "run", 2), ("2DBox_CT_0001", "case", 2)]
    assert [(r.case, r.record) for r in records] == [("2DBox_CT_0000", "case"), ("2DBox_CT_0001", "case")]
    assert [r.case for r in read_journal(sub.journal)] == ["2DBox_CT_0000", "2DBox_CT_0001"]


def test_docker_executor_refuses_a_run_before_begin(tmp_path):
    challenge = load_challenge()
    executor = DockerExecutor(challenge, client=object())  # never touched
    job = RunJob(image_record(), CaseJob("x", tmp_path / "x.npz"), RunFolder(tmp_path).submission("team"),
                 RunnerLimits.from_config(challenge.runner), dict(challenge.contract))
    with pytest.raises(ExecutorError, match="begin"):
        executor.run(job)


def _imports_docker(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "docker" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "docker":
            return True
    return False


def test_no_module_outside_the_runner_imports_docker():
    offenders = []
    for path in sorted(EVALKIT.rglob("*.py")):
        rel = path.relative_to(EVALKIT)
        if rel.parts[0] != "runner" and _imports_docker(ast.parse(path.read_text(), str(path))):
            offenders.append(str(rel))
    assert offenders == []
    assert _imports_docker(ast.parse((EVALKIT / "runner" / "executor.py").read_text()))  # the scan sees it
    assert not _imports_docker(ast.parse((EVALKIT / "runner" / "run.py").read_text()))


def test_the_schema_knows_exactly_the_registered_kinds():
    """Adding an executor or protocol means one line in its registry and one in the schema."""
    from evalkit.config_schema import EXECUTOR_KINDS, PROTOCOL_KINDS
    from evalkit.runner.executor import EXECUTORS
    from evalkit.runner.protocols import PROTOCOLS

    assert set(EXECUTOR_KINDS) == set(EXECUTORS)
    assert set(PROTOCOL_KINDS) == set(PROTOCOLS)
