"""The challenge file is typed and checked once, when it loads (issue 12 item 8).

Every bad value is one ``ConfigError`` naming the file, the key, the expected and
the found value; a setting that would do nothing in the chosen scheme is refused.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from evalkit.config import ConfigError, load_challenge
from evalkit.errors import EvalkitError


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_challenge(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message  # names the file
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "text, key, found, expected",
    [
        # the two values of the issue: accepted at load before, failing after intake
        ("[metrics]\ntolerance_mm = -1\n", "metrics.tolerance_mm", "-1", "a number >= 0 (mm)"),
        ('[runner]\nmemory = "8x"\n', "runner.memory", "'8x'", "a size like '8g'"),
        # a wrong type: a string for an integer, a boolean for an integer
        ('[metrics]\nworkers = "2"\n', "metrics.workers", "'2'", "an integer in [1, 1024]"),
        ("[metrics]\nround_digits = true\n", "metrics.round_digits", "True", "an integer"),
        # bad enums
        ('[ranking]\nscheme = "rank-then-vote"\n', "ranking.scheme", "'rank-then-vote'", "one of"),
        ('[ranking]\nties = "dense"\n', "ranking.ties", "'dense'", "'first'"),
        ('[metrics]\nmode = "loose"\n', "metrics.mode", "'loose'", "'official' or 'strict'"),
        ('[executor]\nkind = "slurm"\n', "executor.kind", "'slurm'", "'docker'"),
        ('[executor]\nscheduler = "host:8786"\n', "executor.scheduler", "'host:8786'",
         "'tcp://host:8786'"),
        ('[protocol]\nkind = "relay"\n', "protocol.kind", "'relay'", "'single'"),
        # ranges and units
        ('[runner]\nmemory = "1m"\n', "runner.memory", "'1m'", "from 6m to 1t"),
        ("[runner]\ncpus = 0\n", "runner.cpus", "0", "a number in (0, 1024] (CPUs)"),
        ("[runner]\npids_limit = 0\n", "runner.pids_limit", "0", "an integer"),
        ("[runner]\ntimeout_s = -5\n", "runner.timeout_s", "-5", "(s)"),
        ('[runner]\ntmpfs_tmp = "2q"\n', "runner.tmpfs_tmp", "'2q'", "a size"),
        ('[runner]\nnetwork = "nope"\n', "runner.network", "'nope'", "'none'"),
        ('[runner]\ncommand = "sh predict.sh"\n', "runner.command", "'sh predict.sh'", "list"),
        ("[ranking]\nalpha = 1.5\n", "ranking.alpha", "1.5", "a number in (0, 1)"),
        ("[ranking]\nbootstrap_samples = -1\n", "ranking.bootstrap_samples", "-1", "0 disables"),
        ("[ranking]\nmissing_value = true\n", "ranking.missing_value", "True", "'worst-rank'"),
        ("[ranking]\nmissing_value = { DSC = nan }\n", "ranking.missing_value.DSC", "nan",
         "a number"),
        ('[ranking]\nmetrics = { DSC = "higher" }\n', "ranking.metrics.DSC", "'higher'",
         "'larger' or 'smaller'"),
        ("[ranking]\ntask_weights = { \"CT/DSC\" = -1 }\n", "ranking.task_weights.CT/DSC", "-1",
         "a number >= 0"),
        ("[metrics.official]\nnsd_dsc_gate = true\n", "metrics.official.nsd_dsc_gate", "True",
         "or false"),
        ('[metrics.official]\ncase_mean = "median"\n', "metrics.official.case_mean", "'median'",
         "'mean' or 'nanmean'"),
        ("[contract]\nmax_instances = 70000\n", "contract.max_instances", "70000",
         "[1, 65535]"),
        ("[reproducibility]\nruntime_ratio_range = [2.0, 0.5]\n",
         "reproducibility.runtime_ratio_range", "[2.0, 0.5]", "low <= high"),
        ("[metrics]\nenabled = []\n", "metrics.enabled", "[]", "a non-empty list"),
        ('[metrics]\nenabled = ["DSC", "DSC"]\n', "metrics.enabled", "['DSC', 'DSC']",
         "distinct strings"),
        ('[metrics]\nenabled = "DSC"\n', "metrics.enabled", "'DSC'", "list of distinct strings"),
        ("[challenge]\nmodalities = []\n", "challenge.modalities", "[]", "a non-empty list"),
    ],
)
def test_bad_value_names_file_key_expected_and_found(tmp_path, text, key, found, expected):
    message = load_error(tmp_path, text)
    assert f": {key}: expected " in message, message
    assert f"found {found}" in message, message
    assert expected in message, message


def test_fix_is_given_where_obvious(tmp_path):
    assert "Did you mean 'median'?" in load_error(tmp_path, '[ranking]\naggregate = "meadian"\n')
    assert "b, k, m, g or t" in load_error(tmp_path, '[runner]\nmemory = "8x"\n')
    assert "without quotes: 2." in load_error(tmp_path, '[metrics]\nworkers = "2"\n')
    assert "is 1048576 bytes" in load_error(tmp_path, '[runner]\nmemory = "1m"\n')


def test_unknown_key_names_file_and_key_and_the_close_match(tmp_path):
    message = load_error(tmp_path, '[ranking]\nsheme = "rank-then-aggregate"\n')
    assert "unknown key 'ranking.sheme'" in message and "Did you mean 'scheme'?" in message
    message = load_error(tmp_path, "[runnr]\ncpus = 1\n")
    assert "unknown key 'runnr'" in message and "'runner'" in message


def test_a_section_that_is_not_a_table(tmp_path):
    message = load_error(tmp_path, "metrics = 3\n")
    assert "metrics: expected a table, found 3" in message


@pytest.mark.parametrize(
    "text, key, words",
    [
        ('[challenge]\nmodality_aliases = { MRI = "MRT" }\n', "challenge.modality_aliases.MRI",
         "challenge.modalities"),
        ("[ranking]\nscheme = \"aggregate-then-rank\"\nmissing_value = { DCS = 0 }\n",
         "ranking.missing_value.DCS", "names no metric"),
        ('[ranking]\ntask_weights = { "CT/HD" = 2 }\n', "ranking.task_weights.CT/HD",
         "'<task>/<metric>'"),
        ('[ranking]\nmissing_value = "drop"\n', "ranking.missing_value",
         "no effect under rank-then-aggregate"),
        ('[ranking]\nmissing_value = { DSC = 0, NSD = "drop", RunningTime = 900 }\n',
         "ranking.missing_value", "no effect under rank-then-aggregate"),
        ('[ranking]\nscheme = "test-then-rank"\naggregate = "median"\nmissing_value = "drop"\n',
         "ranking.aggregate", "no effect under test-then-rank"),
        ('[ranking]\naggregate = "median"\nchallenger_compat = true\n', "ranking.aggregate",
         "challenger_compat"),
        ('[ranking]\nties = "first"\nchallenger_compat = true\n', "ranking.ties",
         "challenger_compat"),
        ('[metrics]\nmode = "strict"\n[metrics.official]\ncase_mean = "mean"\n',
         "metrics.official.case_mean", "no effect with metrics.mode = 'strict'"),
    ],
)
def test_settings_that_would_be_ignored_are_refused(tmp_path, text, key, words):
    message = load_error(tmp_path, text)
    assert f": {key}: " in message and words in message, message


def test_settings_that_take_effect_load(tmp_path):
    ok = write(
        tmp_path,
        '[ranking]\naggregate = "median"\nmissing_value = { DSC = 0, NSD = 0, RunningTime = 900 }'
        '\nties = "random"\n[runner]\nmemory = "2g"\ntmpfs_tmp = "64m"\n'
        '[metrics]\nmode = "strict"\nenabled = ["DSC", "NSD", "HD95"]\n',
        "ok.toml",
    )
    c = load_challenge(ok)
    assert c.ranking["aggregate"] == "median" and c.ranking["ties"] == "random"
    assert c.metrics["enabled"] == ["DSC", "NSD", "HD95"]  # names: the metrics stage checks them
    assert c.data["executor"] == {"kind": "docker", "scheduler": "", "node_tolerance": 0.05}
    assert c.data["protocol"]["kind"] == "single"


def test_optional_sections_get_their_defaults_and_may_be_set():
    c = load_challenge()
    assert c.data["executor"]["kind"] == "docker" and c.data["protocol"]["kind"] == "single"
    assert c.metrics["enabled"] == ["DSC", "NSD"]


def test_errors_are_evalkit_errors_and_value_errors(tmp_path):
    path = write(tmp_path, "[metrics]\ntolerance_mm = -1\n")
    with pytest.raises(EvalkitError):
        load_challenge(path)
    with pytest.raises(ValueError, match="tolerance_mm"):
        load_challenge(path)


def test_unreadable_files(tmp_path):
    assert "not found" in str(pytest.raises(ConfigError, load_challenge, tmp_path / "no.toml").value)
    assert "not valid TOML" in load_error(tmp_path, "[ranking\n")
    (tmp_path / "dir.toml").mkdir()
    assert "is a folder" in str(pytest.raises(ConfigError, load_challenge, tmp_path / "dir.toml").value)


def _leaves(d: dict, prefix: str = "") -> set[str]:
    from evalkit.config_schema import SCHEMA

    out = set()
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and path not in {p for p, s in SCHEMA.items() if s.entries}:
            out |= _leaves(v, path + ".")
        else:
            out.add(path)
    return out


def test_schema_lists_every_key_of_the_bundled_file_and_no_other():
    from evalkit.config_schema import SCHEMA

    text = (Path(__file__).parents[2] / "evalkit" / "configs" / "cvpr24.toml").read_text()
    bundled = _leaves(tomllib.loads(text))
    assert bundled - set(SCHEMA) == set(), "add these keys to evalkit/config_schema.py SCHEMA"
    optional = {k for k, s in SCHEMA.items() if not s.required}
    assert set(SCHEMA) - bundled <= optional


def test_merged_configuration_round_trips(tmp_path):
    c = load_challenge(write(tmp_path, '[ranking]\nties = "max"\n', "c.toml"))
    again = load_challenge(write(tmp_path, c.to_toml(), "again.toml"))
    assert again.data == c.data


@pytest.mark.parametrize(
    "text, n", [("8g", 8 << 30), ("256m", 256 << 20), ("2G", 2 << 30), ("1.5k", 1536), (4096, 4096)]
)
def test_sizes_parse_in_config_and_the_runner_uses_the_same_parser(text, n):
    from evalkit.config_schema import parse_size
    from evalkit.runner.limits import RunnerLimits, parse_bytes

    assert parse_size(text) == n == parse_bytes(text)
    runner = dict(load_challenge().runner, memory=text if n >= 6 << 20 else "6m")
    assert RunnerLimits.from_config(runner).memory_bytes == max(n, 6 << 20)


def test_small_limits_of_the_runner_tests_load(tmp_path):
    """The tight limits the runner and workflow tests use stay valid."""
    c = load_challenge(write(tmp_path, (
        '[runner]\nmemory = "200m"\ncpus = 0.5\npids_limit = 64\ntimeout_s = 3\n'
        'tmpfs_tmp = "16m"\noutputs_cap_bytes = 8388608\nlog_tail_bytes = 32\nparallel_cases = 2\n'
        'command = ["sh", "-c", "exit 0"]\n[ranking]\nbootstrap_samples = 200\n'), "small.toml"))
    assert c.runner["log_tail_bytes"] == 32
