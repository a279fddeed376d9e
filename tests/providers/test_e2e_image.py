"""provider-random's image, built for real by its own `make image image-tar` without a
daemon (buildah; a Python base made from Debian packages; tofu and the provider from the
test bed instead of downloads), then opened: its config, and programs run from the
tarball with runc as UID 65532 on a read-only root with only /tmp writable, no network.
"""

from __future__ import annotations

import json

import pytest

from tests.providers import imagebuild

# In the node's xdist group: test_e2e_node_provider.py needs the same image, and the package
# fixture random_image is built once only where both run in one worker.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("node")]

PACKAGE = "random_provider"
INIT = json.dumps({"terraform": {"required_providers": {"random": {"source": "hashicorp/random"}}}})


@pytest.fixture(scope="module")
def built(random_image, tmp_path_factory):
    work = tmp_path_factory.mktemp("image")
    return random_image, imagebuild.unpack(random_image.tarball, work / "unpacked")


def test_the_tarball_names_the_image_and_says_how_it_runs(built):
    build, _ = built
    entry, image = imagebuild.archive_manifest(build.tarball)
    # The name the Deployment's `provider-random:latest` resolves to on a node.
    assert "docker.io/library/provider-random:latest" in entry["RepoTags"]
    config = image["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/opt/venv/bin/python", "-m", PACKAGE]
    assert set(config["ExposedPorts"]) == {"8080/tcp", "8081/tcp"}
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["TF_CLI_CONFIG_FILE"] == "/opt/jetgen/tofurc"
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    # Built from the Debian-made base, not a registry image, and from the test bed's tofu.
    assert "--build-arg PYTHON_IMAGE=localhost/jetgen-python:bookworm-" in build.output
    assert "--build-arg TOFU_FROM=local" in build.output


def test_runs_as_65532_on_a_read_only_root(built):
    _, bundle = built
    script = (
        "import os, sys; print(os.getuid(), os.getgid());"
        "open('/tmp/ok', 'w').write('x');"
        "open('/opt/venv/x', 'w')"
    )
    done = imagebuild.run(bundle, ["/opt/venv/bin/python", "-c", script])
    assert done.stdout.splitlines()[0] == "65532 65532", done
    assert done.returncode == 1 and "Read-only file system: '/opt/venv/x'" in done.stderr


def test_the_entrypoint_imports_the_provider_and_the_runtime(built):
    _, bundle = built
    helped = imagebuild.run(bundle, [*imagebuild.entrypoint(bundle), "--help"])
    assert helped.returncode == 0, helped.stderr
    assert "--max-runs" in helped.stdout
    kinds = imagebuild.run(
        bundle,
        [
            "/opt/venv/bin/python",
            "-c",
            f"from jetgen.runtime.cli import load; import {PACKAGE} as p;"
            "print(len(load(p.KINDS_FILE).kinds))",
        ],
    )
    assert kinds.returncode == 0 and kinds.stdout.strip() == "10", kinds


def test_tofu_runs_and_installs_the_provider_from_the_mirror_only(built):
    _, bundle = built
    script = (
        "set -e; tofu version; mkdir /tmp/w; cd /tmp/w;"
        f"printf '%s' '{INIT}' > main.tf.json;"
        "tofu init -input=false -no-color;"
        "tofu providers schema -json > schema.json;"
        "grep -o '\"random_password\"' schema.json | head -1"
    )
    done = imagebuild.run(bundle, ["/bin/sh", "-c", script], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OpenTofu v1.10.10\n"), done.stdout
    assert "Installed hashicorp/random v3.9.0" in done.stdout  # no network: the mirror
    assert done.stdout.rstrip().endswith('"random_password"')


def test_no_build_tools_or_package_caches_in_the_image(built):
    _, bundle = built
    rootfs = bundle / "rootfs"
    venv_bin = {p.name for p in (rootfs / "opt/venv/bin").iterdir()}
    assert not {"pip", "pip3"} & venv_bin, venv_bin
    site = next((rootfs / "opt/venv/lib").glob("python3*/site-packages"))
    assert not list(site.glob("pip")) and not list(site.glob("setuptools"))
    for tool in ("gcc", "cc", "curl", "unzip", "apt-get"):
        assert not (rootfs / "usr/bin" / tool).exists(), tool
    assert not (rootfs / "root/.cache/pip").exists()
    # Of the Debian packages' documentation only the copyright files are kept (dpkg leaves
    # the folders and a few links).
    docs = {p.name for p in (rootfs / "usr/share/doc").rglob("*") if is_file(p)}
    assert docs == {"copyright"}, docs
    assert not [p for p in (rootfs / "usr/share/man").rglob("*") if is_file(p)]


def is_file(path) -> bool:
    return path.is_file() and not path.is_symlink()


def test_make_xpkg_embeds_the_image_in_the_crossplane_package(built, testbed, tmp_path):
    """`make xpkg` after `make image-tar`: the real crossplane CLI builds package/ with the
    tarball as the package's runtime, so the package image runs the controller."""
    build, _ = built
    repo = build.tarball.parents[1]
    crossplane = testbed.bin("crossplane")
    imagebuild.make(repo, testbed, tmp_path / "storage", "xpkg", f"CROSSPLANE={crossplane}")
    xpkg = repo / "build" / "provider-random.xpkg"
    entry, config = imagebuild.archive_manifest(xpkg)
    assert config["config"]["Entrypoint"] == ["/opt/venv/bin/python", "-m", PACKAGE]
    assert config["config"]["User"] == "65532:65532"
    _, image = imagebuild.archive_manifest(build.tarball)
    # The image's layers, then the package's own layer(s) on top.
    runtime_layers = image["rootfs"]["diff_ids"]
    assert config["rootfs"]["diff_ids"][: len(runtime_layers)] == runtime_layers
    assert len(config["rootfs"]["diff_ids"]) > len(runtime_layers)
    assert "io.crossplane.xpkg" in json.dumps(config["config"].get("Labels", {}))
