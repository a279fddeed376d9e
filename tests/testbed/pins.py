"""Read the pinned versions from versions.toml into small typed records.

A pin says what to build and how; `stamp_key` turns it into the string the installer
compares against the stamp of the last successful build.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.toml"
REPO_ROOT = HERE.parents[1]
# Where the provider source archives are: this env var, else `providers-src/` in the shared
# folder next to the repository (or next to any folder above it, for a worktree).
ARCHIVES_ENV = "JETGEN_PROVIDERS_SRC"
SHARED_ENV = "JETGEN_SHARED_DIR"


class PinError(ValueError):
    """versions.toml (or a wrapper go.mod) is inconsistent."""


@dataclass(frozen=True)
class Archive:
    """A provider's released source tree, kept as a tarball outside the repository."""

    file: str  # name inside the archive folder
    sha256: str
    # `go mod edit` arguments applied after unpacking (e.g. a dependency the proxy refuses)
    go_mod_edits: tuple[str, ...] = ()
    # the folder of the shared folder holding it: providers-src, or tools-src for tools
    folder: str = "providers-src"

    def path(self) -> Path:
        base = archives_dir() if self.folder == "providers-src" else shared_dir() / self.folder
        return base / self.file


@dataclass(frozen=True)
class GoBuild:
    """How one Go program (or a group built together) is produced.

    Exactly one of `module` (a wrapper module dir under tests/testbed/, or with `own_code`
    a program written here), `install` (a package path for `go install pkg@version`) and
    `source` (a source archive whose root is the main package) is set.
    """

    name: str
    version: str
    module: Path | None
    install: str | None
    # import path -> binary name; for `install`/`source` builds the single binary's name.
    binaries: dict[str, str] = field(default_factory=dict)
    # Extra linker flags, e.g. the -X a release build sets to drop a "-dev" version suffix.
    ldflags: str = ""
    source: Archive | None = None
    # The module dir holds the program itself (a test provider written here), not a wrapper.
    own_code: bool = False
    # Extra environment for `go`, e.g. CGO_ENABLED=0 for a static binary put in an image.
    env: dict[str, str] = field(default_factory=dict)

    def stamp_key(self) -> str:
        """Pinned version + wrapper go.mod content: changing either forces a rebuild."""
        parts = {"name": self.name, "version": self.version, "install": self.install}
        parts.update(binaries=self.binaries, ldflags=self.ldflags)
        if self.env:  # only when set, so the stamps of the other pins stay as they were
            parts["env"] = self.env
        if self.module is not None:
            parts["go.mod"] = hashlib.sha256((self.module / "go.mod").read_bytes()).hexdigest()
        if self.source is not None:
            parts["source"] = [self.source.file, self.source.sha256, *self.source.go_mod_edits]
        if self.own_code and self.module is not None:
            # Our own program: any edit of its code rebuilds it.
            for code in sorted(self.module.glob("*.go")):
                parts[code.name] = hashlib.sha256(code.read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Provider:
    name: str
    namespace: str
    label: str  # version published in the filesystem mirror
    build: GoBuild

    @property
    def source_address(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Pins:
    tools: dict[str, GoBuild]
    # pin key -> provider; the key is the provider's name unless one provider is pinned at
    # two versions (then the second has its own key and names the provider in `name`)
    providers: dict[str, Provider]
    # what the test bed needs from the distribution -> Debian package providing it
    debian_packages: dict[str, str]
    # the node's Debian packages -> the upstream version each must have (a prefix of
    # dpkg's version, e.g. "1.6.20" for 1.6.20~ds1-1+deb12u3)
    node_packages: dict[str, str] = field(default_factory=dict)
    # what builds and opens provider images without a daemon (`make image`), the same way
    image_packages: dict[str, str] = field(default_factory=dict)

    def labels(self, namespace: str, name: str) -> set[str]:
        """Every version of one provider the mirror should publish."""
        return {
            p.label for p in self.providers.values() if (p.namespace, p.name) == (namespace, name)
        }


def load(path: Path = VERSIONS_FILE) -> Pins:
    data = tomllib.loads(path.read_text())
    tools = {
        name: _tool_archive_build(path, f"tools.{name}", name, entry)
        if "archive" in entry
        else _go_build(path, f"tools.{name}", name, entry)
        for name, entry in data["tools"].items()
    }
    providers = {}
    for key, entry in data["providers"].items():
        where = f"providers.{key}"
        name = entry.get("name", key)
        label = _field(path, where, entry, "label")
        binary = f"terraform-provider-{name}"
        if "archive" in entry:
            build = _archive_build(path, where, binary, label, entry)
        else:
            build = _go_build(path, where, binary, entry, default_binary=binary)
        providers[key] = Provider(name, _field(path, where, entry, "namespace"), label, build)
    return Pins(
        tools,
        providers,
        dict(data["debian"]),
        dict(data.get("debian-node", {})),
        dict(data.get("debian-image", {})),
    )


def _archive_build(path: Path, where: str, binary: str, label: str, entry: dict) -> GoBuild:
    for other in ("module", "install", "version"):
        if other in entry:
            raise PinError(f"{path}: [{where}] has 'archive', so it cannot have '{other}'")
    sha256 = _field(path, where, entry, "sha256")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise PinError(f"{path}: [{where}] sha256 must be 64 lowercase hex digits")
    edits = tuple(entry.get("go_mod_edit", ()))
    archive = Archive(_field(path, where, entry, "archive"), sha256, edits)
    # One stamp per version: a provider pinned twice has two builds.
    name = f"{binary}_v{label}"
    return GoBuild(name, label, None, None, {".": binary}, "-s -w", archive)


def _tool_archive_build(path: Path, where: str, name: str, entry: dict) -> GoBuild:
    """A tool built from its release source in the shared folder's tools-src/ (Crossplane:
    the proxy refuses a submodule its go.mod replaces, so `go install` cannot build it)."""
    for other in ("module", "install", "code"):
        if other in entry:
            raise PinError(f"{path}: [{where}] has 'archive', so it cannot have '{other}'")
    sha256 = _field(path, where, entry, "sha256")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise PinError(f"{path}: [{where}] sha256 must be 64 lowercase hex digits")
    archive = Archive(_field(path, where, entry, "archive"), sha256, folder="tools-src")
    binaries = dict(_field(path, where, entry, "packages"))
    ldflags = " ".join(["-s -w", entry.get("ldflags", "")]).strip()
    version = _field(path, where, entry, "version")
    env = dict(entry.get("env", {}))
    return GoBuild(name, version, None, None, binaries, ldflags, archive, env=env)


def archives_dir() -> Path:
    """The folder holding the provider source archives (see ARCHIVES_ENV)."""
    configured = os.environ.get(ARCHIVES_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return shared_dir() / "providers-src"


def shared_dir() -> Path:
    """`$JETGEN_SHARED_DIR`, else the first `shared/` next to the repo root or above it."""
    configured = os.environ.get(SHARED_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    for folder in REPO_ROOT.parents:
        if (folder / "shared").is_dir():
            return folder / "shared"
    # Not found: name the place it was first looked for, so the error says where.
    return REPO_ROOT.parent / "shared"


def _field(path: Path, where: str, entry: dict, key: str) -> str:
    if key not in entry:
        raise PinError(f"{path}: [{where}] lacks '{key}'")
    return entry[key]


def _go_build(
    path: Path, where: str, name: str, entry: dict, default_binary: str | None = None
) -> GoBuild:
    version = _field(path, where, entry, "version")
    code = entry.get("code")
    module, install = entry.get("module", code), entry.get("install")
    if (module is None) == (install is None) or ("module" in entry and code is not None):
        raise PinError(f"{path}: [{where}] needs exactly one of 'module', 'code' and 'install'")
    if install is not None:
        binary = entry.get("binary", default_binary or name)
        return GoBuild(name, version, None, install, {install: binary}, entry.get("ldflags", ""))

    module_dir = HERE / module
    go_mod = module_dir / "go.mod"
    if not go_mod.is_file():
        raise PinError(f"{path}: [{where}] module '{module}': {go_mod} does not exist")
    if code is not None:
        # Built from the code in the folder: its main package is the module itself.
        binaries = {_module_path(go_mod): default_binary or name}
        ldflags, env = entry.get("ldflags", ""), dict(entry.get("env", {}))
        return GoBuild(name, version, module_dir, None, binaries, ldflags, own_code=True, env=env)
    # The wrapper go.mod is what Go actually builds; refuse a pin it does not mention so
    # the two files cannot silently drift apart.
    if version not in go_mod.read_text():
        raise PinError(f"{path}: [{where}] version {version} does not appear in {go_mod}")
    binaries = entry.get("packages")
    if binaries is None:
        # A provider's main package is the root of the module it requires.
        binaries = {_required_module(go_mod): default_binary or name}
    return GoBuild(name, version, module_dir, None, dict(binaries), entry.get("ldflags", ""))


def _module_path(go_mod: Path) -> str:
    for line in go_mod.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "module":
            return words[1]
    raise PinError(f"{go_mod}: no 'module <path>' line")


def _required_module(go_mod: Path) -> str:
    """The single module a provider wrapper requires (its main package is the module root)."""
    for line in go_mod.read_text().splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "require":
            return words[1]
    raise PinError(f"{go_mod}: expected one 'require <module> <version>' line")
