"""Write OCI image tarballs (an OCI image layout in one tar) without a daemon or registry.

No registry is reachable from the test bed, so every image a node runs is made here from
static binaries and imported with `ctr -n k8s.io images import`. One uncompressed layer,
fixed timestamps and owners: the same inputs give the same image digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class File:
    path: str  # inside the image, e.g. "/pause"
    data: bytes
    mode: int = 0o755


def write(
    out: Path, name: str, files: list[File], entrypoint: list[str], user: str = "65532:65532"
) -> str:
    """Write image `name` (e.g. "registry.k8s.io/pause:3.10") to `out`; return its digest."""
    entries, manifest_digest = _entries(name, files, entrypoint, user)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for dir_name in ("blobs", "blobs/sha256"):
            tar.addfile(_info(dir_name, tarfile.DIRTYPE, 0o755))
        for entry, data in entries.items():
            tar.addfile(_info(entry, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    os.replace(tmp, out)  # never a half-written tarball where the node looks
    return manifest_digest


def digest(name: str, files: list[File], entrypoint: list[str], user: str = "65532:65532") -> str:
    """The manifest digest `write` would give these inputs (to skip an unchanged image)."""
    return _entries(name, files, entrypoint, user)[1]


def _entries(
    name: str, files: list[File], entrypoint: list[str], user: str
) -> tuple[dict[str, bytes], str]:
    layer = _layer(files)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
    }
    config_blob = _json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": _descriptor(CONFIG, config_blob),
        "layers": [_descriptor(LAYER, layer)],
    }
    manifest_blob = _json(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                **_descriptor(MANIFEST, manifest_blob),
                "platform": {"architecture": "amd64", "os": "linux"},
                # containerd names the imported image after this annotation.
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    entries = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": _json(index)}
    for blob in (layer, config_blob, manifest_blob):
        entries[f"blobs/sha256/{_digest(blob).split(':')[1]}"] = blob
    return entries, _digest(manifest_blob)


def _layer(files: list[File]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen: set[str] = set()
        for file in sorted(files, key=lambda f: f.path):
            parts = file.path.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in seen:
                    seen.add(folder)
                    tar.addfile(_info(folder, tarfile.DIRTYPE, 0o755))
            info = _info("/".join(parts), tarfile.REGTYPE, file.mode, len(file.data))
            tar.addfile(info, io.BytesIO(file.data))
    return buffer.getvalue()


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    return info


def _json(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _descriptor(media_type: str, blob: bytes) -> dict:
    return {"mediaType": media_type, "digest": _digest(blob), "size": len(blob)}
