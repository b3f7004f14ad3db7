"""The protocol seam: what happens to one case, driving an executor.

A :class:`Protocol` turns one case job into the case's record by asking the
executor for one or more container runs. :func:`~evalkit.runner.run.run_submission`
calls :meth:`Protocol.run_case` once per case still to do and appends the
returned record (``record = "case"``) to the journal; the protocol itself
appends nothing for a single run. It is chosen by ``[protocol] kind`` in the
challenge file (:func:`make_protocol`).

``interactive`` (:class:`~evalkit.runner.interactive.Interactive`, CVPR25): a box run
and one run per simulated click, the harness rewriting the input between them.

``single`` (:class:`SingleRun`, CVPR24): one executor run; its record is the
case record (``record = "case"``, ``iteration = 1``), so the journal holds one
line per case and attempt, as it always has.

**Multi-run protocols** (the next issue's ``interactive``: up to 6 runs, the
harness rewriting the input between them, e.g. adding a click derived from
the previous prediction) use the same seam:

* run ``i`` (1-based) is ``executor.run(replace(job, iteration=i, case=replace(job.case,
  input_path=written)))``, where ``written`` is a file the harness wrote for this
  run (under ``job.submission.work_dir``, outside the per-run scratch folders;
  :meth:`~evalkit.runner.executor.Executor.begin` empties that folder, so after a
  restart the protocol writes it again from the recorded runs' outputs);
  the executor stages whatever ``case.input_path`` names as ``<case>.npz``, and a
  repeated run of one case is allowed (its log is appended to the case log,
  its output replaces ``job.submission.output(case)``, read before the next run);
* after each run the protocol appends that run's record with ``record = "run"``
  (``iteration = i``, ``attempt = job.attempt``) to ``journal`` itself, so a
  killed harness loses at most the run in flight;
* ``previous_runs`` are the case's ``record = "run"`` lines already in the
  journal (every attempt, file order). The protocol resumes at its first
  unfinished iteration of the current attempt: iterations of ``job.attempt``
  already recorded are not run again (their outputs are read from
  ``previous_runs`` and the submission folder);
* it returns the case record (``record = "case"``), e.g. the last run's
  status and output with the summed ``wall_s``; run_submission writes it
  after the run lines, and readers that ask for case records
  (:func:`~evalkit.runfolder.read_journal`) see only it.

How to add a protocol: docs/design.md, "How to add".
"""

from __future__ import annotations

import abc
from dataclasses import replace
from typing import ClassVar

from evalkit.config import Challenge, load_challenge
from evalkit.runfolder import CaseRecord, Journal
from evalkit.runner.executor import Executor, RunJob, configured_kind


class Protocol(abc.ABC):
    """What happens per case: how many executor runs, what the harness does between them."""

    #: The ``[protocol] kind`` that selects this protocol.
    kind: ClassVar[str]

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> Protocol:
        """The protocol with its settings from ``challenge``'s ``[protocol]`` section."""
        return cls()

    @abc.abstractmethod
    def run_case(self, executor: Executor, job: RunJob, previous_runs: list[CaseRecord],
                 journal: Journal) -> CaseRecord:
        """Run case ``job.case`` through ``executor`` and return its ``record = "case"`` record.

        ``job`` is the case's first run (``iteration`` 1, the case's own input).
        ``previous_runs``: the case's ``record = "run"`` journal lines (resume
        point of multi-run protocols). ``journal``: where a multi-run protocol
        appends one ``record = "run"`` line per run (the case line is written by
        the caller). Never raises for anything the image does.
        """


class SingleRun(Protocol):
    """One run per case (CVPR24): the run's record is the case's record."""

    kind = "single"

    def run_case(self, executor: Executor, job: RunJob, previous_runs: list[CaseRecord],
                 journal: Journal) -> CaseRecord:
        rec = executor.run(replace(job, iteration=1))
        return replace(rec, record="case", iteration=1)


from evalkit.runner.interactive import Interactive

#: ``[protocol] kind`` -> protocol class.
PROTOCOLS: dict[str, type[Protocol]] = {SingleRun.kind: SingleRun, Interactive.kind: Interactive}


def make_protocol(challenge: Challenge | None = None) -> Protocol:
    """The protocol selected by ``[protocol] kind`` (``None`` = bundled CVPR24: ``single``).

    Raises :class:`~evalkit.config.ConfigError` for an unknown kind.
    """
    if challenge is None:
        challenge = load_challenge()
    kind = configured_kind(challenge, "protocol", PROTOCOLS, "single")
    return PROTOCOLS[kind].from_challenge(challenge)
