"""Image intake: a tarball (``.tar``, ``.tar.gz``) or an existing reference -> a pinned image.

Never pulls. A tarball is loaded with the engine's ``load`` (gzip is handled by
the engine) and must hold exactly one image; the image is then addressed by its
ID (config digest), so a tag embedded in the tarball that differs from its file
name cannot send anyone to a registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from evalkit.errors import EvalkitError


class IntakeError(EvalkitError, RuntimeError):
    """The submission cannot be taken in; the message names it and says why."""


@dataclass(frozen=True)
class ImageRecord:
    """A pinned submission image (``image.json`` in the submission folder).

    ``image_id`` is ``sha256:<config digest>``; ``tarball``/``tarball_sha256`` are
    ``None`` for a reference; ``size_bytes`` the engine's image size; ``user`` the
    image's configured user (``""`` = root); ``created`` the image's creation time.
    """

    name: str
    reference: str
    image_id: str
    tarball: str | None
    tarball_sha256: str | None
    size_bytes: int
    user: str
    architecture: str
    created: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_name(submission: str) -> str:
    """A folder-safe submission name: tarball stem or reference without the registry/tag noise."""
    base = os.path.basename(submission.rstrip("/"))
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    base = base.replace(":", "-").replace("@", "-")
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")
    return base or "submission"


def is_tarball(submission: str) -> bool:
    return submission.endswith((".tar", ".tar.gz", ".tgz")) and Path(submission).is_file()


def intake(submission: str | Path, client: docker.DockerClient, name: str | None = None
           ) -> ImageRecord:
    """Load or look up ``submission`` and return its pinned :class:`ImageRecord`.

    ``submission``: path to a ``.tar``/``.tar.gz`` from ``docker save``, or an image
    reference / ID already present in the engine. Raises :class:`IntakeError` when
    the file is unreadable, holds zero or several images, or the reference is not
    present locally (no pull is attempted).
    """
    sub = str(submission)
    name = name or default_name(sub)
    tarball: str | None = None
    digest: str | None = None
    if is_tarball(sub):
        path = Path(sub).resolve()
        tarball = str(path)
        digest = sha256_file(path)
        try:
            with open(path, "rb") as f:
                images = client.images.load(f)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise IntakeError(f"{path}: the engine could not load this tarball: {exc}") from None
        ids = sorted({im.id for im in images})
        if len(ids) != 1:
            raise IntakeError(f"{path}: expected exactly one image in the tarball, found {len(ids)}"
                              f" ({', '.join(ids) or 'none'})")
        image = client.images.get(ids[0])
    else:
        if sub.endswith((".tar", ".tar.gz", ".tgz")):
            raise IntakeError(f"{sub}: no such tarball")
        try:
            image = client.images.get(sub)
        except docker.errors.ImageNotFound:
            raise IntakeError(f"{sub}: no such image in the local engine (evalkit never pulls; "
                              "load it with 'docker load' or pass the tarball)") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise IntakeError(f"{sub}: cannot inspect the image: {exc}") from None
    image.reload()
    attrs = image.attrs
    config = attrs.get("Config") or {}
    return ImageRecord(
        name=name,
        reference=sub,
        image_id=image.id,
        tarball=tarball,
        tarball_sha256=digest,
        size_bytes=int(attrs.get("Size") or 0),
        user=str(config.get("User") or ""),
        architecture=str(attrs.get("Architecture") or ""),
        created=str(attrs.get("Created") or ""),
    )
