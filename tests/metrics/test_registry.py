"""The metric registry: declarations, lookups, and [metrics] enabled."""

from __future__ import annotations

import math

import pytest

from evalkit.config import ConfigError, load_challenge
from evalkit.errors import EvalkitError
from evalkit.metrics import MetricSettings, registry, settings_from_challenge, settings_from_section
from evalkit.metrics.case import (
    CASE_COLUMNS,
    INSTANCE_TABLE_COLUMNS,
    case_columns,
    instance_table_columns,
)
from evalkit.metrics.registry import Metric, UnknownMetricError


def test_declared_metrics():
    assert list(registry.REGISTRY) == ["DSC", "NSD", "RunningTime", "HD95", "ASSD", "DSC_AUC", "NSD_AUC",
                                       "DSC_Final", "NSD_Final", "TotalRunningTime",
                                       "F1", "DSC_TP", "PQ", "Precision", "Recall"]
    for name in ("F1", "DSC_TP", "PQ", "Precision", "Recall"):
        m = registry.get(name)
        assert m.level == "matching" and m.optional and m.missing_value == 0.0 and m.bounds == (0.0, 1.0)
    dsc, nsd, hd, assd = (registry.get(n) for n in ("DSC", "NSD", "HD95", "ASSD"))
    assert (dsc.column, dsc.direction, dsc.missing_value, dsc.optional) == ("dsc", "larger", 0.0, False)
    assert (nsd.column, nsd.direction, nsd.missing_value) == ("nsd", "larger", 0.0)
    for m in (hd, assd):
        assert m.direction == "smaller" and m.missing_value == math.inf and m.unit == "mm" and m.optional
        assert not m.larger_is_better and m.label == f"{m.name} (mm)"
    rt = registry.RUNNING_TIME
    assert rt.source == "runner" and rt.column == "wall_s" and math.isnan(rt.missing_value)
    scored = [m for m in registry.REGISTRY.values() if m.source == "scores"]
    assert len({m.column for m in scored}) == len(scored)
    # runner metrics may share a journal field (TotalRunningTime is the case record's wall_s too)
    assert not {m.column for m in scored} & {m.column for m in registry.REGISTRY.values() if m.source == "runner"}


def test_every_scored_metric_names_functions_that_resolve():
    for m in registry.REGISTRY.values():
        if m.iteration:
            assert callable(registry.compute(m.iteration)) and not m.instance and not m.case
        elif m.source == "scores" and m.level == "matching":
            assert not m.instance and callable(registry.compute(m.case))
        elif m.source == "scores":
            assert callable(registry.compute(m.instance)) and callable(registry.compute(m.case))
        else:
            assert not m.instance and not m.case


def test_lookups():
    assert registry.metrics(["NSD", "DSC"]) == [registry.NSD, registry.DSC]
    assert registry.scored(["ASSD", "RunningTime", "DSC", "HD95"]) == [registry.DSC, registry.HD95, registry.ASSD]
    with pytest.raises(UnknownMetricError, match="'HD99'.*known metrics: DSC, NSD, RunningTime, HD95, ASSD, DSC_AUC"):
        registry.get("HD99")
    assert issubclass(UnknownMetricError, EvalkitError)


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="direction"):
        Metric("X", "x", "up", 0.0, instance="m:f", case="m:g")
    with pytest.raises(ValueError, match="module:function"):
        Metric("X", "x", "larger", 0.0)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(Metric("DSC", "dsc2", "larger", 0.0, instance="m:f", case="m:g"))
    with pytest.raises(ValueError, match="taken"):
        registry.register(Metric("DSC2", "dsc", "larger", 0.0, instance="m:f", case="m:g"))
    assert "DSC2" not in registry.REGISTRY


def test_enabled_defaults_to_cvpr24_and_keeps_registry_order():
    s = settings_from_challenge(load_challenge())
    assert s.enabled == ("DSC", "NSD") and s.metrics == [registry.DSC, registry.NSD]
    assert load_challenge().metrics["enabled"] == ["DSC", "NSD"]
    s = settings_from_section({"enabled": ["ASSD", "DSC", "HD95", "NSD", "DSC"]})
    assert s.enabled == ("DSC", "NSD", "HD95", "ASSD")
    assert case_columns(s.metrics) == [
        "case", "modality", "dim", "n_instances", "dsc", "nsd", "hd95", "assd",
        "dsc_unrounded", "nsd_unrounded", "hd95_unrounded", "assd_unrounded", "status", "reason"]
    assert instance_table_columns(s.metrics) == [
        "case", "modality", "dim", "label", "dsc", "nsd", "hd95", "assd", "gt_voxels", "pred_voxels"]
    assert case_columns([registry.DSC, registry.NSD]) == CASE_COLUMNS
    assert instance_table_columns([registry.DSC, registry.NSD]) == INSTANCE_TABLE_COLUMNS
    assert MetricSettings(enabled=["HD95"]).enabled == ("HD95",)


def test_unknown_enabled_metric_names_the_key_and_the_known_metrics():
    with pytest.raises(ConfigError, match=r"metrics\.enabled: unknown metric 'HD99'; known metrics: "
                                          r"DSC, NSD, HD95, ASSD, DSC_AUC"):
        settings_from_section({"enabled": ["DSC", "HD99"]})
    with pytest.raises(ConfigError, match="measured by the runner"):
        settings_from_section({"enabled": ["RunningTime"]})
    with pytest.raises(ConfigError, match="list of metric names"):
        settings_from_section({"enabled": "DSC"})
    with pytest.raises(ConfigError, match="unknown metric"):
        MetricSettings(enabled=("dsc",))


def test_unknown_enabled_metric_in_a_challenge_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[metrics]\nenabled = ["DSC", "Hausdorff"]\n')
    with pytest.raises(ConfigError, match="metrics.enabled.*'Hausdorff'"):
        settings_from_challenge(load_challenge(bad))
