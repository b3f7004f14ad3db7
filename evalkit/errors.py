"""The one error base of evalkit.

Every error that evalkit raises on purpose, to tell a person that an input, a
setting or a folder cannot be used as given, derives from :class:`EvalkitError`.
Its message is one line that names the thing (file, key, case, submission) and,
where there is one, the fix. The command line catches :class:`EvalkitError`
once (``evalkit.cli.main``) and exits 2 with that line; anything else that
escapes is a bug and keeps its traceback.

Subclasses keep the built-in base they had before (``ValueError`` for bad
values, ``RuntimeError`` for an engine or folder that cannot be used), so code
that catches those still works.

Where each lives (one per stage, so no stage imports a later one):

=====================  =================================  ===================
error                  module                             also a
=====================  =================================  ===================
``ConfigError``        ``evalkit.config``                 ``ValueError``
``ContractError``      ``evalkit.contract.errors``        ``ValueError``
``RunFolderError``     ``evalkit.runfolder``              ``RuntimeError``
``JournalError``       ``evalkit.runfolder``              ``ValueError``
``EngineError``        ``evalkit.runner.engine``          ``RuntimeError``
``IntakeError``        ``evalkit.runner.intake``          ``RuntimeError``
``ExecutorError``      ``evalkit.runner.executor``        ``RuntimeError``
``RankingInputError``  ``evalkit.ranking.table``          ``ValueError``
``RankingConfigError`` ``evalkit.ranking.settings``       ``ConfigError``
``ReportInputError``   ``evalkit.report.inputs``          ``ValueError``
=====================  =================================  ===================
"""

from __future__ import annotations


class EvalkitError(Exception):
    """Base of every error evalkit raises on purpose; ``str()`` is the one line shown."""

    #: Exit status of the command line for this error.
    exit_code: int = 2

    def one_line(self) -> str:
        """The message on one line (newlines folded), as the CLI prints it."""
        return " ".join(str(self).split()) or type(self).__name__
