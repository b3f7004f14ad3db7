"""The [runner] filesystem keys are checked when the challenge file loads (hardening item 3)."""

from __future__ import annotations

import pytest

from evalkit.config import ConfigError, load_challenge


@pytest.mark.parametrize("text, phrase", [
    ('writable_paths = ["relative/path"]', "runner.writable_paths"),
    ('writable_paths = ["/a/../b"]', "runner.writable_paths"),
    ('writable_paths = ["/"]', "runner.writable_paths"),
    ('writable_paths = "/opt/cache"', "runner.writable_paths"),
    ('read_only_rootfs = "yes"', "runner.read_only_rootfs"),
    ('writable_size = "8x"', "runner.writable_size"),
])
def test_bad_filesystem_keys_are_refused_at_load(tmp_path, text, phrase):
    path = tmp_path / "bad.toml"
    path.write_text(f"[runner]\n{text}\n")
    with pytest.raises(ConfigError, match=phrase):
        load_challenge(path)


def test_filesystem_defaults():
    runner = load_challenge().runner
    assert runner["read_only_rootfs"] is True and runner["writable_paths"] == []
    assert runner["writable_size"] == "256m"
