"""Where this jetgen came from, and a wheel of it for a provider image.

No package index serves jetgen, so everything that installs it again (a provider repo's
CI, its image build, the hint for a missing extra) must use the place this installation
came from. pip records it (PEP 610 ``direct_url.json``): a local directory, a git URL, or
nothing (a wheel file). Standard library only: this module runs on a runtime-only install.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DIST = "jetgen"
EXTRA = "generator"
# The generator extra's modules; one missing means the extra was not installed.
EXTRA_MODULES = ("jinja2", "datamodel_code_generator")


@dataclass(frozen=True)
class Origin:
    """``url`` as pip recorded it (``file:///…`` or ``git+…``); ``editable`` for ``-e``."""

    url: str | None
    editable: bool = False
    commit: str | None = None

    @property
    def local_dir(self) -> Path | None:
        if self.url and self.url.startswith("file://") and not self.commit:
            return Path(self.url.removeprefix("file://"))
        return None

    def requirement(self, extra: str | None = None) -> str:
        """A pip requirement that installs this jetgen again (``extra`` included)."""
        name = f"{DIST}[{extra}]" if extra else DIST
        if self.local_dir is not None:
            return f"{self.local_dir}[{extra}]" if extra else str(self.local_dir)
        if self.url:
            at = f"@{self.commit}" if self.commit else ""
            return f"{name} @ {self.url}{at}"
        return name


def origin() -> Origin:
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    if not text:
        return Origin(url=None)
    data = json.loads(text)
    url = data.get("url")
    vcs = data.get("vcs_info")
    if vcs:
        prefix = f"{vcs.get('vcs', 'git')}+"
        return Origin(
            url=url if url.startswith(prefix) else prefix + url, commit=vcs.get("commit_id")
        )
    return Origin(url=url, editable=bool(data.get("dir_info", {}).get("editable")))


def missing_extra() -> str | None:
    """The first module of the generator extra that cannot be imported, if any."""
    import importlib.util

    for module in EXTRA_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ImportError:
            return module
    return None


def install_hint() -> str:
    """How to install the generator extra, in the form that works for this installation."""
    here = origin()
    if here.url is None:  # from a wheel or an index: no place pip remembers
        return (
            f"pip install '{DIST}[{EXTRA}] @ git+<jetgen's git URL>', or from a checkout"
            f" pip install './jetgen[{EXTRA}]'"
        )
    return f"pip install '{here.requirement(EXTRA)}'"


def version() -> str:
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        return "unknown"


# --- a wheel of the running jetgen ---------------------------------------------------


class WheelError(RuntimeError):
    """No wheel can be made of this installation."""


def build_wheel(directory: Path) -> Path:
    """Write ``jetgen-VERSION-py3-none-any.whl`` of this installation into ``directory``.

    An editable install is built from its source directory with ``pip wheel``; any other
    install is repacked from its installed files (RECORD), which needs no network and no
    source: a git or path install works the same."""
    directory.mkdir(parents=True, exist_ok=True)
    here = origin()
    if here.editable and here.local_dir is not None:
        return _pip_wheel(here.local_dir, directory)
    return _repack(metadata.distribution(DIST), directory)


def _pip_wheel(source: Path, directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w"]
    done = subprocess.run(
        [*command, str(directory), str(source)], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise WheelError(f"pip wheel {source} failed (exit {done.returncode}): {last}")
    return directory / _wheel_name(version())


def _wheel_name(ver: str) -> str:
    return f"{DIST}-{ver}-py3-none-any.whl"


def _repack(dist: metadata.Distribution, directory: Path) -> Path:
    """A wheel from the installed files: the package, and the dist-info pip reads."""
    ver = dist.version
    info = f"{DIST}-{ver}.dist-info"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    files = []
    for entry in dist.files or []:
        rel = entry.as_posix()
        if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
            continue  # scripts (pip writes them again) and byte code
        if rel.startswith(info + "/") and rel.split("/", 1)[1] in skip:
            continue
        files.append((rel, Path(str(dist.locate_file(entry))).read_bytes()))
    if not any(rel.startswith("jetgen/") for rel, _ in files):
        raise WheelError(f"{DIST} {ver}: its files are not installed here; reinstall it")
    target = directory / _wheel_name(ver)
    partial = target.with_name(target.name + ".tmp")
    record = []
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as wheel:
        for rel, data in sorted(files):
            wheel.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{rel},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    partial.replace(target)
    return target
