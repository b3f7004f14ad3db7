"""The challenge file's schema: every key's type, range and unit, checked once at load.

:data:`SCHEMA` maps each dotted key (``"runner.memory"``) to a :class:`Spec`: what
the value must be (said in words, for the error), a test, and for keys that older
files or the bundled file may lack, a default. :data:`RULES` are the few checks
that involve more than one key (a setting that would have no effect in the chosen
scheme is an error, never ignored). :func:`check` runs both and raises one
:class:`ConfigError` naming the file, key, expected and found value and, where it
is obvious, the fix.

This module is at the bottom layer with :mod:`evalkit.config`: it imports no stage.
The stages' own checks (``RunnerLimits.from_config``,
``evalkit.metrics.settings.settings_from_section``,
``evalkit.ranking.settings.parse_settings``) stay for callers that build sections
by hand; a loaded challenge never gives them a bad value.
"""

from __future__ import annotations

import copy
import difflib
import math
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from evalkit.errors import EvalkitError


class ConfigError(EvalkitError, ValueError):
    """A challenge file that cannot be used; the message names the file and key."""


# ----------------------------------------------------------------------------- sizes

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
          "g": 1024**3, "gb": 1024**3, "t": 1024**4, "tb": 1024**4}
SIZE_WORDS = "a size like '8g' or '256m', or a byte count"


def parse_size(value: int | str) -> int:
    """``"8g"`` / ``"256m"`` / ``"1.5k"`` / ``1073741824`` -> bytes (binary units, like
    docker's ``-m``; case-insensitive, an optional trailing ``b``). Fractions are
    truncated to whole bytes. Raises ``ValueError`` (saying what was expected) for
    booleans, negative or zero sizes and unknown units."""
    if isinstance(value, bool):
        raise ValueError(f"expected {SIZE_WORDS}, found {value!r}")  # noqa: TRY004
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"expected a positive size, found {value}")
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"expected {SIZE_WORDS}, found {value!r}")
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise ValueError(f"expected a positive size, found {value!r}")
    return n


def _size_text(n: int) -> str:
    for unit in ("t", "g", "m", "k"):
        if n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return str(n)


# ----------------------------------------------------------------------------- specs

_REQUIRED = object()


@dataclass(frozen=True)
class Spec:
    """One key: ``expected`` in words, ``ok(value)``, optional unit, default and hint.

    ``hint(value)`` returns a fix for a bad value ("did you mean ...") or ``""``.
    ``entries``: for a table whose keys are data (metric names...), the spec of each
    entry, checked one by one so that the error names ``section.key.entry``.
    """

    expected: str
    ok: Callable[[Any], bool]
    unit: str = ""
    default: Any = _REQUIRED
    hint: Callable[[Any], str] | None = None
    entries: Spec | None = None

    @property
    def required(self) -> bool:
        """True when the key has no default (the bundled file must give it)."""
        return self.default is _REQUIRED

    def optional(self, default: Any) -> Spec:
        """This spec for a key that may be absent; ``default`` fills it in."""
        return replace(self, default=default)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bounds_words(lo: Any, hi: Any, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi}"
    return ""


def _unquote_hint(v: Any) -> str:
    """A number written as a string: say to drop the quotes."""
    if isinstance(v, str):
        try:
            float(v)
        except ValueError:
            return ""
        return f"Write it without quotes: {v.strip()}."
    return ""


def integer(lo: int | None = None, hi: int | None = None, unit: str = "") -> Spec:
    return Spec(
        f"an integer{_bounds_words(lo, hi)}",
        lambda v: _is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi),
        unit,
        hint=_unquote_hint,
    )


def number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    unit: str = "",
) -> Spec:
    """A finite int or float (not a boolean) within the bounds."""

    def ok(v: Any) -> bool:
        if not _is_number(v):
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return hi is None or (v < hi if hi_open else v <= hi)

    return Spec(f"a number{_bounds_words(lo, hi, lo_open, hi_open)}", ok, unit, hint=_unquote_hint)


def boolean() -> Spec:
    return Spec("true or false", lambda v: isinstance(v, bool))


def text() -> Spec:
    return Spec("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")


