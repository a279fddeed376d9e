"""Build the benchmark peer, Upjet's provider-linode, from the archives in ../shared.

    .venv/bin/python benchmarks/peer_setup.py [--force]

Unpacks ``../shared/peers-src/upjet-provider-linode-*.tar.gz`` and
``../shared/providers-src/linode-v2.37.0.tar.gz`` (the Terraform provider it compiles in)
into a cache folder outside the repository (``$JETGEN_PEER_DIR``, default
``~/.cache/jetgen-peer``), points the provider's module at the unpacked Terraform provider
(a ``replace``: the Go module proxy does not serve it) and builds ``./cmd/provider`` with
every other module from the Go module proxy. About 200 s and 1.3 GiB on 2 cores with an
empty Go build cache; cached afterwards (a stamp holds the archives' sha256), so a second
run returns at once. Prints the binary, the CRD folder, the build time and where the list
of modules the proxy served was written.

Third-party code: it is built and run from the cache, never copied into this repository.
Not part of CI's default path; ``benchmarks/peer_linode.py`` runs it first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PEER_ARCHIVE_GLOB = "upjet-provider-linode-*.tar.gz"
TF_ARCHIVE = SHARED / "providers-src" / "linode-v2.37.0.tar.gz"
TF_MODULE = "github.com/linode/terraform-provider-linode/v2"


@dataclass(frozen=True)
class Peer:
    binary: Path
    crds: Path
    modules: Path


def cache_dir() -> Path:
    return Path(os.environ.get("JETGEN_PEER_DIR", Path.home() / ".cache" / "jetgen-peer"))


def peer_archive() -> Path:
    found = sorted((SHARED / "peers-src").glob(PEER_ARCHIVE_GLOB))
    if len(found) != 1:
        raise SystemExit(f"peer_setup: expected one {PEER_ARCHIVE_GLOB} in {SHARED / 'peers-src'}")
    return found[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unpack(archive: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def build(root: Path) -> float:
    """Unpack both archives into ``root/src`` and build; returns the seconds it took."""
    src = root / "src"
    shutil.rmtree(src, ignore_errors=True)
    unpack(peer_archive(), src)
    unpack(TF_ARCHIVE, src)
    provider = src / "provider-linode"
    tf_source = src / "terraform-provider-linode"
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod -buildvcs=false",
    }

    def go(*args: str) -> str:
        done = subprocess.run(
            ["go", *args], cwd=provider, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"peer_setup: go {' '.join(args)} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    go("mod", "edit", f"-replace={TF_MODULE}={tf_source}")
    started = time.monotonic()
    go("build", "-trimpath", "-o", str(root / "provider"), "./cmd/provider")
    seconds = time.monotonic() - started
    (root / "modules.txt").write_text(go("list", "-m", "all"))
    return seconds


def ensure(force: bool = False) -> Peer:
    """The peer binary, built once per pair of archives."""
    root = cache_dir()
    stamp = root / "stamp.json"
    want = {"peer": sha256(peer_archive()), "terraform_provider": sha256(TF_ARCHIVE)}
    peer = Peer(
        root / "provider",
        root / "src" / "provider-linode" / "package" / "crds",
        root / "modules.txt",
    )
    if not force and stamp.exists() and json.loads(stamp.read_text()).get("archives") == want:
        if peer.binary.exists():
            return peer
    root.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    seconds = build(root)
    stamp.write_text(json.dumps({"archives": want, "build_seconds": round(seconds, 1)}))
    print(f"peer_setup: built {peer.binary} in {seconds:.0f} s", file=sys.stderr)
    return peer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args()
    peer = ensure(args.force)
    built = json.loads((cache_dir() / "stamp.json").read_text())
    print(f"binary:  {peer.binary} ({peer.binary.stat().st_size / 1e6:.0f} MB)")
    print(f"crds:    {peer.crds} ({len(list(peer.crds.glob('*.yaml')))} files)")
    print(f"built:   in {built['build_seconds']} s")
    print(f"modules: {peer.modules} ({len(peer.modules.read_text().splitlines())} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
