"""Submission names cannot leave the run folder (hardening issue, item 7)."""

from __future__ import annotations

import pytest

from evalkit.cli import main
from evalkit.runfolder import RunFolder, UnsafeNameError, check_name
from evalkit.workflows.evaluate import Submission

BAD = ["../../escape", "..", ".", "a/b", "-rf", ".hidden", "x" * 129, "name with space", "tab\tname",
       "\x1b[31mred", ""]


@pytest.mark.parametrize("name", BAD)
def test_unsafe_names_are_refused_everywhere(tmp_path, name):
    with pytest.raises(UnsafeNameError, match="not allowed"):
        check_name(name)
    if name in ("../../escape", "..", ".", "a/b", ""):  # would leave (or not be) one folder
        with pytest.raises(UnsafeNameError):
            RunFolder(tmp_path).submission(name)
        with pytest.raises(UnsafeNameError):
            RunFolder(tmp_path).scores_dir(name)


def test_safe_names_pass_and_stay_inside(tmp_path):
    for name in ("team-a", "LiteMedSAM_v2.1", "0day"):
        sub = RunFolder(tmp_path).submission(name)
        assert sub.root.parent == (tmp_path / "submissions").resolve()


def test_run_submission_refuses_an_unsafe_name_before_writing(tmp_path):
    from evalkit.runner import ImageRecord, run_submission

    image = ImageRecord("x", "x", "sha256:" + "0" * 64, None, None, 0, "", "amd64", "")
    with pytest.raises(UnsafeNameError):
        run_submission(image, [], tmp_path / "run", name="../escape", executor=object())
    assert not (tmp_path / "run").exists() and not (tmp_path / "escape").exists()


def test_evaluate_name_is_checked_when_parsed():
    assert Submission.parse("team-a=img.tar.gz").name == "team-a"
    with pytest.raises(UnsafeNameError):
        Submission.parse("..=img.tar.gz")


@pytest.mark.docker
def test_run_cli_refuses_an_escaping_name_before_running(tmp_path, test_images, cases_dir, capsys):
    out = tmp_path / "deep" / "run"
    rc = main(["run", "--submission", test_images["ok"], "--cases", str(cases_dir), "--out", str(out),
               "--name", "../../escape", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "not allowed" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "deep" / "escape").exists()
    assert not (tmp_path / "escape").exists()
    assert not out.exists()  # nothing was written at all