def choice(*options: str) -> Spec:
    def hint(v: Any) -> str:
        close = difflib.get_close_matches(str(v), options, n=1)
        return f"Did you mean {close[0]!r}?" if close else ""

    words = " or ".join(repr(o) for o in options) if len(options) < 3 else f"one of {options}"
    return Spec(words, lambda v: isinstance(v, str) and v in options, hint=hint)


def size(lo: int, hi: int) -> Spec:
    """A byte size (:func:`parse_size`) between ``lo`` and ``hi`` bytes."""

    def ok(v: Any) -> bool:
        try:
            return lo <= parse_size(v) <= hi
        except ValueError:
            return False

    def hint(v: Any) -> str:
        try:
            n = parse_size(v)
        except ValueError:
            return "Units: b, k, m, g or t (binary: 1k = 1024)."
        return f"{v!r} is {n} bytes."

    return Spec(f"{SIZE_WORDS}, from {_size_text(lo)} to {_size_text(hi)}", ok, hint=hint)


def strings(*, nonempty: bool = True, unique: bool = True) -> Spec:
    def ok(v: Any) -> bool:
        return (
            isinstance(v, list)
            and all(isinstance(x, str) and x for x in v)
            and (not nonempty or len(v) > 0)
            and (not unique or len(set(v)) == len(v))
        )

    words = "a " + ("non-empty " if nonempty else "") + "list of " + (
        "distinct " if unique else "") + "strings"
    return Spec(words, ok)


def absolute_paths() -> Spec:
    """A list of distinct absolute, normalised paths other than ``/`` (may be empty); the
    runner refuses the few it never mounts over (``evalkit.runner.limits``)."""

    def ok(v: Any) -> bool:
        return (
            isinstance(v, list)
            and all(isinstance(x, str) and x.startswith("/") and x != "/" and not x.startswith("//")
                    and posixpath.normpath(x) == x for x in v)
            and len(set(v)) == len(v)
        )

    return Spec("a list of distinct absolute paths like '/opt/cache' (not '/', no '..')", ok)


def table(entry: Spec, *, nonempty: bool = False, keys: str = "name") -> Spec:
    """A table whose keys are data (``keys`` says what they are) and whose values
    each match ``entry``."""
    words = f"a {'non-empty ' if nonempty else ''}table {keys} -> {entry.expected}"
    return Spec(
        words, lambda v: isinstance(v, Mapping) and (len(v) > 0 or not nonempty), entries=entry
    )


def either(*specs: Spec) -> Spec:
    return Spec(" or ".join(s.expected for s in specs), lambda v: any(s.ok(v) for s in specs))


def number_range(lo: float) -> Spec:
    """``[low, high]``: two numbers >= ``lo`` with low <= high."""
    return Spec(
        f"[low, high]: two numbers >= {lo} with low <= high",
        lambda v: isinstance(v, list) and len(v) == 2 and all(_is_number(x) and x >= lo for x in v)
        and v[0] <= v[1],
    )


# ----------------------------------------------------------------------------- the schema

#: Kinds and names the schema accepts; the stages that implement them import these.
METRICS_MODES = ("official", "strict")
CASE_MEANS = ("mean", "nanmean")
RANKING_SCHEMES = ("rank-then-aggregate", "aggregate-then-rank", "test-then-rank")
RANKING_AGGREGATES = ("mean", "median")
RANKING_TIES = ("min", "average", "max", "first", "last", "random")
RANKING_CONSENSUS = ("euclidean",)
DIRECTIONS = ("larger", "smaller")
MISSING_WORDS = ("worst-rank", "drop")
EXECUTOR_KINDS = ("docker", "dask")
PROTOCOL_KINDS = ("single", "interactive")
INPUT_KINDS = ("boxes", "interactive", "text")
CASE_NAME_RULES = ("modality-field", "free")
PROTOCOL_MODES = ("official", "strict")
NETWORK_MODES = ("none", "bridge", "host")

MIB, GIB, TIB = 1024**2, 1024**3, 1024**4

_missing_one = either(choice(*MISSING_WORDS), number())
_missing_table = table(_missing_one, nonempty=True, keys="metric")
_missing_value = Spec(
    f"{_missing_one.expected}, or {_missing_table.expected}",
    lambda v: _missing_one.ok(v) or _missing_table.ok(v),
    entries=_missing_one,
)

