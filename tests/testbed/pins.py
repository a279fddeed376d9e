"""Read the pinned versions from versions.toml into small typed records.

A pin says what to build and how; `stamp_key` turns it into the string the installer
compares against the stamp of the last successful build.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.toml"


class PinError(ValueError):
    """versions.toml (or a wrapper go.mod) is inconsistent."""


@dataclass(frozen=True)
class GoBuild:
    """How one Go program (or a group built together) is produced.

    Exactly one of `module` (a wrapper module dir under tests/testbed/) and `install`
    (a package path for `go install pkg@version`) is set.
    """

    name: str
    version: str
    module: Path | None
    install: str | None
    # import path -> binary name; for `install` builds the single binary's name.
    binaries: dict[str, str] = field(default_factory=dict)
    # Extra linker flags, e.g. the -X a release build sets to drop a "-dev" version suffix.
    ldflags: str = ""

    def stamp_key(self) -> str:
        """Pinned version + wrapper go.mod content: changing either forces a rebuild."""
        parts = {"name": self.name, "version": self.version, "install": self.install}
        parts.update(binaries=self.binaries, ldflags=self.ldflags)
        if self.module is not None:
            parts["go.mod"] = hashlib.sha256((self.module / "go.mod").read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Provider:
    name: str
    namespace: str
    label: str  # version published in the filesystem mirror
    build: GoBuild


@dataclass(frozen=True)
class Blocked:
    name: str
    namespace: str
    module: str
    reason: str


@dataclass(frozen=True)
class Pins:
    tools: dict[str, GoBuild]
    providers: dict[str, Provider]
    blocked: dict[str, Blocked]
    # what the test bed needs from the distribution -> Debian package providing it
    debian_packages: dict[str, str]


def load(path: Path = VERSIONS_FILE) -> Pins:
    data = tomllib.loads(path.read_text())
    tools = {
        name: _go_build(path, f"tools.{name}", name, entry) for name, entry in data["tools"].items()
    }
    providers = {}
    for name, entry in data["providers"].items():
        where = f"providers.{name}"
        binary = f"terraform-provider-{name}"
        build = _go_build(path, where, binary, entry, default_binary=binary)
        providers[name] = Provider(
            name,
            _field(path, where, entry, "namespace"),
            _field(path, where, entry, "label"),
            build,
        )
    blocked = {
        name: Blocked(name, entry["namespace"], entry["module"], entry["reason"])
        for name, entry in data.get("blocked", {}).items()
    }
    return Pins(tools, providers, blocked, dict(data["debian"]))


def _field(path: Path, where: str, entry: dict, key: str) -> str:
    if key not in entry:
        raise PinError(f"{path}: [{where}] lacks '{key}'")
    return entry[key]


def _go_build(
    path: Path, where: str, name: str, entry: dict, default_binary: str | None = None
) -> GoBuild:
    version = _field(path, where, entry, "version")
    module, install = entry.get("module"), entry.get("install")
    if (module is None) == (install is None):
        raise PinError(f"{path}: [{where}] needs exactly one of 'module' and 'install'")
    if install is not None:
        binary = entry.get("binary", default_binary or name)
        return GoBuild(name, version, None, install, {install: binary}, entry.get("ldflags", ""))

    module_dir = HERE / module
    go_mod = module_dir / "go.mod"
    if not go_mod.is_file():
        raise PinError(f"{path}: [{where}] module '{module}': {go_mod} does not exist")
    # The wrapper go.mod is what Go actually builds; refuse a pin it does not mention so
    # the two files cannot silently drift apart.
    if version not in go_mod.read_text():
        raise PinError(f"{path}: [{where}] version {version} does not appear in {go_mod}")
    binaries = entry.get("packages")
    if binaries is None:
        # A provider's main package is the root of the module it requires.
        binaries = {_required_module(go_mod): default_binary or name}
    return GoBuild(name, version, module_dir, None, dict(binaries), entry.get("ldflags", ""))


def _required_module(go_mod: Path) -> str:
    """The single module a provider wrapper requires (its main package is the module root)."""
    for line in go_mod.read_text().splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "require":
            return words[1]
    raise PinError(f"{go_mod}: expected one 'require <module> <version>' line")
