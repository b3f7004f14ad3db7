"""A submission tarball read before the engine sees it, and loaded without its tags.

``docker load`` applies the tags a tarball carries (``manifest.json`` ``RepoTags``,
the legacy ``repositories`` file, OCI ``index.json`` name annotations), so a
participant's tarball could retag the base image, a reference image or another
team's image and change what later runs execute. Intake therefore:

1. reads ``manifest.json`` from the tarball (bounded, no extraction) and refuses
   any tarball that does not hold exactly one image, naming what it found;
2. streams a copy of the tarball to the engine with every tag removed (``RepoTags``
   null, ``repositories`` left out, name annotations dropped), so loading can add
   an image but never move a tag;
3. checks that what the engine loaded is the image the manifest named (else the
   loaded image is removed again).

Plain ``.tar`` and gzip-compressed ``.tar.gz`` are read alike.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Largest manifest.json / index.json / repositories member read (bytes).
MAX_METADATA_BYTES = 4 << 20
_NAME_ANNOTATIONS = ("org.opencontainers.image.ref.name", "io.containerd.image.name")
_DIGEST = re.compile(r"(?:^|/)(?:sha256[:/])?([0-9a-f]{64})(?:\.json)?$")


class TarballError(ValueError):
    """The tarball is not one loadable image; the message says what was found."""


@dataclass(frozen=True)
class TarballManifest:
    """What ``manifest.json`` declares: the image IDs (``sha256:<config digest>``) and
    every tag the tarball would apply."""

    image_ids: tuple[str, ...]
    repo_tags: tuple[str, ...]


def _member_name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name


def read_manifest(path: str | Path) -> TarballManifest:
    """Parse ``manifest.json`` of the tarball at ``path`` without extracting anything.

    Raises :class:`TarballError` when it is not a tar archive, has no (or an oversized,
    or an unparseable) ``manifest.json``, or an entry's ``Config`` is not a digest.
    """
    data = None
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if _member_name(member) == "manifest.json":
                    if not member.isfile() or member.size > MAX_METADATA_BYTES:
                        raise TarballError(f"manifest.json is not a regular file of at most "
                                           f"{MAX_METADATA_BYTES} bytes")
                    data = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise TarballError(f"not a readable tar archive ({exc})") from None
    if data is None:
        raise TarballError("no manifest.json: not an image tarball from 'docker save'")
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TarballError(f"manifest.json is not JSON ({exc})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise TarballError("manifest.json is not a list of image entries")
    ids, tags = [], []
    for e in entries:
        m = _DIGEST.search(str(e.get("Config", "")))
        if m is None:
            raise TarballError(f"manifest.json entry with Config {str(e.get('Config'))[:80]!r}: not a digest")
        ids.append(f"sha256:{m.group(1)}")
        tags += [str(t) for t in (e.get("RepoTags") or [])]
    return TarballManifest(tuple(dict.fromkeys(ids)), tuple(tags))


def _untag_manifest(data: bytes) -> bytes:
    entries = json.loads(data)
    for e in entries:
        e["RepoTags"] = None
    return json.dumps(entries).encode()


def _untag_index(data: bytes) -> bytes:
    try:
        index = json.loads(data)
    except ValueError:
        return data
    for m in index.get("manifests") or []:
        ann = m.get("annotations")
        if isinstance(ann, dict):
            for key in _NAME_ANNOTATIONS:
                ann.pop(key, None)
    return json.dumps(index).encode()


def _write_untagged(src_path: Path, out) -> None:
    with tarfile.open(src_path, "r|*") as src, tarfile.open(fileobj=out, mode="w|") as dst:
        for member in src:
            name = _member_name(member)
            if name == "repositories":
                continue
            if member.isfile() and name in ("manifest.json", "index.json"):
                data = src.extractfile(member).read(MAX_METADATA_BYTES + 1)
                data = _untag_manifest(data) if name == "manifest.json" else _untag_index(data)
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            elif member.isfile():
                dst.addfile(member, src.extractfile(member))
            else:
                dst.addfile(member)


def untagged_stream(path: str | Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The tarball at ``path`` as an uncompressed tar stream with every tag removed.

    Written by a thread into a pipe and read here in ``chunk``-byte pieces, so no copy
    is made on disk; an error while rewriting is raised at the end of the stream.
    """
    r, w = os.pipe()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(w, "wb") as out:
                _write_untagged(Path(path), out)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            failure.append(exc)

    thread = threading.Thread(target=writer, name="evalkit-untag", daemon=True)
    thread.start()
    with os.fdopen(r, "rb") as src:
        while block := src.read(chunk):
            yield block
    thread.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise TarballError(f"rewriting the tarball failed: {failure[0]}")
