"""The case table reads a manifest.csv beside imgs/ and gts/ (cases whose names carry no modality)."""

from __future__ import annotations

import numpy as np

from evalkit.config import load_challenge
from evalkit.workflows.evaluate import case_table


def test_manifest_in_the_case_folder_names_the_modality(tmp_path):
    for sub in ("imgs", "gts"):
        (tmp_path / sub).mkdir()
    for name in ("study_0007", "CT_x_1"):
        np.savez_compressed(tmp_path / "imgs" / f"{name}.npz", imgs=np.zeros((2, 4, 4), np.uint8),
                            spacing=np.ones(3))
        np.savez_compressed(tmp_path / "gts" / f"{name}.npz", gts=np.zeros((2, 4, 4), np.uint8))
    ch = load_challenge("cvpr25-interactive")
    before = case_table(tmp_path, ch).set_index("case")["modality"].to_dict()
    assert before == {"study_0007": "all", "CT_x_1": "CT"}
    (tmp_path / "manifest.csv").write_text("case,modality,dim\nstudy_0007,MR,3\n")
    after = case_table(tmp_path, ch).set_index("case")["modality"].to_dict()
    assert after == {"study_0007": "MR", "CT_x_1": "CT"}
