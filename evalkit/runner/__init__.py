"""Run participant images on cases in locked-down containers (shared/spec/runner.md).

Python API (what the orchestrator calls)::

    from evalkit.runner import ensure_engine, intake, run_submission, read_journal

    client = ensure_engine()                      # a docker.DockerClient that answers
    image = intake("team.tar.gz", client)         # ImageRecord, pinned by image ID; never pulls
    records = run_submission(image, cases, run_dir, challenge, name="team",
                             on_case_done=callback, client=client)
    records = read_journal(run_dir / "submissions/team/journal.jsonl")

* ``intake(submission, client, name=None) -> ImageRecord``: a ``.tar``/``.tar.gz``
  from ``docker save`` or a local reference; records tarball sha256, size, user,
  architecture, created.
* ``run_submission(image, cases, run_dir, config=None, name=None, on_case_done=None,
  *, client=None, progress=True) -> list[CaseRecord]``: ``cases`` are
  ``evalkit.contract.Case`` objects (or input paths); ``config`` a
  ``Challenge`` whose ``[runner]`` section gives every limit. Writes
  ``<run_dir>/submissions/<name>/{image.json, journal.jsonl, outputs/, logs/}``;
  resumes from the journal; ``on_case_done(record)`` runs after each new case.
* ``read_journal(path) -> list[CaseRecord]`` (all complete lines, file order);
  ``latest_by_case(records)`` keeps the last record per case.
* ``CaseRecord`` fields = the journal columns of docs/design.md; ``STATUSES``.
* Engine set-up: ``ensure_engine()``, ``ensure_base_image()``, ``base_image_ref()``
  (``evalkit.runner.engine``; ``python -m evalkit.runner.engine ensure``).

CLI: ``evalkit run --submission IMAGE_OR_TARBALL --cases DIR --out DIR [--config FILE]
[--name NAME]`` and ``evalkit engine ensure``.
"""

from evalkit.runfolder.journal import COLUMNS, STATUSES, CaseRecord, latest_by_case, read_journal
from evalkit.runner.engine import EngineError, base_image_ref, ensure_base_image, ensure_engine
from evalkit.runner.intake import ImageRecord, IntakeError, intake
from evalkit.runner.limits import RunnerLimits
from evalkit.runner.run import run_submission, submission_dir

__all__ = [
    "COLUMNS", "STATUSES", "CaseRecord", "EngineError", "ImageRecord", "IntakeError",
    "RunnerLimits", "base_image_ref", "ensure_base_image", "ensure_engine", "intake",
    "latest_by_case", "read_journal", "run_submission", "submission_dir",
]
