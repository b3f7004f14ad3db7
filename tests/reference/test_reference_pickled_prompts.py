"""The baselines that read CVPR25 prompts themselves (click-fill, text-threshold) unpickle them
only through case_io's restricted loader: a hostile pickle is refused, not run, and the case
fails with a named error while the other cases still run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REF = Path(__file__).resolve().parents[2] / "reference_submissions"
for d in ("click-fill", "text-threshold"):
    if str(REF / d) not in sys.path:
        sys.path.insert(0, str(REF / d))
import click_fill
import text_threshold
from case_io import CaseError, read_members


class _Evil:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile(path: Path, marker: Path, key: str) -> Path:
    members = {"imgs": np.zeros((6, 16, 16), np.uint8), "spacing": np.array([1.0, 1.0, 1.0])}
    members[key] = np.array([{"x": _Evil(marker)}], dtype=object)
    np.savez(path, **members)
    return path


def test_read_members_keeps_plain_and_restricted_pickled_members(tmp_path):
    f = tmp_path / "CT_x_0001.npz"
    np.savez(f, imgs=np.ones((2, 3, 4), np.uint8), text_prompts=np.array({"1": "liver"}))
    data = read_members(f)
    assert data["imgs"].shape == (2, 3, 4) and data["text_prompts"].item() == {"1": "liver"}
    marker = tmp_path / "pwned"
    with pytest.raises(CaseError, match="refusing to unpickle"):
        read_members(_hostile(tmp_path / "CT_y_0001.npz", marker, "clicks"))
    assert not marker.exists()


@pytest.mark.parametrize("image, key", [(click_fill, "clicks"), (text_threshold, "text_prompts")])
def test_hostile_prompt_pickle_is_refused_by_the_baselines(tmp_path, image, key):
    inp, out, marker = tmp_path / "in", tmp_path / "out", tmp_path / "pwned"
    inp.mkdir()
    _hostile(inp / "CT_evil_0001.npz", marker, key)
    status = image.main(str(inp), str(out))
    assert status != 0
    assert not marker.exists(), "the payload ran: the prompts were unpickled without restriction"
    assert not (out / "CT_evil_0001.npz").exists()
