"""`evalkit check` through the real engine: the right verdict for each faulty image."""

from __future__ import annotations

import pytest

from evalkit.cli import main

pytestmark = pytest.mark.docker

# image -> (status the verdict must name, a phrase of the advice)
FAULTY = {
    "sleeper": ("timeout", "deadline"),
    "memhog": ("oom", "memory limit"),
    "nonzero": ("nonzero_exit", "predict.sh failed"),
    "nothing": ("missing_output", "/workspace/outputs"),
    "wrongshape": ("invalid_output", "breaks the contract"),
    "symlink": ("invalid_output", "breaks the contract"),
    "bigoutput": ("invalid_output", "breaks the contract"),
    "forkbomb": ("timeout", "deadline"),
}


@pytest.mark.parametrize("name", sorted(FAULTY))
def test_check_fails_faulty_image_with_reason(name, test_images, one_case, small_config, capsys):
    status, phrase = FAULTY[name]
    rc = main(["check", test_images[name], "--cases", str(one_case), "--config", str(small_config),
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "VERDICT: FAIL" in out
    verdict = out.split("VERDICT: FAIL", 1)[1]
    assert f"[{status}]" in verdict and phrase in verdict, out
    assert "Fix:" in verdict


def test_check_passes_good_image_and_prints_scores(test_images, tiny_cases, small_config, capsys):
    rc = main(["check", test_images["ok"], "--cases", str(tiny_cases), "--config", str(small_config),
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "VERDICT: PASS" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("2DBox", "3DBox"))]
    assert len(rows) == 4 and all(r[1] == "ok" for r in rows)
    dsc = [float(r[4]) for r in rows]
    assert all(0.3 < d <= 1.0 for d in dsc), rows  # box fill: partial but real overlap


def test_network_attempt_is_not_a_failure_but_is_blocked(test_images, one_case, small_config, capsys):
    """The network image answers after its connection attempt fails inside the container."""
    rc = main(["check", test_images["network"], "--cases", str(one_case), "--config", str(small_config),
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "VERDICT: PASS" in out, out


def test_check_escapes_participant_bytes(test_images, one_case, small_config, capsys):
    """Terminal escapes, a bell, a bidi override, NUL and invalid UTF-8 from the image's
    stderr reach the operator only as visible escapes (hardening item 6)."""
    rc = main(["check", test_images["noisy"], "--cases", str(one_case), "--config", str(small_config),
               "--no-progress"])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert rc == 1 and "[nonzero_exit]" in captured.out, text
    for raw in ("\x1b", "\x07", "\x00", "\u202e"):
        assert raw not in text, repr(raw)
    text.encode("utf-8")  # no lone surrogates: the engine's U+FFFD for bad bytes is all that is left
    assert "\\x1b[31mred" in captured.out and "bad utf8" in captured.out
    assert "\\u202eevil" in captured.out and "\\x00nul" in captured.out


def test_check_names_the_path_of_a_write_to_the_read_only_root(test_images, one_case, tmp_path, capsys):
    """The writer image writes 64 MiB to /var/tmp: it fails inside, and the advice says where
    it wrote and what to do (hardening item 3)."""
    config = tmp_path / "rootfs.toml"
    config.write_text('[runner]\ncommand = ["sh", "predict.sh", "rootfs"]\nmemory = "256m"\n'
                      'timeout_s = 8\ntmpfs_tmp = "64m"\n')
    rc = main(["check", test_images["writer"], "--cases", str(one_case), "--config", str(config),
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1 and "VERDICT: FAIL" in out, out
    assert ("[read_only_rootfs] your image writes to /var/tmp/blob" in out
            and "ask the organisers to list it in [runner] writable_paths" in out), out