SCHEMA: dict[str, Spec] = {
    "challenge.name": text(),
    "challenge.title": text(),
    "challenge.modalities": strings(),
    "challenge.modality_aliases": table(text(), keys="file-name alias"),
    "contract.max_file_bytes": integer(1, unit="bytes"),
    "contract.max_decompressed_bytes": integer(1, unit="bytes"),
    "contract.max_instances": integer(1, 65535),
    "contract.segs_dtypes": choice("integral", "unsigned").optional("integral"),
    # what an input holds: "boxes" = CVPR24 (imgs, (N, 4|6) boxes, spacing); "interactive" =
    # CVPR25 (imgs, spacing, optional per-class box dicts; GT files hold gts only); "text" =
    # CVPR25 text track (imgs, spacing, text_prompts dict; no boxes; GT may hold gts only)
    "contract.inputs": choice(*INPUT_KINDS).optional("boxes"),
    # how a case's modality and dim are found: "modality-field" = <dim>Box_<Modality>_<id>;
    # "free" = any name: manifest, else a leading name token naming a known modality, else
    # default_task, with dim default_dim
    "contract.case_names": choice(*CASE_NAME_RULES).optional("modality-field"),
    "contract.default_task": text().optional("all"),
    "contract.default_dim": integer(2, 3).optional(3),
    "metrics.mode": choice(*METRICS_MODES),
    "metrics.tolerance_mm": number(0, unit="mm"),
    "metrics.round_digits": integer(0, 15, unit="digits"),
    "metrics.workers": integer(1, 1024, unit="processes"),
    # names are checked by the metrics stage against its registry (config imports no stage)
    "metrics.enabled": strings().optional(["DSC", "NSD"]),
    "metrics.official.labels_from_gt_max": boolean(),
    "metrics.official.case_mean": choice(*CASE_MEANS),
    "metrics.official.nsd_dsc_gate": either(number(0, 1), Spec("false", lambda v: v is False)),
    "metrics.official.nsd_2d_as_slab": boolean(),
    # CVPR25 text track (instance metrics, text cases); off / true by default so cvpr24 is unchanged
    "metrics.iou_threshold": number(0, 1, lo_open=True).optional(0.5),
    "metrics.split_binary": boolean().optional(False),
    "metrics.official.uint8_cast": boolean().optional(False),
    "metrics.official.unique_skips_first": boolean().optional(False),
    "metrics.official.empty_instances_zero": boolean().optional(True),
    # interactive (CVPR25) scoring quirks; strict: labels in GT or prediction, AUC over all runs
    "metrics.official.labels_present_in_gt": boolean().optional(True),
    "metrics.official.auc_clicks_only": boolean().optional(True),
    "ranking.scheme": choice(*RANKING_SCHEMES),
    "ranking.aggregate": choice(*RANKING_AGGREGATES),
    "ranking.missing_value": _missing_value,
    "ranking.ties": choice(*RANKING_TIES),
    "ranking.consensus": choice(*RANKING_CONSENSUS),
    "ranking.alpha": number(0, 1, lo_open=True, hi_open=True),
    "ranking.bootstrap_samples": integer(0, 1_000_000, unit="samples; 0 disables the bootstrap"),
    "ranking.seed": integer(0),
    "ranking.challenger_compat": boolean(),
    "ranking.metrics": table(choice(*DIRECTIONS), nonempty=True, keys="metric"),
    "ranking.task_weights": table(number(0), keys="'<task>/<metric>'"),
    "runner.command": strings(unique=False),
    "runner.memory": size(6 * MIB, TIB),  # docker refuses less than 6m
    "runner.cpus": number(0, 1024, lo_open=True, unit="CPUs"),
    "runner.pids_limit": integer(1, 1 << 22, unit="processes"),
    "runner.timeout_s": number(0, 7 * 86400, lo_open=True, unit="s"),
    "runner.network": choice(*NETWORK_MODES),
    "runner.tmpfs_tmp": size(MIB, TIB),
    "runner.read_only_rootfs": boolean().optional(True),
    "runner.writable_paths": absolute_paths().optional([]),
    "runner.writable_size": size(MIB, TIB).optional("256m"),
    "runner.outputs_cap_bytes": size(1, TIB),
    "runner.log_tail_bytes": size(1, GIB),
    "runner.parallel_cases": integer(1, 256, unit="cases"),
    "runner.base_image": text(),
    "reproducibility.dsc_tolerance": number(0, 1),
    "reproducibility.nsd_tolerance": number(0, 1),
    "reproducibility.runtime_ratio_range": number_range(0),
    "reproducibility.bootstrap_samples": integer(1, 1_000_000, unit="samples"),
    "reproducibility.seed": integer(0),
    "reproducibility.tolerances": table(number(0), keys="metric").optional({}),
    "executor.kind": choice(*EXECUTOR_KINDS).optional("docker"),
    # dask: the scheduler's address ("" = none; --scheduler overrides it)
    "executor.scheduler": Spec("a Dask scheduler address like 'tcp://host:8786', or ''",
                               lambda v: isinstance(v, str) and (v == "" or re.fullmatch(
                                   r"(tcp|tls|ws|wss|inproc)://\S+", v) is not None)).optional(""),
    # dask: how far nodes' calibration times may differ before the report warns
    "executor.node_tolerance": number(0, 10, unit="fraction; 0.05 = 5 %").optional(0.05),
    "protocol.kind": choice(*PROTOCOL_KINDS).optional("single"),
    # interactive protocol (CVPR25): a box run, then `clicks` runs each after one simulated
    # click per class
    "protocol.clicks": integer(1, 100, unit="click iterations").optional(5),
    "protocol.click_seed": integer(0).optional(42),
    "protocol.max_edt_voxels": integer(1, unit="voxels").optional(60_000_000),
    # the case's time budget: all its runs together (s per class of the GT); over it the case
    # scores 0 (status over_budget); 0 = no budget
    "protocol.budget_s_per_class": number(0, unit="s per class").optional(90.0),
    "protocol.mode": choice(*PROTOCOL_MODES).optional("official"),
    # official quirks, each a switch; mode "strict" sets both false
    "protocol.official.keep_outputs": boolean().optional(True),
    "protocol.official.uint8_prev": boolean().optional(True),
}

