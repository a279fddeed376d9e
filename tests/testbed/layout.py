"""Where the test bed keeps things: one cache folder outside the clone.

    <cache>/bin/                 etcd, kube-apiserver, kube-controller-manager, kubectl,
                                 tofu, terraform
    <cache>/mirror/<host>/<ns>/<name>/<label>/<os_arch>/terraform-provider-<name>_v<label>
    <cache>/terraformrc          mirror-only CLI config for both tofu and terraform
    <cache>/plugin-cache/        TF_PLUGIN_CACHE_DIR
    <cache>/src/<tool>/          provider source unpacked from its archive (kept for reading)
    <cache>/stamps/<tool>        stamp key of the last successful build
    <cache>/logs/<tool>.log      output of the last build
    <cache>/images/<name>.tar    OCI image tarballs for the node (pause, kubeprobe)
    <cache>/run/state.json       what `scripts/testbed up` started
    <cache>/run/node/            the running node's files (containerd, kubelet, CNI, PKI)

The Go module cache and build cache stay where Go puts them (~/go/pkg/mod, ~/.cache/go-build).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Both CLIs resolve `hashicorp/random` against their own default registry host, so the
# mirror publishes every provider under both.
REGISTRY_HOSTS = ("registry.terraform.io", "registry.opentofu.org")
PLATFORM = "linux_amd64"


def default_dir() -> Path:
    configured = os.environ.get("JETGEN_TESTBED_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "jetgen-testbed"


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> Layout:
        return cls(default_dir())

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    @property
    def cli_config(self) -> Path:
        return self.root / "terraformrc"

    @property
    def plugin_cache(self) -> Path:
        return self.root / "plugin-cache"

    @property
    def stamps(self) -> Path:
        return self.root / "stamps"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def sources(self) -> Path:
        return self.root / "src"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def images(self) -> Path:
        return self.root / "images"

    def image(self, name: str) -> Path:
        return self.images / f"{name}.tar"

    @property
    def node_dir(self) -> Path:
        """Fixed, not a temp folder: the node is one per machine, and a killed session's
        remains must be found by the next start."""
        return self.root / "run" / "node"

    @property
    def state_file(self) -> Path:
        return self.root / "run" / "state.json"

    def provider_dir(self, host: str, namespace: str, name: str, label: str) -> Path:
        return self.mirror / host / namespace / name / label / PLATFORM

    def provider_binary(self, host: str, namespace: str, name: str, label: str) -> Path:
        binary = f"terraform-provider-{name}_v{label}"
        return self.provider_dir(host, namespace, name, label) / binary

    def installed_providers(self) -> set[tuple[str, str, str]]:
        """(namespace, name, label) of every provider present under every registry host."""
        found: dict[tuple[str, str, str], set[str]] = {}
        for host in REGISTRY_HOSTS:
            for binary in (self.mirror / host).glob(f"*/*/*/{PLATFORM}/terraform-provider-*"):
                namespace = binary.parents[3].name
                name, label = binary.parents[2].name, binary.parents[1].name
                found.setdefault((namespace, name, label), set()).add(host)
        return {key for key, hosts in found.items() if len(hosts) == len(REGISTRY_HOSTS)}
