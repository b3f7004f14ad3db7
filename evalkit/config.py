"""The challenge file: a TOML document that describes one challenge's evaluation.

The bundled ``cvpr24`` file (``evalkit/configs/cvpr24.toml``) reproduces the CVPR 2024
evaluation. A user file only needs the keys it changes: it is merged over the
bundled defaults, table by table, and unknown keys are an error (a typo must not
silently fall back to a default). Every value is then checked once, here, against
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

from evalkit.config_schema import FREE_TABLES, ConfigError, check, parse_size, with_defaults

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
    changes over cvpr24) or a TOML file path.
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
    seen: set[str] = set()
    merged = _merge(base, override, "", source, seen)
    check(merged, source, frozenset(seen))
    return Challenge(merged, source)


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