#: Top-level directives of a user file: read by ``evalkit.config.load_challenge`` before the
#: merge, never kept in the merged document. ``extends``: the bundled challenge (a name of
#: ``evalkit.config.BUNDLED``, checked there) the file is merged over; without it, cvpr24.
DIRECTIVES: dict[str, Spec] = {
    "extends": text().optional("cvpr24"),
}

#: Tables whose keys are data (metric names, aliases...), replaced whole when merged.
FREE_TABLES = frozenset(k for k, s in SCHEMA.items() if s.entries is not None)


def with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every optional key the schema knows filled in (in place)."""
    for path, spec in SCHEMA.items():
        if spec.required:
            continue
        *sections, key = path.split(".")
        node = data
        for s in sections:
            node = node.setdefault(s, {})
        if isinstance(node, dict):
            node.setdefault(key, copy.deepcopy(spec.default))
    return data


# ----------------------------------------------------------------------------- rules


def ranking_conflict(r: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first setting of a ``[ranking]`` mapping that would do nothing (or cannot
    be reproduced) in the chosen scheme: ``(key, message)``, or ``None``.

    Shared by :func:`check` (at load) and ``evalkit.ranking.settings.parse_settings``.
    """
    scheme = r.get("scheme")
    mv = r.get("missing_value")
    policies = list(mv.values()) if isinstance(mv, Mapping) else [mv]
    if scheme == "rank-then-aggregate" and "drop" in policies:
        return "missing_value", (
            "'drop' has no effect under rank-then-aggregate, which ranks every algorithm on "
            "every case. Use 'worst-rank' (challengeR's rankNA2), a number that replaces "
            "missing values before ranking (challengeR's na.treat), or scheme "
            "'aggregate-then-rank'."
        )
    if scheme == "test-then-rank" and r.get("aggregate") != "mean":
        return "aggregate", (
            f"{r.get('aggregate')!r} has no effect under test-then-rank, which aggregates "
            "nothing. Remove the key or choose another scheme."
        )
    if scheme == "rank-then-aggregate" and r.get("challenger_compat") is True:
        if r.get("aggregate") == "median":
            return "aggregate", (
                "challenger_compat = true reproduces challengeR's bootstrap of the mean rank "
                "only; with aggregate = 'median' set challenger_compat = false."
            )
        if r.get("ties") in ("first", "last", "random"):
            return "ties", (
                f"challenger_compat = true cannot reproduce {r.get('ties')!r} ties in "
                "challengeR's bootstrap (it depends on the order of duplicated rows); use "
                "'min', 'average' or 'max', or set challenger_compat = false."
            )
    return None


