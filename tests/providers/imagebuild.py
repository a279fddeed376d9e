"""Build a reference provider's image with its own `make image image-tar` (buildah, no
daemon) and look inside the tarball: its config, and programs run from it with runc.

Shared by tests/providers/test_e2e_image.py and benchmarks/image_build.py. The test bed
gives tofu and the provider mirror (nothing is downloaded from GitHub or a registry);
PyPI gives jetgen's dependencies (`make wheels`); the Python base is made from Debian
packages by mmdebstrap once per set of inputs (cached in ~/.cache/jetgen/base).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.bed import Testbed

TOOLS = ("buildah", "mmdebstrap", "skopeo", "umoci", "runc", "make")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass
class Build:
    seconds: float
    output: str
    tarball: Path


def storage_env(root: Path) -> dict[str, str]:
    """A private buildah store under ``root`` (not the machine's /var/lib/containers)."""
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n'
    )
    return {"CONTAINERS_STORAGE_CONF": str(conf)}


def make_image(repo: Path, testbed: Testbed, storage: Path, *extra: str) -> Build:
    """`make image image-tar` in ``repo`` with buildah, tofu and the provider taken from
    the test bed; returns the wall time, the output and the tarball."""
    started = time.monotonic()
    output = make(repo, testbed, storage, "image", "image-tar", *extra)
    return Build(time.monotonic() - started, output, repo / "build" / "image.tar")


def make(repo: Path, testbed: Testbed, storage: Path, *args: str) -> str:
    """`make ARGS` in ``repo`` as `make_image` runs it (jetgen, tofu, buildah's store)."""
    # provider-linode's jetgen.yaml names its docs under $JETGEN_TESTBED_DIR.
    env = testbed.tf_env(
        {
            "JETGEN_TERRAFORM": str(testbed.tofu),
            "JETGEN_TESTBED_DIR": str(testbed.dir),
            **storage_env(storage),
        }
    )
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # jetgen
    command = [
        "make",
        *args,
        "BUILDER=buildah",
        f"TOFU={testbed.tofu}",
        f"TOFU_MIRROR={testbed.mirror}",
        f"PYTHON={sys.executable}",
    ]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return done.stdout + done.stderr


def remove_storage(storage: Path) -> None:
    """Containers, images and the store itself (buildah unmounts what it mounted)."""
    env = {**os.environ, **storage_env(storage)}
    for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
        subprocess.run(["buildah", *args], env=env, capture_output=True, timeout=300)
    shutil.rmtree(storage, ignore_errors=True)


# --- the tarball -------------------------------------------------------------------------


def archive_manifest(tarball: Path) -> tuple[dict, dict]:
    """(manifest.json's entry, the image config) of a docker-archive tarball."""
    with tarfile.open(tarball) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(entry["Config"]))
    return entry, config


def unpack(tarball: Path, target: Path) -> Path:
    """An OCI runtime bundle (rootfs + config.json from the image's config): skopeo turns
    the archive into an OCI layout (gzip layers), umoci unpacks that."""
    layout = target / "layout"
    target.mkdir(parents=True, exist_ok=True)
    for args in (
        ["skopeo", "copy", "--quiet", f"docker-archive:{tarball}", f"oci:{layout}:image"],
        ["umoci", "unpack", "--image", f"{layout}:image", str(target / "bundle")],
    ):
        done = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{args[0]}: {done.stderr}"
    return target / "bundle"


def compressed_bytes(bundle: Path) -> int:
    """Size of the image's gzip layers (what a registry stores and a node pulls), from the
    OCI layout `unpack` made next to ``bundle``."""
    layout = bundle.parent / "layout"
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    blob = layout / "blobs" / "sha256" / entry["digest"].split(":", 1)[1]
    return sum(layer["size"] for layer in json.loads(blob.read_text())["layers"])


def entrypoint(bundle: Path) -> list[str]:
    """The process the image runs, as umoci read it from the image's config."""
    config = bundle / "config.image.json"
    if not config.exists():
        config = bundle / "config.json"
    return json.loads(config.read_text())["process"]["args"]


def run(bundle: Path, args: list[str] | None = None, timeout: int = 120):
    """Run the image's process (or ``args`` instead) with runc as the image says (user,
    environment, working directory), the root filesystem read-only and a tmpfs on /tmp,
    as the Deployment mounts its emptyDir; no network."""
    original = bundle / "config.image.json"  # as umoci wrote it from the image
    if not original.exists():
        (bundle / "config.json").rename(original)
    config = json.loads(original.read_text())
    process = config["process"]
    process["terminal"] = False
    if args is not None:
        process["args"] = args
    config["root"]["readonly"] = True
    config["mounts"].append(
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777"],
        }
    )
    (bundle / "config.json").write_text(json.dumps(config))
    container = f"jetgen-image-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(
            ["runc", "run", "--bundle", str(bundle), container],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    finally:
        subprocess.run(["runc", "delete", "--force", container], capture_output=True)
