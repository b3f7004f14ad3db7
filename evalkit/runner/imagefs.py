"""What an image's filesystem holds where the runner mounts a tmpfs, found without running it.

Under a read-only root filesystem the runner gives the image a size-capped tmpfs
at its user's HOME and at each ``VOLUME`` path (:mod:`evalkit.runner.limits`).
:func:`inspect_image_fs` finds those paths once, at intake, from the image's
config and from files read out of a created, never started, container
(``get_archive``): ``/etc/passwd`` for HOME, and the first entries of HOME and
of each volume (a tmpfs would hide what the image ships there).

HOME follows the engine's own rule: ``HOME`` in the image's ``Config.Env`` if set;
else the home field of the ``/etc/passwd`` line of ``Config.User`` (a name or a
uid, before any ``:group``; empty = root); else ``/root`` for root and ``/`` for a
user the image does not list (the engine then sets ``HOME=/``, and ``/`` is never
a mount point).
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass

import docker
import docker.errors
import requests

_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
PASSWD_MAX_BYTES = 1 << 20
#: Files a tmpfs may hide at HOME (a new user's skeleton; a batch ``sh`` reads none).
SKELETON = frozenset({".bashrc", ".profile", ".bash_logout", ".cshrc", ".zshrc"})


@dataclass(frozen=True)
class ImageFs:
    """``home``: the image user's HOME (``/`` when the image does not list the user).
    ``home_files``: up to a few entries the image ships in HOME beyond the skeleton
    (empty: a tmpfs may go there). ``volumes``: the image's ``VOLUME`` paths, sorted.
    ``volume_files``: volume path -> up to a few entries the image ships there."""

    home: str
    home_files: tuple[str, ...]
    volumes: tuple[str, ...]
    volume_files: dict[str, tuple[str, ...]]


def env_home(env: list[str] | None) -> str | None:
    """``HOME`` from a ``Config.Env`` list (``["K=V", ...]``); ``None`` when unset or empty."""
    for item in env or []:
        key, _, value = item.partition("=")
        if key == "HOME" and value:
            return value
    return None


def passwd_home(passwd: str, user: str) -> str | None:
    """The home field of ``user``'s line in ``passwd`` text; ``user`` is a name or a
    numeric uid, optionally ``:group`` (ignored); ``""`` means root. ``None`` when no
    line matches (a name is matched before a uid, as the engine does)."""
    who = user.partition(":")[0] or "root"
    rows = [line.split(":") for line in passwd.splitlines() if line and not line.startswith("#")]
    rows = [r for r in rows if len(r) >= 7]
    for field in (0, 2):
        for row in rows:
            if row[field] == who:
                return row[5] or "/"
    if who in ("root", "0"):
        return "/root"
    return None


def resolve_home(env: list[str] | None, user: str, passwd: str | None) -> str:
    """The HOME the engine gives the image's process (see the module docstring)."""
    home = env_home(env)
    if home is not None:
        return home
    found = passwd_home(passwd or "", user)
    if found is not None:
        return found
    return "/root" if user.partition(":")[0] in ("", "root", "0") else "/"


def _archive(client: docker.DockerClient, container_id: str, path: str):
    """The engine's tar stream of ``path`` in the container (a ``requests`` response)."""
    api = client.api
    res = api._get(api._url("/containers/{0}/archive", container_id), params={"path": path},
                   stream=True)
    if res.status_code == 404:
        res.close()
        return None
    api._raise_for_status(res)
    res.raw.decode_content = True  # the engine may gzip the tar (Content-Encoding)
    return res


def read_file(client: docker.DockerClient, container_id: str, path: str,
              max_bytes: int = PASSWD_MAX_BYTES, hops: int = 4) -> str | None:
    """Text of the regular file at ``path`` (following up to ``hops`` symlinks);
    ``None`` when absent, not a regular file, or larger than ``max_bytes``."""
    for _ in range(hops):
        res = _archive(client, container_id, path)
        if res is None:
            return None
        try:
            with tarfile.open(fileobj=res.raw, mode="r|") as tar:
                member = next(iter(tar), None)
                if member is None:
                    return None
                if member.issym():
                    path = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
                    continue
                if not member.isfile() or member.size > max_bytes:
                    return None
                f = tar.extractfile(member)
                return f.read().decode("utf-8", "replace") if f is not None else None
        finally:
            res.close()
    return None


def first_entries(client: docker.DockerClient, container_id: str, path: str, n: int = 3,
                  ignore: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Up to ``n`` entries (paths relative to ``path``) the image holds in folder ``path``,
    skipping top-level names in ``ignore``; reads only the start of the engine's archive.
    Empty when ``path`` is absent, empty, or not a folder."""
    res = _archive(client, container_id, path)
    if res is None:
        return ()
    found: list[str] = []
    try:
        with tarfile.open(fileobj=res.raw, mode="r|") as tar:
            for i, member in enumerate(tar):
                if i == 0:
                    if not member.isdir():
                        return ()
                    continue
                rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
                if rel.split("/")[0] in ignore:
                    continue
                found.append(rel)
                if len(found) >= n:
                    break
    except tarfile.TarError:
        pass
    finally:
        res.close()
    return tuple(found)


def inspect_image_fs(client: docker.DockerClient, image_id: str, config: dict) -> ImageFs:
    """HOME and the volumes of image ``image_id`` (its inspect ``Config``), with what it
    ships there; one created-not-started container, removed with its volumes."""
    user = str(config.get("User") or "")
    volumes = tuple(sorted(posixpath.normpath(v) for v in (config.get("Volumes") or {})))
    container = client.containers.create(image_id, command=["true"], network_mode="none", labels={"evalkit.probe": "image-fs"})
    try:
        home = env_home(config.get("Env"))
        if home is None:
            home = resolve_home(None, user, read_file(client, container.id, "/etc/passwd"))
        home = posixpath.normpath(home) if home.startswith("/") else "/"
        home_files = first_entries(client, container.id, home, ignore=SKELETON) if home != "/" else ()
        volume_files = {v: first_entries(client, container.id, v) for v in volumes}
    finally:
        try:
            container.remove(v=True, force=True)
        except _DOCKER_ERRORS:
            pass
    return ImageFs(home, home_files, volumes, {v: f for v, f in volume_files.items() if f})