def _ranking_rule(data: dict[str, Any], user: frozenset[str]) -> tuple[str, str] | None:
    found = ranking_conflict(data["ranking"])
    return (f"ranking.{found[0]}", found[1]) if found else None


def _missing_value_metrics(data: dict[str, Any], user: frozenset[str]) -> tuple[str, str] | None:
    mv, known = data["ranking"]["missing_value"], data["ranking"]["metrics"]
    if isinstance(mv, Mapping):
        for metric in mv:
            if metric not in known:
                return f"ranking.missing_value.{metric}", (
                    f"names no metric of ranking.metrics {sorted(known)}; fix the name or remove it."
                )
    return None


def _task_weight_keys(data: dict[str, Any], user: frozenset[str]) -> tuple[str, str] | None:
    known = data["ranking"]["metrics"]
    for key in data["ranking"]["task_weights"]:
        task, _, metric = key.rpartition("/")
        if not task or metric not in known:
            return f"ranking.task_weights.{key}", (
                f"expected a key '<task>/<metric>' with a metric of {sorted(known)}, found {key!r}."
            )
    return None


def _aliases_name_modalities(data: dict[str, Any], user: frozenset[str]) -> tuple[str, str] | None:
    mods = data["challenge"]["modalities"]
    for alias, target in data["challenge"]["modality_aliases"].items():
        if target not in mods:
            return f"challenge.modality_aliases.{alias}", (
                f"expected one of challenge.modalities {mods}, found {target!r}."
            )
    return None


def _official_switches_under_strict(
    data: dict[str, Any], user: frozenset[str]
) -> tuple[str, str] | None:
    if data["metrics"]["mode"] != "strict":
        return None
    for key in sorted(user):
        if key.startswith("metrics.official."):
            return key, (
                "has no effect with metrics.mode = 'strict', which fixes every official quirk. "
                "Remove it, or use mode = 'official' to choose the switches one by one."
            )
    return None


#: Checks over several keys: ``rule(data, user_keys) -> (key, message) | None``;
#: ``user_keys`` are the dotted keys the user's file set (empty for the bundled file).
RULES: tuple[Callable[[dict[str, Any], frozenset[str]], tuple[str, str] | None], ...] = (
    _aliases_name_modalities,
    _missing_value_metrics,
    _task_weight_keys,
    _ranking_rule,
    _official_switches_under_strict,
)


# ----------------------------------------------------------------------------- check


def _describe(spec: Spec) -> str:
    return spec.expected + (f" ({spec.unit})" if spec.unit else "")


def _error(source: str, key: str, spec: Spec, found: Any) -> ConfigError:
    fix = spec.hint(found) if spec.hint else ""
    return ConfigError(
        f"{source}: {key}: expected {_describe(spec)}, found {found!r}." + (f" {fix}" if fix else "")
    )


def _lookup(data: dict[str, Any], path: str, source: str) -> tuple[bool, Any]:
    node: Any = data
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, Mapping):
            where = ".".join(parts[:i])
            raise ConfigError(f"{source}: {where}: expected a table, found {node!r}.")
        if part not in node:
            return False, None
        node = node[part]
    return True, node


def check(data: dict[str, Any], source: str, user_keys: frozenset[str] = frozenset()) -> None:
    """Check merged challenge ``data`` against :data:`SCHEMA` and :data:`RULES`.

    ``source`` names the file in the message; ``user_keys`` are the dotted keys the
    user's file set. Raises :class:`ConfigError` for the first problem found.
    Keys of the bundled file that the schema does not list are not checked here
    (``tests/config`` requires that there are none).
    """
    for path, spec in SCHEMA.items():
        present, value = _lookup(data, path, source)
        if not present:
            raise ConfigError(f"{source}: {path}: missing; expected {_describe(spec)}.")
        if not spec.ok(value):
            raise _error(source, path, spec, value)
        if spec.entries is not None and isinstance(value, Mapping):
            for name, entry in value.items():
                if not spec.entries.ok(entry):
                    raise _error(source, f"{path}.{name}", spec.entries, entry)
    for rule in RULES:
        found = rule(data, user_keys)
        if found:
            key, message = found
            raise ConfigError(f"{source}: {key}: {message}")
