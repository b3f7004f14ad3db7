"""The run folder, at the bottom of the stages: its paths and its journal.

Every stage that reads or writes a run folder takes its paths from
:class:`RunFolder` (:mod:`evalkit.runfolder.layout`) and reads journals with the
one reader of :mod:`evalkit.runfolder.journal`; none builds a path itself.
This package imports nothing of evalkit but ``errors`` and ``config``.
"""

from evalkit.runfolder.journal import (
    COLUMNS,
    STATUSES,
    CaseRecord,
    Journal,
    JournalError,
    latest_by_case,
    open_journal,
    read_journal,
    runs_by_case,
)
from evalkit.runfolder.layout import (
    RunFolder,
    RunFolderError,
    SubmissionFolder,
    UnsafeNameError,
    atomic_write_text,
    check_case_name,
    check_component,
    check_name,
)

__all__ = [
    "COLUMNS", "STATUSES", "CaseRecord", "Journal", "JournalError", "RunFolder", "RunFolderError",
    "SubmissionFolder", "UnsafeNameError", "atomic_write_text", "check_case_name", "check_component", "check_name", "latest_by_case", "open_journal", "read_journal",
    "runs_by_case",
]
