"""The bundled cvpr25-text challenge file: read over the cvpr24 defaults, text switches typed."""

from __future__ import annotations

import pytest

from evalkit.config import BUNDLED, ConfigError, load_challenge
from evalkit.metrics import settings_from_challenge


def test_bundled_text_challenge_loads_with_its_switches():
    ch = load_challenge("cvpr25-text")
    assert "cvpr25-text" in BUNDLED and ch.source == "bundled:cvpr25-text"
    assert ch.name == "cvpr25-text" and ch.contract["inputs"] == "text"
    assert ch.data["protocol"]["kind"] == "single" and ch.runner["memory"] == "32g"
    assert list(ch.ranking["metrics"]) == ["DSC", "NSD", "F1", "DSC_TP", "RunningTime"]
    s = settings_from_challenge(ch)
    assert s.enabled == ("DSC", "NSD", "F1", "DSC_TP")
    assert (s.uint8_cast, s.unique_skips_first, s.empty_instances_zero, s.nsd_dsc_gate,
            s.case_mean, s.iou_threshold, s.split_binary) == (True, True, True, None, "nanmean", 0.5, True)
    strict = settings_from_challenge(ch, mode="strict")
    assert (strict.uint8_cast, strict.unique_skips_first, strict.empty_instances_zero) == (False, False, False)
    assert strict.split_binary  # a rule of the track, not a quirk
    assert not settings_from_challenge(load_challenge()).split_binary  # off unless a challenge says so


def test_cvpr24_defaults_are_unchanged_by_the_new_keys():
    ch = load_challenge()
    assert ch.contract["inputs"] == "boxes"
    s = settings_from_challenge(ch)
    assert (s.uint8_cast, s.unique_skips_first, s.enabled) == (False, False, ("DSC", "NSD"))


@pytest.mark.parametrize("text, key", [
    ("[metrics]\niou_threshold = 0\n", "metrics.iou_threshold"),
    ("[metrics.official]\nuint8_cast = 1\n", "metrics.official.uint8_cast"),
    ("[contract]\ninputs = \"words\"\n", "contract.inputs"),
    ("[metrics]\nmode = \"strict\"\n[metrics.official]\nuint8_cast = true\n", "metrics.official.uint8_cast"),
])
def test_bad_text_keys_name_the_key(tmp_path, text, key):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_challenge(p)
