"""A submission tarball cannot move a tag (hardening issue, item 2), through the real engine."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile

import pytest

from evalkit.runner import IntakeError, intake

pytestmark = pytest.mark.docker
VICTIM = "evalkit-test/victim:protected"


def _tags(client) -> dict[str, str]:
    return {t: im.id for im in client.images.list(all=True) for t in im.tags}


def _save(client, image_id: str, tag: str) -> bytes:
    """``docker save`` of ``image_id`` carrying ``tag`` (the tag is applied, saved, removed)."""
    client.images.get(image_id).tag(tag)
    try:
        return b"".join(client.api.get_image(tag))
    finally:
        client.images.remove(tag)


def test_tarball_tags_never_move_an_existing_tag(docker_client, test_images, tmp_path):
    good, hostile = test_images["ok"], test_images["nonzero"]
    docker_client.images.get(good).tag(VICTIM)
    try:
        raw = _save(docker_client, hostile, VICTIM)  # the hostile image claims the victim's tag
        assert read_manifest_bytes(raw, tmp_path) == (hostile, VICTIM)
        docker_client.images.get(good).tag(VICTIM)
        before = _tags(docker_client)
        for path in (tmp_path / "team.tar", tmp_path / "team.tar.gz"):
            path.write_bytes(raw if path.suffix == ".tar" else gzip.compress(raw, 1))
            rec = intake(str(path), docker_client, name="team")
            assert rec.image_id == hostile
            assert docker_client.images.get(VICTIM).id == good, "the tarball moved a tag"
        after = _tags(docker_client)
        changed = {t for t in set(before) | set(after) if before.get(t) != after.get(t)}
        assert changed <= {f"evalkit-submission/team:{hostile.split(':')[1][:12]}"}, changed
    finally:
        docker_client.images.remove(VICTIM)


def read_manifest_bytes(raw: bytes, tmp_path):
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
    return ("sha256:" + entry["Config"].split("/")[-1].removesuffix(".json"), entry["RepoTags"][0])


def test_two_image_tarball_is_refused_and_nothing_changes(docker_client, test_images, tmp_path):
    a, b = test_images["ok"], test_images["nonzero"]
    docker_client.images.get(a).tag("evalkit-test/two:a")
    docker_client.images.get(b).tag("evalkit-test/two:b")
    path = tmp_path / "two.tar"
    try:  # the SDK saves one name per call; the CLI saves several into one tarball
        subprocess.run(["docker", "save", "-o", str(path), "evalkit-test/two:a", "evalkit-test/two:b"],
                       check=True, capture_output=True)
    finally:
        docker_client.images.remove("evalkit-test/two:a")
        docker_client.images.remove("evalkit-test/two:b")
    before = _tags(docker_client)
    with pytest.raises(IntakeError, match="found 2"):
        intake(str(path), docker_client)
    assert _tags(docker_client) == before


def test_tarball_without_manifest_is_refused(docker_client, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("layer.tar")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    path = tmp_path / "nomanifest.tar"
    path.write_bytes(buf.getvalue())
    with pytest.raises(IntakeError, match="no manifest.json"):
        intake(str(path), docker_client)


def test_manifest_with_bad_config_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = json.dumps([{"Config": "../../etc/passwd", "RepoTags": ["x:y"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "bad.tar"
    path.write_bytes(buf.getvalue())
    from evalkit.runner.tarball import TarballError, read_manifest

    with pytest.raises(TarballError, match="not a digest"):
        read_manifest(path)
