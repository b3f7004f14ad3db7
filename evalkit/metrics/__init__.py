"""Per-instance DSC and NSD, official/strict modes, case and folder scoring.

See docs/design.md ("Scores") and shared/spec/metrics.md.
"""

from evalkit.metrics.settings import MetricSettings, settings_from_challenge, settings_from_section

__all__ = ["MetricSettings", "settings_from_challenge", "settings_from_section"]
