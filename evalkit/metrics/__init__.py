"""Per-instance metrics (DSC, NSD; optional HD95, ASSD), official/strict modes, case and folder scoring.

Metrics are declared in :mod:`evalkit.metrics.registry` and selected by
``[metrics] enabled``; :mod:`evalkit.metrics.results` joins scores and journals.
See docs/design.md ("Scores", "How to add a metric") and shared/spec/metrics.md.
"""

from evalkit.metrics.settings import MetricSettings, settings_from_challenge, settings_from_section

__all__ = ["MetricSettings", "settings_from_challenge", "settings_from_section"]
