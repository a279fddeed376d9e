"""The installed test bed as tests see it: the `testbed` fixture object."""

from __future__ import annotations

import os
from pathlib import Path

from . import pins as pins_module
from .layout import Layout

CONTROL_PLANE_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class NotInstalled(RuntimeError):
    """Something the test bed needs is missing from the cache."""

    def __init__(self, missing: str):
        super().__init__(
            f"test bed not installed: run scripts/testbed install (missing: {missing})"
        )
        self.missing = missing


class Testbed:
    __test__ = False  # a helper, not a test class, despite the name

    def __init__(self, layout: Layout | None = None):
        self.layout = layout or Layout.default()

    @property
    def dir(self) -> Path:
        return self.layout.root

    def bin(self, name: str) -> Path:
        path = self.layout.bin / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise NotInstalled(name)
        return path

    @property
    def tofu(self) -> Path:
        return self.bin("tofu")

    @property
    def terraform(self) -> Path:
        return self.bin("terraform")

    @property
    def kubectl(self) -> Path:
        return self.bin("kubectl")

    @property
    def cli_config(self) -> Path:
        """Mirror-only CLI config (TF_CLI_CONFIG_FILE) for both tofu and terraform."""
        return self.layout.cli_config

    @property
    def mirror(self) -> Path:
        return self.layout.mirror

    @property
    def plugin_cache(self) -> Path:
        return self.layout.plugin_cache

    @property
    def providers(self) -> dict[str, str]:
        """Pin key (the provider's name, see versions.toml) -> version label, for the
        pinned providers present in the mirror."""
        installed = self.layout.installed_providers()
        return {
            key: p.label
            for key, p in pins_module.load().providers.items()
            if (p.namespace, p.name, p.label) in installed
        }

    def provider_binary(self, key: str, host: str = "registry.terraform.io") -> Path:
        """The mirrored binary of one pinned provider (by pin key)."""
        p = pins_module.load().providers[key]
        path = self.layout.provider_binary(host, p.namespace, p.name, p.label)
        if not path.is_file():
            raise NotInstalled(f"provider {p.source_address} {p.label}")
        return path

    def tf_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """os.environ plus what makes tofu/terraform use only the local mirror."""
        env = dict(os.environ)
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            TF_PLUGIN_CACHE_DIR=str(self.plugin_cache),
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
        )
        env.update(extra or {})
        return env

    def missing(self) -> list[str]:
        """Everything `install` should have produced but did not, by name."""
        wanted = pins_module.load()
        missing = [
            name for name in (*CONTROL_PLANE_TOOLS, "tofu", "terraform") if not self._has(name)
        ]
        if not self.cli_config.is_file():
            missing.append(self.cli_config.name)
        installed = self.layout.installed_providers()
        missing += [
            f"provider {p.source_address} {p.label}"
            for p in wanted.providers.values()
            if (p.namespace, p.name, p.label) not in installed
        ]
        return missing

    def require_installed(self) -> None:
        missing = self.missing()
        if missing:
            raise NotInstalled(", ".join(missing))

    def _has(self, name: str) -> bool:
        try:
            self.bin(name)
        except NotInstalled:
            return False
        return True
