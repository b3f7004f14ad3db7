"""Build the tiny test submission images (python3 stdlib or sh only) from the local base.

Each folder here is one image: its files plus ``common/*.py`` go to ``/app``,
``predict.sh`` is the entry (``sh predict.sh`` from ``/app``), and an optional
``Dockerfile.extra`` is appended to the Dockerfile. Images are tagged
``evalkit-test/<folder>:<content hash>`` (hash of the files and the base image
ID), so a session rebuilds only what changed.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import docker

HERE = Path(__file__).resolve().parent
NAMES = ("ok", "sleeper", "memhog", "nonzero", "nothing", "wrongshape", "symlink", "network",
         "forkbomb", "bigoutput", "noisy", "hugeheader", "writer", "volume", "volumefull",
         "homefiles", "flaky-runs", "skipiter")
DOCKERFILE = """ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
WORKDIR /app
COPY app/ /app/
"""


def _files(name: str) -> dict[str, bytes]:
    files = {}
    for p in sorted((HERE / "common").glob("*.py")):
        files[f"app/{p.name}"] = p.read_bytes()
    for p in sorted((HERE / name).iterdir()):
        if p.is_file() and p.name != "Dockerfile.extra":
            files[f"app/{p.name}"] = p.read_bytes()
    extra = HERE / name / "Dockerfile.extra"
    files["Dockerfile"] = (DOCKERFILE + (extra.read_text() if extra.exists() else "")).encode()
    return files


def _context(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("app")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def build_image(client: docker.DockerClient, name: str, base: str) -> str:
    """Build (or reuse) test image ``name`` on ``base``; returns its image ID."""
    files = _files(name)
    base_id = client.images.get(base).id
    h = hashlib.sha256(base_id.encode())
    for path, data in sorted(files.items()):
        h.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    tag = f"evalkit-test/{name}:{h.hexdigest()[:12]}"
    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        pass
    image, _ = client.images.build(fileobj=_context(files), custom_context=True, tag=tag,
                                   buildargs={"BASE_IMAGE": base}, rm=True, forcerm=True,
                                   pull=False, network_mode="none")
    # drop this test image's stale content-hash tags (only ours, never anything else)
    for old in client.images.list(name=f"evalkit-test/{name}"):
        if old.id != image.id and all(t.startswith(f"evalkit-test/{name}:") for t in old.tags):
            try:
                client.images.remove(old.id, noprune=False)
            except docker.errors.APIError:
                pass
    return image.id


def build_all(client: docker.DockerClient, base: str, names=NAMES) -> dict[str, str]:
    """{name: image ID} for every test image."""
    return {n: build_image(client, n, base) for n in names}
