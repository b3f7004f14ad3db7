"""A user challenge file's top-level ``extends`` names the bundled challenge it is merged
over (default cvpr24): one changed key of cvpr25-interactive needs one line, not a copy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from evalkit.config import BUNDLED, ConfigError, load_challenge
from evalkit.config_schema import DIRECTIVES


def write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_one_changed_key_over_the_interactive_challenge(tmp_path):
    path = write(tmp_path, 'extends = "cvpr25-interactive"\n\n[protocol]\nbudget_s_per_class = 60.0\n')
    mine = load_challenge(path)
    want = copy.deepcopy(load_challenge("cvpr25-interactive").data)
    want["protocol"]["budget_s_per_class"] = 60.0
    assert mine.data == want
    assert "extends" not in mine.data and "extends" not in mine.to_toml()
    assert mine.source == f"{path} (extends bundled:cvpr25-interactive)"
    assert mine.name == "cvpr25-interactive" and mine.data["protocol"]["kind"] == "interactive"
    pinned = load_challenge(write(tmp_path, mine.to_toml(), "challenge.toml"))  # as a run re-reads it
    assert pinned.data == mine.data


def test_every_bundled_name_can_be_extended_and_cvpr24_is_the_default(tmp_path):
    for name in BUNDLED:
        c = load_challenge(write(tmp_path, f'extends = "{name}"\n', f"{name}.toml"))
        assert c.data == load_challenge(name).data
        assert c.source.endswith(f"(extends bundled:{name})")
    assert DIRECTIVES["extends"].default == "cvpr24"


def test_without_extends_the_file_is_merged_over_cvpr24_as_before(tmp_path):
    path = write(tmp_path, '[ranking]\nties = "max"\n')
    c = load_challenge(path)
    want = copy.deepcopy(load_challenge().data)
    want["ranking"]["ties"] = "max"
    assert c.data == want and c.source == str(path)


@pytest.mark.parametrize("value, fix", [
    ('"cvpr25-interactiv"', "Did you mean 'cvpr25-interactive'?"),
    ('"base.toml"', "Another challenge file cannot be extended"),
    ('"nonesuch"', ""),
    ("3", ""),
])
def test_an_unknown_base_is_one_error_naming_file_value_and_the_bundled_names(tmp_path, value, fix):
    path = write(tmp_path, f"extends = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_challenge(path)
    message = str(info.value)
    assert message.startswith(f"{path}: extends: expected the name of a bundled challenge, one of "
                              "'cvpr24', 'cvpr25-interactive', 'cvpr25-text'; found ")
    assert value.strip('"') in message and fix in message and "\n" not in message


def test_extends_inside_a_table_says_it_is_top_level(tmp_path):
    path = write(tmp_path, '[metrics]\nextends = "cvpr25-text"\n')
    with pytest.raises(ConfigError, match="unknown key 'metrics.extends'.*top-level key"):
        load_challenge(path)


def test_the_changed_keys_are_checked_against_the_extended_challenge(tmp_path):
    """Keys of the user file are checked as usual: a bad value names the file and key."""
    path = write(tmp_path, 'extends = "cvpr25-text"\n\n[metrics]\niou_threshold = "half"\n')
    with pytest.raises(ConfigError) as info:
        load_challenge(path)
    assert str(info.value).startswith(f"{path} (extends bundled:cvpr25-text): metrics.iou_threshold")
