"""Image intake: a tarball (``.tar``, ``.tar.gz``) or an existing reference -> a pinned image.

Never pulls. A tarball's ``manifest.json`` is read first and it must hold exactly
one image; it is then loaded *without its tags* (:mod:`evalkit.runner.tarball`), so
a tarball can add an image to the engine but never move a tag (the base image, a
reference image, another team's image). The loaded image is tagged only in
evalkit's own namespace, ``evalkit-submission/<name>:<id12>``, and addressed by
its ID (config digest) from then on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from evalkit.errors import EvalkitError
from evalkit.runner.imagefs import inspect_image_fs
from evalkit.runner.tarball import TarballError, read_manifest, untagged_stream


class IntakeError(EvalkitError, RuntimeError):
    """The submission cannot be taken in; the message names it and says why."""


@dataclass(frozen=True)
class ImageRecord:
    """A pinned submission image (``image.json`` in the submission folder).

    ``image_id`` is ``sha256:<config digest>``; ``tarball``/``tarball_sha256`` are
    ``None`` for a reference; ``size_bytes`` the engine's image size; ``user`` the
    image's configured user (``""`` = root); ``created`` the image's creation time.

    Found at intake for the read-only root filesystem (:mod:`evalkit.runner.imagefs`):
    ``home``, the HOME of the image's user (``None``: not looked up, a record from
    before; the executor then looks it up itself); ``home_files``, a few entries the
    image ships in HOME beyond a shell skeleton (then no tmpfs hides them and HOME
    stays read-only); ``volumes``, the image's ``VOLUME`` paths (each gets a tmpfs).
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
    home: str | None = None
    home_files: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        """A record from ``image.json``'s object; fields a record from before lacks get
        their defaults, fields it does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("home_files", "volumes"):
            if key in values:
                values[key] = tuple(values[key] or ())
        return cls(**values)

    def tmpfs_paths(self) -> tuple[str, ...]:
        """The image's own paths that get a writable tmpfs: HOME (unless it is ``/``,
        unknown, or holds files a tmpfs would hide), then each ``VOLUME`` path."""
        home = (self.home,) if self.home and self.home != "/" and not self.home_files else ()
        return home + tuple(self.volumes)


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


#: Where intake tags loaded submissions (nothing else of the engine is ever tagged by it).
SUBMISSION_NAMESPACE = "evalkit-submission"


def _load_untagged(client: docker.DockerClient, path: Path, name: str):
    """Load the one image of tarball ``path`` without its tags; returns the engine's image and
    whether it was in the engine before."""
    try:
        manifest = read_manifest(path)
    except TarballError as exc:
        raise IntakeError(f"{path}: {exc}") from None
    if len(manifest.image_ids) != 1:
        raise IntakeError(
            f"{path}: expected exactly one image in the tarball, found {len(manifest.image_ids)} "
            f"({', '.join(i[:19] for i in manifest.image_ids) or 'none'}); save one image: "
            "docker save IMAGE | gzip > team.tar.gz")
    want = manifest.image_ids[0]
    existed = image_exists(client, want)
    try:
        loaded = client.api.load_image(untagged_stream(path))
        messages = [chunk for chunk in loaded]
    except (docker.errors.DockerException, requests.exceptions.RequestException, TarballError) as exc:
        raise IntakeError(f"{path}: the engine could not load this tarball: {exc}") from None
    errors = [c["errorDetail"].get("message", "") for c in messages
              if isinstance(c, dict) and isinstance(c.get("errorDetail"), dict)]
    if errors or not image_exists(client, want):
        if not existed and image_exists(client, want):
            client.images.remove(want, force=True)
        raise IntakeError(f"{path}: the engine did not load image {want[:19]} that manifest.json "
                          f"names{': ' + errors[0] if errors else ''}")
    image = client.images.get(want)
    try:  # a readable name in `docker images`; the image is addressed by ID regardless
        image.tag(f"{SUBMISSION_NAMESPACE}/{name.lower().strip('._-') or 'submission'}",
                  tag=want.split(":")[1][:12])
    except docker.errors.APIError:
        pass
    return image, existed


def image_exists(client: docker.DockerClient, image_id: str) -> bool:
    """Whether the engine holds the image ``image_id`` (an ID or reference)."""
    try:
        client.images.get(image_id)
        return True
    except docker.errors.ImageNotFound:
        return False


def intake(submission: str | Path, client: docker.DockerClient, name: str | None = None
           ) -> ImageRecord:
    """Load or look up ``submission`` and return its pinned :class:`ImageRecord`.

    ``submission``: path to a ``.tar``/``.tar.gz`` from ``docker save``, or an image
    reference / ID already present in the engine. Raises :class:`IntakeError` when
    the file is unreadable, holds zero or several images, or the reference is not
    present locally (no pull is attempted), or when it declares a ``VOLUME`` it ships
    files in (the runner's tmpfs there would hide them).
    """
    sub = str(submission)
    name = name or default_name(sub)
    tarball: str | None = None
    digest: str | None = None
    existed = True
    if is_tarball(sub):
        path = Path(sub).resolve()
        tarball = str(path)
        digest = sha256_file(path)
        image, existed = _load_untagged(client, path, name)
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
    try:
        fs = inspect_image_fs(client, image.id, config)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise IntakeError(f"{sub}: cannot read the image's HOME and volumes: {exc}") from None
    if fs.volume_files:
        path, files = next(iter(fs.volume_files.items()))
        if not existed:  # a refused tarball leaves nothing loaded
            try:
                client.images.remove(image.id, force=True)
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                pass
        raise IntakeError(
            f"{sub}: the image declares VOLUME {path} and ships files there ({', '.join(files)}); "
            "the evaluation mounts an empty size-capped tmpfs over every VOLUME, which would hide "
            "them. Remove the VOLUME instruction from the Dockerfile (the files stay readable) or "
            "leave the folder empty in the image")
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
        home=fs.home,
        home_files=fs.home_files,
        volumes=fs.volumes,
    )
