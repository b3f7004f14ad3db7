"""Fixtures for the contract tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_helpers import write_2d, write_3d


@pytest.fixture
def case2d(tmp_path: Path) -> Path:
    return write_2d(tmp_path / "2DBox_CT_0001.npz")


@pytest.fixture
def case3d(tmp_path: Path) -> Path:
    return write_3d(tmp_path / "3DBox_MR_0001.npz")
