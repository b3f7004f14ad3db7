"""Leaderboard tables, figures and ``index.html`` of a run (docs/design.md, issue 7).

``build_report(run_dir, out_dir=None)`` reads ``results.csv``, ``ranking/*.csv``,
``scores/<sub>/cases.csv``, journals, image records and the run's configuration and
writes everything an organiser publishes into ``out_dir`` (default ``<run>/report``).
"""

from evalkit.report.build import Report, build_report
from evalkit.report.inputs import ReportInputError, RunData, load_run

__all__ = ["Report", "ReportInputError", "RunData", "build_report", "load_run"]
