"""The challenge file: a TOML document that describes one challenge's evaluation.

The bundled ``cvpr24`` file (``evalkit/configs/cvpr24.toml``) reproduces the CVPR 2024
evaluation. A user file only needs the keys it changes: it is merged over the
bundled defaults, table by table, and unknown keys are an error (a typo must not
silently fall back to a default). A top-level ``extends = "cvpr25-interactive"``
(a name of :data:`BUNDLED`) merges the file over that bundled challenge instead
(itself cvpr24 plus its changes); the file's name and the chain are the
Challenge's ``source``, ``"my.toml (extends bundled:cvpr25-interactive)"``.
Only bundled names: a chain of user files would spread one challenge over
several files, so another file's keys are copied in instead. Every value is then checked once, here, against
the schema of :mod:`evalkit.config_schema` (type, range, unit, and settings that
would have no effect in the chosen scheme), so that a bad value fails at load with
one :class:`ConfigError` naming the file and key, before any image is taken in.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from evalkit.config_schema import (
    DIRECTIVES,
    FREE_TABLES,
    ConfigError,
    check,
    parse_size,
    with_defaults,
)

__all__ = ["BUNDLED", "Challenge", "ConfigError", "load_challenge", "parse_size"]

BUNDLED = {"cvpr24": "cvpr24.toml", "cvpr25-interactive": "cvpr25-interactive.toml",
           "cvpr25-text": "cvpr25-text.toml"}


@dataclass(frozen=True)
class Challenge:
    """A loaded challenge configuration.

    ``data`` is the merged TOML document (plain dicts); ``source`` the file it came
    from (or ``"bundled:cvpr24"``). Sections are exposed as properties so that
    stages read only their own part: ``challenge.metrics``, ``challenge.runner``...
    """

    data: dict[str, Any]
    source: str

    @property
    def name(self) -> str:
        return self.data["challenge"]["name"]

    @property
    def modalities(self) -> list[str]:
        return list(self.data["challenge"]["modalities"])

    @property
    def modality_aliases(self) -> dict[str, str]:
        return dict(self.data["challenge"]["modality_aliases"])

    @property
    def contract(self) -> dict[str, Any]:
        return self.data["contract"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.data["metrics"]

    @property
    def ranking(self) -> dict[str, Any]:
        return self.data["ranking"]

    @property
    def runner(self) -> dict[str, Any]:
        return self.data["runner"]

    def to_toml(self) -> str:
        """The merged configuration as TOML text (written next to every result)."""
        return tomli_w.dumps(self.data)


def _read_bundled(name: str) -> dict[str, Any]:
    text = resources.files("evalkit.configs").joinpath(BUNDLED[name]).read_text()
    return with_defaults(tomllib.loads(text))


def _merge(
    base: dict[str, Any], override: dict[str, Any], where: str, source: str, seen: set[str]
) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            close = difflib.get_close_matches(key, list(base), n=1)
            fix = f"Did you mean '{close[0]}'?" if close else "Fix the spelling or remove the key."
            if where and key in DIRECTIVES:
                fix = f"'{key}' is a top-level key: write it above the first [table]."
            raise ConfigError(
                f"{source}: unknown key '{path}'. Known keys here: {sorted(base)}. {fix}"
            )
        # Free-form tables (maps whose keys are data, not settings) are replaced whole.
        if isinstance(base[key], dict) and isinstance(value, dict) and path not in FREE_TABLES:
            out[key] = _merge(base[key], value, path, source, seen)
        else:
            out[key] = value
            seen.add(path)
    return out


def load_challenge(path: str | Path | None = None) -> Challenge:
    """Load a challenge file merged over the bundled CVPR24 defaults, and check it.

    ``path`` may be ``None`` or ``"cvpr24"`` (the bundled file), the name of another
    bundled challenge (:data:`BUNDLED`, e.g. ``"cvpr25-interactive"``, itself a file of
    changes over cvpr24) or a TOML file path. A file's top-level ``extends`` names
    the bundled challenge it is merged over (default cvpr24; module docstring);
    ``source`` is then ``"<path> (extends bundled:<name>)"``.
    Every key is checked against :data:`evalkit.config_schema.SCHEMA` (type, range,
    unit) and the cross-key :data:`~evalkit.config_schema.RULES` here, once; optional
    sections missing from the file get their defaults (``[executor] kind = "docker"``,
    ``[protocol] kind = "single"``, ``[metrics] enabled = ["DSC", "NSD"]``).
    Raises one :class:`ConfigError` naming the file, the key, the expected and the
    found value for unreadable files, unknown keys and bad values.
    """
    base = _read_bundled("cvpr24")
    if path is None or str(path) == "cvpr24":
        source = "bundled:cvpr24"
        check(base, source)
        return Challenge(base, source)
    if str(path) in BUNDLED:  # another bundled challenge: a file of changes over cvpr24
        text = resources.files("evalkit.configs").joinpath(BUNDLED[str(path)]).read_text()
        source, override = f"bundled:{path}", tomllib.loads(text)
    else:
        p = Path(path)
        source, override = str(p), _read_user_file(p)
        parent = _extends(override, source)
        if parent is not None:
            override = {k: v for k, v in override.items() if k not in DIRECTIVES}
            base = load_challenge(parent).data
            source = f"{p} (extends bundled:{parent})"
    seen: set[str] = set()
    merged = _merge(base, override, "", source, seen)
    check(merged, source, frozenset(seen))
    return Challenge(merged, source)


def _extends(override: dict[str, Any], source: str) -> str | None:
    """The bundled challenge named by a user file's top-level ``extends`` (``None``:
    no such key). Raises :class:`ConfigError` naming the file, the value and the
    bundled names for anything else (a path, a typo, a non-string)."""
    if "extends" not in override:
        return None
    value = override["extends"]
    if DIRECTIVES["extends"].ok(value) and value in BUNDLED:
        return value
    names = ", ".join(repr(n) for n in BUNDLED)
    close = difflib.get_close_matches(str(value), list(BUNDLED), n=1)
    if close:
        fix = f" Did you mean {close[0]!r}?"
    elif isinstance(value, str) and ("/" in value or value.endswith(".toml")):
        fix = " Another challenge file cannot be extended: copy its keys into this file."
    else:
        fix = ""
    raise ConfigError(f"{source}: extends: expected the name of a bundled challenge, one of "
                      f"{names}; found {value!r}.{fix}")


def _read_user_file(p: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: challenge file not found.") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, not a challenge file.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file (TOML must be UTF-8).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
