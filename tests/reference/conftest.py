"""Import path for the reference submissions' in-container modules (common/, baselines)."""

from __future__ import annotations

import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "reference_submissions"
for p in [str(REFERENCE / s) for s in ("common", "box-fill", "box-threshold",
                                                          "litemedsam-openvino")] + [
        str(Path(__file__).resolve().parent)]:
    if p not in sys.path:
        sys.path.insert(0, p)
