"""`scripts/testbed install`: build every pinned tool and provider into the cache.

Idempotent: a tool whose stamp matches its pin (and whose outputs exist) is skipped, so a
warm second run only checks files. Every failure is collected and reported by name; the
command exits non-zero when anything the test bed needs is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from . import gobuild, ociimage, pgserver
from .layout import REGISTRY_HOSTS, Layout
from .pins import GoBuild, Pins, Provider


class AptError(RuntimeError):
    pass


@dataclass
class Report:
    built: list[tuple[str, float]]
    current: list[str]
    failed: list[str]

    def add(self, name: str, result: gobuild.BuildResult | None) -> None:
        if result is None:
            self.current.append(name)
        else:
            self.built.append((name, result.seconds))


def run(layout: Layout, pins: Pins, out=sys.stdout) -> int:
    started = time.monotonic()
    for folder in (layout.bin, layout.mirror, layout.plugin_cache):
        folder.mkdir(parents=True, exist_ok=True)
    report = Report([], [], [])

    try:
        print(f"test bed cache: {layout.root} (Go: {gobuild.go_version()})", file=out, flush=True)
    except gobuild.BuildError as exc:
        print(f"FAILED: {exc}", file=out)
        return 1

    for tool in pins.tools.values():
        _step(report, tool.name, out, lambda tool=tool: _install_tool(layout, tool, out))
    for provider in pins.providers.values():
        name = f"provider {provider.source_address} {provider.label}"
        keep = pins.labels(provider.namespace, provider.name)
        _step(
            report,
            name,
            out,
            lambda provider=provider, keep=keep: _install_provider(layout, provider, keep, out),
        )
    _write_cli_config(layout)
    _step(report, "debian packages", out, lambda: _ensure_debian_packages(pins, out))
    _step(report, "node packages", out, lambda: _ensure_node_packages(pins, out))
    _step(report, "node images", out, lambda: _write_node_images(layout, pins))
    _step(report, "image packages", out, lambda: _ensure_pinned(pins.image_packages, out, "image"))

    for name, seconds in report.built:
        print(f"built: {name} in {seconds:.0f}s", file=out)
    print(f"up to date: {', '.join(report.current) or '-'}", file=out)
    print(f"cli config: {layout.cli_config}", file=out)
    print(f"install took {time.monotonic() - started:.1f}s", file=out)
    if report.failed:
        print(f"FAILED: {', '.join(report.failed)} (see messages above)", file=out)
        return 1
    return 0


def _step(report: Report, name: str, out, action) -> None:
    try:
        report.add(name, action())
    except (gobuild.BuildError, pgserver.PostgresError, AptError, OSError) as exc:
        report.failed.append(name)
        print(f"FAILED: {name}: {exc}", file=out, flush=True)


def _install_tool(layout: Layout, tool: GoBuild, out) -> gobuild.BuildResult | None:
    targets = {binary: layout.bin / binary for binary in tool.binaries.values()}
    if gobuild.is_current(layout, tool, list(targets.values())):
        return None
    print(f"building {tool.name} {tool.version} ...", file=out, flush=True)
    result = gobuild.build(layout, tool)
    for binary, built in result.outputs.items():
        os.replace(built, targets[binary])
    gobuild.write_stamp(layout, tool)
    shutil.rmtree(layout.staging / tool.name)
    return result


def _install_provider(
    layout: Layout, provider: Provider, keep: set[str], out
) -> gobuild.BuildResult | None:
    """Build one provider version into the mirror; `keep` is every label pinned for it."""
    targets = [
        layout.provider_binary(host, provider.namespace, provider.name, provider.label)
        for host in REGISTRY_HOSTS
    ]
    if gobuild.is_current(layout, provider.build, targets):
        _link_into_plugin_cache(layout, provider, keep)
        return None
    print(f"building provider {provider.source_address} {provider.label} ...", file=out, flush=True)
    result = gobuild.build(layout, provider.build)
    (built,) = result.outputs.values()
    for host in REGISTRY_HOSTS:
        _drop_other_labels(layout, host, provider, keep)
    first, *others = targets
    first.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, first)
    for target in others:
        # The same binary under every registry host: a hard link costs no space.
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        os.link(first, target)
    gobuild.write_stamp(layout, provider.build)
    shutil.rmtree(layout.staging / provider.build.name)
    _link_into_plugin_cache(layout, provider, keep)
    return result


def _link_into_plugin_cache(layout: Layout, provider: Provider, keep: set[str]) -> None:
    """Pre-fill TF_PLUGIN_CACHE_DIR the way `init` would (a symlink to the mirror entry).

    Then concurrent `init`s only ever read the cache; Terraform 1.5 does not lock it.
    """
    for host in REGISTRY_HOSTS:
        mirrored = layout.provider_dir(host, provider.namespace, provider.name, provider.label)
        link = layout.plugin_cache / mirrored.relative_to(layout.mirror)
        provider_root = link.parents[1]
        if provider_root.is_dir():
            for label_dir in provider_root.iterdir():
                if label_dir.name not in keep:  # a label no longer pinned
                    _remove(label_dir)
        if link.is_symlink() and link.resolve() == mirrored.resolve():
            continue
        if link.is_symlink() or link.exists():
            _remove(link)  # a stale entry
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mirrored)


def _remove(path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


def _drop_other_labels(layout: Layout, host: str, provider: Provider, keep: set[str]) -> None:
    """A changed pin must not leave the old version in the mirror next to the new one."""
    provider_root = layout.mirror / host / provider.namespace / provider.name
    if provider_root.is_dir():
        for label_dir in provider_root.iterdir():
            if label_dir.name not in keep:
                shutil.rmtree(label_dir)


def cli_config_text(layout: Layout) -> str:
    # No `direct {}` block: a provider that is not in the mirror fails instead of downloading.
    return (
        "# Written by scripts/testbed install: providers come only from the local mirror.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path = "{layout.mirror}"\n'
        "  }\n"
        "}\n"
    )


def _write_cli_config(layout: Layout) -> None:
    text = cli_config_text(layout)
    if not layout.cli_config.is_file() or layout.cli_config.read_text() != text:
        tmp = layout.cli_config.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, layout.cli_config)


def _ensure_debian_packages(pins: Pins, out) -> None:
    missing = []
    if pgserver.find_binaries(required=False) is None:
        missing.append(pins.debian_packages["postgresql"])
    if shutil.which("openssl") is None:
        missing.append(pins.debian_packages["openssl"])
    if not missing:
        return None
    print(f"missing from the system; apt-get install -y {' '.join(missing)}", file=out, flush=True)
    _apt_install(missing)
    pgserver.find_binaries(required=True)
    if shutil.which("openssl") is None:
        raise AptError("openssl is still not on PATH after apt-get install")
    return None


# image name in <cache>/images -> (image reference, binary in <cache>/bin)
NODE_IMAGES = {
    "pause": ("registry.k8s.io/pause:3.10", "pause"),
    "kubeprobe": ("jetgen.test/kubeprobe:0.1.0", "kubeprobe"),
}


def installed_version(package: str) -> str | None:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", package],
        capture_output=True,
        text=True,
    )
    status, _, version = proc.stdout.partition(" ")
    return version.strip() if proc.returncode == 0 and status.startswith("ii") else None


def _ensure_node_packages(pins: Pins, out) -> None:
    _ensure_pinned(pins.node_packages, out, "node")


def _ensure_pinned(wanted: dict[str, str], out, what: str) -> None:
    """apt-get install what is missing, then check every upstream version."""
    missing = [package for package in wanted if installed_version(package) is None]
    if missing:
        print(f"{what}: apt-get install -y {' '.join(missing)}", file=out, flush=True)
        _apt_install(missing)
    wrong = []
    for package, upstream in wanted.items():
        version = installed_version(package)
        if version is None or not _same_upstream(version, upstream):
            wrong.append(f"{package} {version or 'not installed'} (pinned {upstream})")
    if wrong:
        raise AptError(f"{what} packages at other versions than versions.toml pins: {wrong}")
    return None


def _same_upstream(version: str, upstream: str) -> bool:
    """ "1.6.20~ds1-1+deb12u3" is upstream 1.6.20; "1.6.201-1" is not."""
    return version == upstream or any(version.startswith(upstream + c) for c in "~+-")


def _write_node_images(layout: Layout, pins: Pins) -> None:
    """Pack the node's static programs into image tarballs; rewritten only when changed."""
    for image, (reference, binary) in NODE_IMAGES.items():
        program = layout.bin / binary
        if not program.is_file():
            raise AptError(f"image {reference}: {program} was not built")
        target = layout.image(image)
        files = [ociimage.File(f"/{binary}", program.read_bytes())]
        digest = ociimage.digest(reference, files, [f"/{binary}"])
        stamp = layout.stamps / f"image-{image}"
        if target.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
            continue
        ociimage.write(target, reference, files, [f"/{binary}"])
        layout.stamps.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")
    return None


def _apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise AptError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
