"""Building the bundled reference images from tests: one helper for every test module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / "reference_submissions" / "build.py"


def build_reference_images(*names: str, timeout: float = 3600) -> dict[str, str]:
    """Build (or find up to date) the named bundled images with ``build.py --only``; returns
    ``{name: image reference}``. Fails the test with the end of build.py's stderr when the
    build fails or does not report an image asked for."""
    cmd = [sys.executable, str(BUILD)] + [a for n in names for a in ("--only", n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=BUILD.parents[1])
    assert proc.returncode == 0, f"build.py failed:\n{proc.stderr[-4000:]}"
    refs = dict(line.split(" -> ", 1) for line in proc.stdout.splitlines() if " -> " in line)
    missing = set(names) - set(refs)
    assert not missing, f"build.py reported no image for {sorted(missing)}:\n{proc.stdout[-2000:]}"
    return refs
