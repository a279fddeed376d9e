"""Fixtures of the reference-provider tests.

They run on a control plane of their own, not the session's: other tests generate
providers from the same schemas with other settings (the runtime tests' random provider,
the generator tests' linode CRDs) and install CRDs of the same names, and one CRD name
cannot serve two shapes at once. A second control plane costs about 5 s.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.providers import imagebuild, reference
from tests.testbed import controlplane
from tests.testbed.kube import ApiServer


@pytest.fixture(scope="package")
def reference_apiserver(testbed, tmp_path_factory) -> Iterator[ApiServer]:
    with controlplane.running(testbed, tmp_path_factory.mktemp("reference-controlplane")) as plane:
        yield plane.api


@pytest.fixture(scope="package")
def linode_schema(testbed, tmp_path_factory) -> Path:
    """`tofu providers schema -json` of linode/linode 3.13.0 from the test bed's mirror."""
    folder = tmp_path_factory.mktemp("linode-schema")
    label = testbed.providers["linode"]
    config = {"terraform": {"required_providers": {"linode": {"source": "linode/linode",
                                                              "version": label}}}}  # fmt: skip
    (folder / "main.tf.json").write_text(json.dumps(config))
    env = testbed.tf_env()
    for args in (["init", "-input=false", "-no-color"], ["providers", "schema", "-json"]):
        done = subprocess.run(
            [str(testbed.tofu), *args], cwd=folder, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    path = folder / "schema.json"
    path.write_text(done.stdout)
    return path


@pytest.fixture(scope="package")
def random_image(testbed, tmp_path_factory) -> imagebuild.Build:
    """provider-random's image, built once for the image and the node tests by its own
    `make image image-tar` (the tarball stays; the private buildah store goes)."""
    return build_image(reference.RANDOM, testbed, tmp_path_factory)


@pytest.fixture(scope="package")
def linode_image(testbed, tmp_path_factory) -> imagebuild.Build:
    """provider-linode's image (linode/linode 3.13.0 in its mirror), built the same way."""
    return build_image(reference.LINODE, testbed, tmp_path_factory)


def build_image(provider: Path, testbed, tmp_path_factory) -> imagebuild.Build:
    missing = imagebuild.missing_tools()
    assert not missing, f"install {' '.join(missing)} (scripts/testbed install does)"
    work = tmp_path_factory.mktemp("image")
    repo = reference.copy_tracked(provider, work / provider.name)
    storage = work / "storage"
    try:
        return imagebuild.make_image(repo, testbed, storage)
    finally:
        imagebuild.remove_storage(storage)
