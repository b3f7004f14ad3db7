"""The executor seam: where and how one container job runs.

An :class:`Executor` takes a submission in (:meth:`~Executor.prepare`: image
intake, pinned by image ID), sets up and tears down per submission
(:meth:`~Executor.begin` / :meth:`~Executor.end`) and runs one job
(:meth:`~Executor.run`): provision a fresh locked-down container, stage the
input, execute under the limits, collect and validate the output, deprovision.
:meth:`~Executor.run` returns a :class:`~evalkit.runfolder.CaseRecord` with one
status and never raises for anything the participant's image does. The
lifecycle per submission is::

    image = executor.prepare("team.tar.gz", "team")
    executor.begin(sub)            # also removes what a killed earlier run left
    rec = executor.run(job)        # any number of times, from several threads
    executor.end(sub)
    executor.close()               # once, when no submission is left

The executor is chosen by ``[executor] kind`` in the challenge file
(:func:`make_executor`). ``dask`` (:class:`~evalkit.runner.dask_executor.DaskExecutor`)
runs each job on a Dask distributed cluster of machines with their own engines.
``docker`` (:class:`DockerExecutor`) runs on the local engine; its internals are :mod:`evalkit.runner.engine`,
:mod:`evalkit.runner.intake`, :mod:`evalkit.runner.execute` and
:mod:`evalkit.runner.cgroups`. What the executor is asked to run per case (one
run or several) is the protocol's business (:mod:`evalkit.runner.protocols`).
How to add an executor: docs/design.md, "How to add".
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, ClassVar, Self

import docker

from evalkit.config import Challenge, ConfigError, load_challenge
from evalkit.errors import EvalkitError
from evalkit.runfolder import CaseRecord, SubmissionFolder
from evalkit.runner.cgroups import remove_cgroup
from evalkit.runner.engine import ensure_engine
from evalkit.runner.execute import CaseJob, cgroups_usable, cleanup_leftovers, run_case, token_for
from evalkit.runner.imagefs import inspect_image_fs
from evalkit.runner.intake import ImageRecord, intake
from evalkit.runner.limits import RunnerLimits


class ExecutorError(EvalkitError, RuntimeError):
    """The executor was used out of order or cannot run jobs; the message says what to do."""


class ExecutorUnavailable(ExecutorError):
    """The executor itself is gone (e.g. a lost Dask scheduler): no record is written for the
    cases in flight; the same command run again resumes from the journal."""


@dataclass(frozen=True)
class RunJob:
    """One container run of one case.

    ``image``: the pinned submission image. ``case``: the case name, the file to
    stage as its input (the case's input, or a harness-written one), the
    expected spatial shape of the prediction and the dimension. ``submission``:
    the folder that receives the log, the output, a rejected output and the
    scratch space. ``limits``: the ``[runner]`` limits (seconds, bytes);
    ``contract_limits``: the ``[contract]`` section bounding the output file.
    ``attempt``: the try of this case (1-based; a ``harness_error`` is retried
    with ``attempt`` + 1). ``iteration``: the run of this case within the
    attempt (1-based; always 1 for single-run protocols). ``degraded``: cases
    run side by side, so timings are marked degraded.
    """

    image: ImageRecord
    case: CaseJob
    submission: SubmissionFolder
    limits: RunnerLimits
    contract_limits: Mapping[str, Any]
    attempt: int = 1
    iteration: int = 1
    degraded: bool = False


class Executor(abc.ABC):
    """Runs container jobs somewhere; see the module docstring for the lifecycle."""

    #: The ``[executor] kind`` that selects this executor.
    kind: ClassVar[str]

    @abc.abstractmethod
    def prepare(self, submission: str, name: str | None = None) -> ImageRecord:
        """Take ``submission`` (a ``docker save`` tarball or an image reference / ID) in and
        return its record, pinned by image ID; never pulls. ``name`` defaults to one made
        from the tarball or reference. Raises :class:`~evalkit.runner.intake.IntakeError`."""

    def begin(self, sub: SubmissionFolder) -> None:
        """Set up for running jobs of submission ``sub``, first removing whatever a killed
        earlier run of it left behind (containers, cgroups, scratch folders)."""

    @abc.abstractmethod
    def run(self, job: RunJob) -> CaseRecord:
        """Run ``job`` in one fresh, locked-down container and return its record.

        Writes ``job.submission.log(case)`` and, when valid, ``.output(case)``.
        Never raises for anything the image does (crash, timeout, memory,
        bad output, hostile files): each is a status of the record. A failure of
        the harness itself is a ``harness_error`` record too. ``record`` is
        ``"case"`` and ``iteration`` is ``job.iteration``; the protocol decides
        whether the record stands for the case or for one run of it.
        """

    def end(self, sub: SubmissionFolder) -> None:
        """Tear down what :meth:`begin` set up for ``sub`` (called even after an error)."""

    def capacity(self) -> int:
        """How many :meth:`run` calls can usefully be in flight at once (read after
        :meth:`begin`); ``run_submission`` keeps at least that many cases going. 1 = one at a
        time (the local engine: more only with ``[runner] parallel_cases``)."""
        return 1

    def close(self) -> None:
        """Release the executor's own resources (engine connections); idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class DockerExecutor(Executor):
    """Runs each job in a container on the local Docker engine (today's runner).

    The engine is set up on first use (``ensure_engine``, once per executor);
    pass ``client`` to use an engine connection that is already open (it is then
    not closed by :meth:`close`). Per submission, :meth:`begin` derives the run
    token from the submission folder, removes leftovers of a killed run and
    checks whether per-case cgroups can be used (cgroupfs driver).
    """

    kind = "docker"

    def __init__(self, challenge: Challenge | None = None, *,
                 client: docker.DockerClient | None = None):
        self.challenge = challenge
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._begun: dict[str, tuple[str, bool]] = {}  # submission root -> (run token, use cgroups)
        self._image_paths: dict[str, tuple[str, ...]] = {}  # image ID -> its tmpfs paths

    @property
    def client(self) -> docker.DockerClient:
        """The engine connection (the engine is installed/started on first use)."""
        with self._lock:
            if self._client is None:
                self._client = ensure_engine()
            return self._client

    def prepare(self, submission: str, name: str | None = None) -> ImageRecord:
        return intake(submission, self.client, name=name)

    @staticmethod
    def run_token(sub: SubmissionFolder) -> str:
        """The label value of every container of ``sub`` (a hash of its absolute folder)."""
        return token_for(str(sub.root.resolve()))

    def begin(self, sub: SubmissionFolder) -> None:
        token = self.run_token(sub)
        cleanup_leftovers(self.client, sub, token)
        use_cgroups = cgroups_usable(self.client)
        with self._lock:
            self._begun[str(sub.root)] = (token, use_cgroups)

    def run(self, job: RunJob) -> CaseRecord:
        with self._lock:
            begun = self._begun.get(str(job.submission.root))
        if begun is None:
            raise ExecutorError(f"{job.submission.root}: run() before begin() for this submission; "
                                "call executor.begin(sub) first (run_submission does)")
        token, use_cgroups = begun
        return run_case(self.client, job.image.image_id, job.case, job.submission, job.limits,
                        dict(job.contract_limits), run_token=token, attempt=job.attempt,
                        iteration=job.iteration, use_cgroups=use_cgroups, degraded=job.degraded,
                        image_paths=self.image_paths(job.image))

    def image_paths(self, image: ImageRecord) -> tuple[str, ...]:
        """The image's paths that get a writable tmpfs (HOME, VOLUMEs): from its intake
        record, or looked up once per image ID for a record made without them (``home``
        ``None``: a record from before, or one built by hand)."""
        if image.home is not None:
            return image.tmpfs_paths()
        with self._lock:
            cached = self._image_paths.get(image.image_id)
        if cached is None:
            config = self.client.images.get(image.image_id).attrs.get("Config") or {}
            fs = inspect_image_fs(self.client, image.image_id, config)
            cached = replace(image, home=fs.home, home_files=fs.home_files,
                             volumes=fs.volumes).tmpfs_paths()
            with self._lock:
                self._image_paths[image.image_id] = cached
        return cached

    def end(self, sub: SubmissionFolder) -> None:
        with self._lock:
            begun = self._begun.pop(str(sub.root), None)
        remove_cgroup(f"evalkit/{begun[0] if begun else self.run_token(sub)}")

    def close(self) -> None:
        with self._lock:
            if not self._owns_client:
                return  # the caller's connection: the caller closes it
            client, self._client = self._client, None
        if client is not None:
            client.close()


from evalkit.runner.dask_executor import DaskExecutor  # (below: it subclasses Executor)

#: ``[executor] kind`` -> executor class.
EXECUTORS: dict[str, type[Executor]] = {DockerExecutor.kind: DockerExecutor,
                                        DaskExecutor.kind: DaskExecutor}


def configured_kind(challenge: Challenge, section: str, known: Mapping[str, object],
                    default: str) -> str:
    """``[section] kind`` of ``challenge`` (``default`` when absent), checked against ``known``.

    Raises :class:`~evalkit.config.ConfigError` naming the file and key.
    """
    kind = (challenge.data.get(section) or {}).get("kind", default)
    if kind not in known:
        raise ConfigError(f"{challenge.source}: {section}.kind must be one of "
                          f"{sorted(known)}, found {kind!r}.")
    return str(kind)


def make_executor(challenge: Challenge | None = None, *, scheduler: str | None = None) -> Executor:
    """The executor selected by ``[executor] kind`` (``None`` = bundled CVPR24: ``docker``).

    ``scheduler`` (``--scheduler`` on the command line): a Dask scheduler address such as
    ``tcp://host:8786``; it selects the ``dask`` executor whatever the file says and
    overrides ``[executor] scheduler``. Nothing is provisioned yet (the Docker engine is
    set up, or the scheduler connected, on first use). Raises
    :class:`~evalkit.config.ConfigError` for an unknown kind.
    """
    if challenge is None:
        challenge = load_challenge()
    if scheduler:
        return DaskExecutor(challenge, scheduler=scheduler)
    return EXECUTORS[configured_kind(challenge, "executor", EXECUTORS, "docker")](challenge)
