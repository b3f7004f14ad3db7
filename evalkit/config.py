"""The challenge file: a TOML document that describes one challenge's evaluation.

The bundled ``cvpr24`` file (``evalkit/configs/cvpr24.toml``) reproduces the CVPR 2024
evaluation. A user file only needs the keys it changes: it is merged over the
bundled defaults, table by table, and unknown keys are an error (a typo must not
silently fall back to a default).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from evalkit.errors import EvalkitError

BUNDLED = {"cvpr24": "cvpr24.toml"}


class ConfigError(EvalkitError, ValueError):
    """A challenge file that cannot be used; the message names the file and key."""


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
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: dict[str, Any], where: str, source: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            raise ConfigError(
                f"{source}: unknown key '{path}'. Known keys here: {sorted(base)}. "
                "Fix the spelling or remove the key."
            )
        # Free-form tables (maps whose keys are data, not settings) are replaced whole.
        if isinstance(base[key], dict) and isinstance(value, dict) and path not in _FREE_TABLES:
            out[key] = _merge(base[key], value, path, source)
        else:
            out[key] = value
    return out


_FREE_TABLES = {
    "ranking.metrics",
    "ranking.task_weights",
    "challenge.modality_aliases",
    "reproducibility.tolerances",
}


def load_challenge(path: str | Path | None = None) -> Challenge:
    """Load a challenge file merged over the bundled CVPR24 defaults.

    ``path`` may be ``None`` or ``"cvpr24"`` (the bundled file) or a TOML file path.
    Raises :class:`ConfigError` naming the file and key for unreadable files and
    unknown keys.
    """
    base = _read_bundled("cvpr24")
    if path is None or str(path) in BUNDLED:
        return Challenge(base, f"bundled:{path or 'cvpr24'}")
    p = Path(path)
    try:
        override = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: challenge file not found.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    merged = _merge(base, override, "", str(p))
    _check(merged, str(p))
    return Challenge(merged, str(p))


def _check(data: dict[str, Any], source: str) -> None:
    for section, known in (("executor", ("docker",)), ("protocol", ("single",))):
        kind = data.get(section, {}).get("kind")
        if kind not in known:
            raise ConfigError(f"{source}: {section}.kind must be one of {list(known)}, found {kind!r}.")
    mode = data["metrics"]["mode"]
    if mode not in ("official", "strict"):
        raise ConfigError(f"{source}: metrics.mode must be 'official' or 'strict', found {mode!r}.")
    for metric, direction in data["ranking"]["metrics"].items():
        if direction not in ("larger", "smaller"):
            raise ConfigError(
                f"{source}: ranking.metrics.{metric} must be 'larger' or 'smaller', found {direction!r}."
            )
