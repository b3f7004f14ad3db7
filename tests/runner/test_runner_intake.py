"""Intake through the real engine: tarballs (.tar, .tar.gz) and references, pinned by ID."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from evalkit.runner import IntakeError, intake

pytestmark = pytest.mark.docker
TINY = "evalkit-test/tiny-intake"


@pytest.fixture(scope="module")
def tiny_image(docker_client):
    """A two-file image made with ``docker import`` (nothing to run; intake only)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    docker_client.api.import_image_from_data(buf.getvalue(), repository=TINY, tag="embedded",
                                             changes=["USER 1234:1234", 'CMD ["/x"]'])
    image = docker_client.images.get(f"{TINY}:embedded")
    yield image
    docker_client.images.remove(image.id, force=True)


def test_tarball_and_gzip_are_pinned_by_id(docker_client, tiny_image, tmp_path):
    raw = b"".join(tiny_image.save(named=True))
    tar_path = tmp_path / "team-a.tar"
    tar_path.write_bytes(raw)
    gz_path = tmp_path / "some-other-name.tar.gz"  # embedded tag differs from the file name
    gz_path.write_bytes(gzip.compress(raw, compresslevel=1))
    docker_client.images.remove(tiny_image.id, force=True)  # intake must really load it

    rec = intake(str(tar_path), docker_client)
    assert rec.image_id == tiny_image.id and rec.name == "team-a"
    assert rec.tarball == str(tar_path) and rec.tarball_sha256 == hashlib.sha256(raw).hexdigest()
    assert rec.user == "1234:1234" and rec.architecture and rec.size_bytes > 0 and rec.created
    rec_gz = intake(gz_path, docker_client, name="teamB")
    assert rec_gz.image_id == tiny_image.id and rec_gz.name == "teamB"
    assert rec_gz.tarball_sha256 == hashlib.sha256(gz_path.read_bytes()).hexdigest()
    assert json.loads(rec_gz.to_json())["image_id"] == tiny_image.id


def test_reference_and_missing_reference(docker_client, tiny_image, tmp_path):
    rec = intake(tiny_image.id, docker_client)
    assert rec.image_id == tiny_image.id and rec.tarball is None and rec.tarball_sha256 is None
    with pytest.raises(IntakeError, match="never pulls"):
        intake("evalkit-test/no-such-image:never", docker_client)
    with pytest.raises(IntakeError, match="no such tarball"):
        intake(str(tmp_path / "absent.tar.gz"), docker_client)
    bad = tmp_path / "broken.tar"
    bad.write_bytes(b"not a tarball at all")
    with pytest.raises(IntakeError, match="broken.tar"):
        intake(str(bad), docker_client)
