"""Case names, manifests and discovery of a folder of cases."""

from __future__ import annotations

import warnings

import pytest
from contract_helpers import write_2d, write_3d

from evalkit.config import load_challenge
from evalkit.contract import (
    ContractError,
    ContractWarning,
    discover_cases,
    load_input,
    parse_case_name,
    read_manifest,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("3DBox_CT_0001.npz", ("CT", 3)),
        ("3DBox_MR_0001", ("MR", 3)),
        ("2DBox_X-Ray_0042.npz", ("X-Ray", 2)),
        ("2DBox_Microscope_0003.npz", ("Microscopy", 2)),  # alias
        ("2DBox_XRay_0003.npz", ("X-Ray", 2)),  # alias
        ("3DBox_MRI_0003.npz", ("MR", 3)),  # alias
        ("2DBox_ct_0003.npz", ("CT", 2)),  # case-insensitive match of a known modality
        ("Box_Dermoscopy_0001.npz", ("Dermoscopy", 2)),  # anything not starting 3D is 2D
        ("2DBox_Sonar_0001.npz", ("Sonar", 2)),  # unknown modality kept as is
        ("/some/folder/3DBox_PET_x.npz", ("PET", 3)),
    ],
)
def test_parse_case_name(name, expected):
    assert parse_case_name(name) == expected


def test_parse_case_name_with_explicit_aliases():
    assert parse_case_name("2DBox_Scope_1", {"Scope": "Microscopy"}) == ("Microscopy", 2)
    assert parse_case_name("2DBox_Microscope_1", {}) == ("Microscope", 2)


@pytest.mark.parametrize("name", ["case0001.npz", "3DBox_.npz"])
def test_name_without_modality_is_an_error(name):
    with pytest.raises(ContractError) as info:
        parse_case_name(name)
    assert info.value.reason == "bad_name"
    assert name.removesuffix(".npz") in str(info.value)


def test_discover_sorted_with_aliases_and_gt(tmp_path):
    inputs, gt = tmp_path / "inputs", tmp_path / "gt"
    inputs.mkdir()
    gt.mkdir()
    for name in ("3DBox_CT_0002", "2DBox_Microscope_0001", "3DBox_CT_0001"):
        (write_3d if name.startswith("3D") else write_2d)(inputs / f"{name}.npz")
        (gt / f"{name}.npz").write_bytes(b"x")  # existence is what discovery checks
    cases = discover_cases(inputs, gt)
    assert [c.name for c in cases] == ["2DBox_Microscope_0001", "3DBox_CT_0001", "3DBox_CT_0002"]
    assert [(c.modality, c.dim) for c in cases] == [("Microscopy", 2), ("CT", 3), ("CT", 3)]
    assert cases[0].gt_path == gt / "2DBox_Microscope_0001.npz"
    assert cases[1].input_path == inputs / "3DBox_CT_0001.npz"
    assert cases[1].file_name == "3DBox_CT_0001.npz"
    assert load_input(cases[1]).dim == 3


def test_missing_gt_names_the_case(tmp_path):
    inputs, gt = tmp_path / "inputs", tmp_path / "gt"
    inputs.mkdir()
    gt.mkdir()
    write_2d(inputs / "2DBox_CT_0001.npz")
    write_2d(inputs / "2DBox_CT_0002.npz")
    (gt / "2DBox_CT_0001.npz").write_bytes(b"x")
    with pytest.raises(ContractError) as info:
        discover_cases(inputs, gt)
    err = info.value
    assert err.reason == "missing_file"
    assert err.case == "2DBox_CT_0002"
    assert "2DBox_CT_0002" in str(err) and "ground truth" in str(err)


def test_non_npz_files_are_ignored_with_a_warning(tmp_path):
    write_2d(tmp_path / "2DBox_CT_0001.npz")
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "2DBox_CT_0002.npy").write_bytes(b"x")
    (tmp_path / "sub.npz").mkdir()
    with pytest.warns(ContractWarning) as record:
        cases = discover_cases(tmp_path)
    assert [c.name for c in cases] == ["2DBox_CT_0001"]
    text = " ".join(str(w.message) for w in record)
    assert "notes.txt" in text and "2DBox_CT_0002.npy" in text and "sub.npz" in text


def test_unknown_modality_is_kept_with_a_warning(tmp_path):
    write_2d(tmp_path / "2DBox_Sonar_0001.npz")
    with pytest.warns(ContractWarning, match="Sonar"):
        cases = discover_cases(tmp_path)
    assert cases[0].modality == "Sonar"


def test_known_modalities_do_not_warn(tmp_path):
    write_2d(tmp_path / "2DBox_Microscope_0001.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert discover_cases(tmp_path)[0].modality == "Microscopy"


def test_duplicate_case_names(tmp_path):
    write_2d(tmp_path / "2DBox_CT_0001.npz")
    (tmp_path / "2DBox_CT_0001.NPZ").write_bytes((tmp_path / "2DBox_CT_0001.npz").read_bytes())
    with pytest.raises(ContractError) as info:
        discover_cases(tmp_path)
    assert info.value.reason == "duplicate_case"
    assert "2DBox_CT_0001" in str(info.value)


def test_missing_inputs_folder(tmp_path):
    with pytest.raises(ContractError) as info:
        discover_cases(tmp_path / "nope")
    assert info.value.reason == "missing_file"


def test_manifest_overrides_names(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_3d(inputs / "case_a.npz")
    write_2d(inputs / "2DBox_CT_0001.npz")
    write_2d(inputs / "2DBox_US_0001.npz")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "case,modality,dim\ncase_a.npz,Microscope,3\n2DBox_CT_0001,Fundus,\n2DBox_US_0001,,3D\n"
    )
    cases = {c.name: c for c in discover_cases(inputs, manifest=manifest)}
    assert (cases["case_a"].modality, cases["case_a"].dim) == ("Microscopy", 3)
    assert (cases["2DBox_CT_0001"].modality, cases["2DBox_CT_0001"].dim) == ("Fundus", 2)
    assert (cases["2DBox_US_0001"].modality, cases["2DBox_US_0001"].dim) == ("US", 3)
    assert load_input(cases["case_a"]).dim == 3


def test_manifest_errors(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_2d(inputs / "2DBox_CT_0001.npz")
    bad = tmp_path / "m.csv"
    cases = [
        ("case,modality,dim\n2DBox_CT_0001,CT,4\n", "bad_values", "dim"),
        ("name,modality,dim\n2DBox_CT_0001,CT,2\n", "bad_values", "case"),
        ("case,modality,dim\n2DBox_CT_0001,CT,2\n2DBox_CT_0001,MR,2\n", "duplicate_case", "case"),
    ]
    for text, reason, key in cases:
        bad.write_text(text)
        with pytest.raises(ContractError) as info:
            read_manifest(bad)
        assert (info.value.reason, info.value.key) == (reason, key), text
        assert "m.csv" in str(info.value)
    bad.write_text("case,modality,dim\n2DBox_CT_0001,CT,2\n2DBox_CT_0099,CT,2\n")
    with pytest.raises(ContractError) as info:
        discover_cases(inputs, manifest=bad)
    assert info.value.reason == "missing_file" and "2DBox_CT_0099" in str(info.value)


def test_challenge_aliases_are_used(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_2d(inputs / "2DBox_Micro_0001.npz")
    user = tmp_path / "challenge.toml"
    user.write_text('[challenge]\nmodality_aliases = { Micro = "Microscopy" }\n')
    cases = discover_cases(inputs, challenge=load_challenge(user))
    assert cases[0].modality == "Microscopy"
