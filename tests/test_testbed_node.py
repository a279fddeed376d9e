"""The test bed's node: image tarballs, pins, and (marker e2e) a real kubelet node."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from tests.testbed import install, ociimage


def _read_tar(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_image_tarball_is_an_oci_layout_naming_the_image(tmp_path):
    out = tmp_path / "probe.tar"
    files = [ociimage.File("/bin/probe", b"\x7fELF program", 0o755)]
    digest = ociimage.write(out, "jetgen.test/probe:1", files, ["/bin/probe"])

    entries = _read_tar(out)
    # every blob is stored under its own digest
    for name, data in entries.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    (manifest_ref,) = json.loads(entries["index.json"])["manifests"]
    assert manifest_ref["digest"] == digest
    assert manifest_ref["annotations"]["io.containerd.image.name"] == "jetgen.test/probe:1"
    manifest = json.loads(entries[f"blobs/sha256/{digest.split(':')[1]}"])
    config = json.loads(entries[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Entrypoint"] == ["/bin/probe"]
    assert config["config"]["User"] == "65532:65532"  # not root
    layer = entries[f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        member = tar.getmember("bin/probe")
        assert (member.mode, tar.extractfile(member).read()) == (0o755, b"\x7fELF program")
        assert tar.getmember("bin").isdir()


def test_image_digest_depends_only_on_the_inputs(tmp_path):
    files = [ociimage.File("/pause", b"x")]
    first = ociimage.write(tmp_path / "a.tar", "r/p:1", files, ["/pause"])
    assert ociimage.write(tmp_path / "b.tar", "r/p:1", files, ["/pause"]) == first
    assert ociimage.digest("r/p:1", files, ["/pause"]) == first
    assert ociimage.digest("r/p:1", [ociimage.File("/pause", b"y")], ["/pause"]) != first


def test_debian_version_matches_its_upstream_pin_only():
    assert install._same_upstream("1.6.20~ds1-1+deb12u3", "1.6.20")
    assert install._same_upstream("1.8.9-2", "1.8.9")
    assert not install._same_upstream("1.6.201-1", "1.6.20")
    assert not install._same_upstream("1.7.0-1", "1.6.20")
