"""Run participant images on cases in locked-down containers (shared/spec/runner.md).

Python API (what the orchestrator calls)::

    from evalkit.runner import make_executor, read_journal, run_submission

    with make_executor(challenge) as executor:    # [executor] kind: "docker" (engine set up on first use)
        image = executor.prepare("team.tar.gz", "team")   # ImageRecord, pinned by image ID; never pulls
        records = run_submission(image, cases, run_dir, challenge, name="team",
                                 on_case_done=callback, executor=executor)
    records = read_journal(RunFolder(run_dir).submission("team").journal)

* :class:`Executor` (``evalkit.runner.executor``): ``prepare(submission, name) ->
  ImageRecord`` (intake of a ``.tar``/``.tar.gz`` from ``docker save`` or a local
  reference; records tarball sha256, size, user, architecture, created),
  ``begin(sub)`` / ``end(sub)`` per submission (leftovers of a killed run removed),
  ``run(job: RunJob) -> CaseRecord`` (one fresh locked-down container; never raises
  for anything the image does), ``close()``. ``DockerExecutor`` is today's engine;
  ``make_executor(challenge)`` picks by ``[executor] kind``.
* :class:`Protocol` (``evalkit.runner.protocols``): what happens per case,
  ``run_case(executor, job, previous_runs, journal) -> CaseRecord``; ``SingleRun``
  (CVPR24); ``make_protocol(challenge)`` picks by ``[protocol] kind``.
* ``run_submission(image, cases, run_dir, config=None, name=None, on_case_done=None,
  *, executor, protocol=None, progress=True) -> list[CaseRecord]``: ``cases`` are
  ``evalkit.contract.Case`` objects (or input paths); ``config`` a
  ``Challenge`` whose ``[runner]`` section gives every limit. Writes
  ``<run_dir>/submissions/<name>/{image.json, journal.jsonl, outputs/, logs/}``;
  resumes from the journal; ``on_case_done(record)`` runs after each new case.
* ``read_journal(path) -> list[CaseRecord]`` (all complete case lines, file order);
  ``latest_by_case(records)`` keeps the last record per case.
* ``CaseRecord`` fields = the journal columns of docs/design.md; ``STATUSES``.
* Engine set-up: ``ensure_engine()``, ``ensure_base_image()``, ``base_image_ref()``
  (``evalkit.runner.engine``; ``python -m evalkit.runner.engine ensure``); only the
  docker executor and ``evalkit engine ensure`` call them.

CLI: ``evalkit run --submission IMAGE_OR_TARBALL --cases DIR --out DIR [--config FILE]
[--name NAME]`` and ``evalkit engine ensure``.
"""

from evalkit.runfolder.journal import COLUMNS, STATUSES, CaseRecord, latest_by_case, read_journal
from evalkit.runner.engine import EngineError, base_image_ref, ensure_base_image, ensure_engine
from evalkit.runner.executor import DockerExecutor, Executor, ExecutorError, RunJob, make_executor
from evalkit.runner.intake import ImageRecord, IntakeError, intake
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.protocols import Protocol, SingleRun, make_protocol
from evalkit.runner.run import run_submission

__all__ = [
    "COLUMNS", "STATUSES", "CaseRecord", "DockerExecutor", "EngineError", "Executor", "ExecutorError",
    "ImageRecord", "IntakeError", "Protocol", "RunJob", "RunnerLimits", "SingleRun", "base_image_ref",
    "ensure_base_image", "ensure_engine", "intake", "latest_by_case", "make_executor", "make_protocol",
    "read_journal", "run_submission",
]
