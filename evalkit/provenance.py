"""Versions written next to every result, so a number can be traced to the code behind it."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

# The packages whose behaviour decides evalkit's numbers.
CORE_PACKAGES = ("evalkit", "numpy", "scipy", "pandas")


def versions(packages: Iterable[str] = CORE_PACKAGES) -> dict[str, str]:
    """``{"python": ..., "platform": ..., <package>: <version> | "not installed"}``."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
