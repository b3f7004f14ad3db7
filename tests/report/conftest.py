"""Fixtures: synthetic run folders (23 algorithms, and 4 at demo scale) and their reports,
built once per session."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.report import build as B
from evalkit.report import build_report

from .synthetic import make_run


@pytest.fixture(scope="session")
def run23(tmp_path_factory) -> Path:
    return make_run(
        tmp_path_factory.mktemp("run23") / "run",
        n_algorithms=23,
        per_modality=12,
        bootstrap_samples=40,
        seed=1,
    )


def build_keeping_figures(run: Path, out: Path | None = None):
    """``build_report`` that also keeps every saved figure: ``report.drawn`` lists
    ``(name, Figure, svg path)`` (the figures as written, for the figure-text tests)."""
    drawn = []
    real = B._save

    def keep(fig, data, stem):
        real(fig, data, stem)
        drawn.append((stem.name, fig, stem.with_suffix(".svg")))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(B, "_save", keep)
        report = build_report(run, out, progress=False)
    report.drawn = drawn
    return report


@pytest.fixture(scope="session")
def report23(run23):
    t0 = time.perf_counter()
    report = build_keeping_figures(run23)
    print(
        f"\n23-algorithm report rendered in {time.perf_counter() - t0:.1f} s "
        f"({len(report.figures)} figures)"
    )
    return report


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The real demo data set (evalkit demo-data): one case per modality."""
    out = tmp_path_factory.mktemp("demo") / "data"
    assert main(["demo-data", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def run4(tmp_path_factory, demo_data) -> Path:
    """Demo scale: 4 algorithms, example cases taken from the real demo data."""
    return make_run(
        tmp_path_factory.mktemp("run4") / "run",
        n_algorithms=4,
        per_modality=5,
        bootstrap_samples=20,
        seed=2,
        demo_dir=demo_data,
    )
