"""Build pinned Go programs into the cache, skipping those whose stamp is current.

Output goes to a staging folder first and is moved into place only after `go` succeeded,
so an interrupted build never leaves a half-written binary where the tests look.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from .layout import Layout
from .pins import GoBuild


class BuildError(RuntimeError):
    """A pinned tool could not be built; the message names it and says why."""


@dataclass(frozen=True)
class BuildResult:
    name: str
    outputs: dict[str, Path]  # binary name -> where it was built into the staging dir
    seconds: float
    skipped: bool


def is_current(layout: Layout, build: GoBuild, targets: list[Path]) -> bool:
    stamp = layout.stamps / build.name
    if not stamp.is_file() or not all(t.is_file() for t in targets):
        return False
    return stamp.read_text().strip() == build.stamp_key()


def write_stamp(layout: Layout, build: GoBuild) -> None:
    layout.stamps.mkdir(parents=True, exist_ok=True)
    (layout.stamps / build.name).write_text(build.stamp_key() + "\n")


def build(layout: Layout, build: GoBuild) -> BuildResult:
    """Run `go build`/`go install` for one pin into <cache>/staging/<name>/.

    The caller moves the outputs into place and writes the stamp.
    """
    staging = layout.staging / build.name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = layout.logs / f"{build.name}.log"

    flags = ["-trimpath", f"-ldflags={' '.join(['-s', build.ldflags]).strip()}"]
    env = {**os.environ, **build.env}
    if build.source is not None:
        return _build_source(layout, build, staging, log)
    if build.module is not None:
        cmd = ["go", "build", *flags, "-o", f"{staging}/", *build.binaries]
        env["GOFLAGS"] = _goflags(env.get("GOFLAGS", ""), "-mod=mod")
        cwd = build.module
    else:
        cmd = ["go", "install", *flags, f"{build.install}@{build.version}"]
        # `go install pkg@version` ignores the current module and rejects -mod flags.
        env["GOFLAGS"] = _goflags(env.get("GOFLAGS", ""), None)
        env["GOBIN"] = str(staging)
        cwd = staging

    started = time.monotonic()
    log.write_text("")
    _run_go(build, cmd, cwd, env, log, started)
    seconds = time.monotonic() - started

    outputs = {}
    for package, binary in build.binaries.items():
        built = staging / _exec_name(package)
        if not built.is_file():
            raise BuildError(f"{build.name}: go did not produce {built.name} for {package}")
        outputs[binary] = built
    return BuildResult(build.name, outputs, seconds, skipped=False)


def _run_go(build: GoBuild, cmd: list[str], cwd: Path, env: dict, log: Path, started: float):
    """Run one go command, appending its output to the log; raise with the log's tail."""
    with log.open("a") as out:
        out.write(f"$ cd {cwd} && GOFLAGS={env['GOFLAGS']!r} {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        except FileNotFoundError as exc:
            raise BuildError(f"{build.name}: cannot run 'go' ({exc}); is Go installed?") from exc
    if proc.returncode != 0:
        seconds = time.monotonic() - started
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise BuildError(
            f"{build.name} {build.version} could not be built: {cmd[0]} {cmd[1]} exited "
            f"{proc.returncode} after {seconds:.0f}s (full log: {log})\n{tail}"
        )


def _build_source(layout: Layout, build: GoBuild, staging: Path, log: Path) -> BuildResult:
    """Checksum, unpack, apply the pinned go.mod edits, `go build .` with the module proxy."""
    assert build.source is not None
    started = time.monotonic()
    archive = build.source.path()
    source = unpack(archive, build.source.sha256, layout.sources / build.name)
    env = {**os.environ, **build.env}
    # -mod=mod: the edits (and go.sum) are resolved through the module proxy.
    env["GOFLAGS"] = _goflags(env.get("GOFLAGS", ""), "-mod=mod -buildvcs=false")
    log.write_text(f"# {archive} (sha256 {build.source.sha256}) unpacked into {source}\n")
    for edit in build.source.go_mod_edits:
        _run_go(build, ["go", "mod", "edit", edit], source, env, log, started)
    outputs = {}
    for package, binary in build.binaries.items():
        output = staging / binary
        cmd = ["go", "build", "-trimpath", f"-ldflags={build.ldflags}", "-o", str(output), package]
        _run_go(build, cmd, source, env, log, started)
        if not output.is_file():
            raise BuildError(f"{build.name}: go did not produce {output}")
        outputs[binary] = output
    return BuildResult(build.name, outputs, time.monotonic() - started, skipped=False)


def unpack(archive: Path, sha256: str, target: Path) -> Path:
    """Verify the archive's checksum, extract it into a fresh `target`, return its root.

    The archives hold one top-level folder (the repository at its tag); that is the root.
    """
    if not archive.is_file():
        raise BuildError(
            f"source archive {archive} not found (set JETGEN_SHARED_DIR to the shared "
            f"folder, or JETGEN_PROVIDERS_SRC to the folder holding provider archives)"
        )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != sha256:
        raise BuildError(f"{archive}: sha256 is {digest}, versions.toml pins {sha256}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        # The "data" filter refuses absolute paths, links out of the tree and devices.
        tar.extractall(target, filter="data")
    entries = list(target.iterdir())
    if len(entries) != 1 or not (entries[0] / "go.mod").is_file():
        raise BuildError(f"{archive}: expected one top-level folder with a go.mod")
    return entries[0]


def _goflags(current: str, mod_flag: str | None) -> str:
    flags = [f for f in current.split() if not f.startswith("-mod=")]
    if mod_flag:
        flags.append(mod_flag)
    return " ".join(flags)


def _exec_name(package: str) -> str:
    """The file name `go build -o dir/` gives a main package (skipping a /vN suffix)."""
    parts = package.rstrip("/").split("/")
    if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]):
        return parts[-2]
    return parts[-1]


def go_version() -> str:
    try:
        out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"Go toolchain not usable: {exc}") from exc
    return out.stdout.strip()
