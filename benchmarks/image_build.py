"""Build time and size of a reference provider's image, built daemonless by its own
`make image image-tar` (buildah), tofu and the provider from the test bed.

    .venv/bin/python benchmarks/image_build.py [--provider random|linode] [--runs 3]
                                               [--fresh-base]

Each run copies the provider, builds into a fresh buildah store (the Debian-made base
tarball cached in ~/.cache/jetgen/base; `--fresh-base` makes it once first in a new
cache and reports that time), then builds again with nothing changed (buildah's layer
cache). Prints medians, the compressed size (layers in the OCI tarball: what a node pulls)
and the unpacked size of the root filesystem.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.providers import imagebuild, reference  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402

PROVIDERS = {"random": reference.RANDOM, "linode": reference.LINODE}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="random")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fresh-base", action="store_true")
    args = parser.parse_args()
    missing = imagebuild.missing_tools()
    if missing:
        print(f"missing: {' '.join(missing)} (scripts/testbed install)", file=sys.stderr)
        return 1
    testbed = Testbed()
    testbed.require_installed()
    cold, warm, sizes = [], [], []
    with tempfile.TemporaryDirectory(prefix="jetgen-image-bench-") as tmp:
        work = Path(tmp)
        extra: list[str] = []
        if args.fresh_base:  # an empty cache: the first build runs mmdebstrap
            extra = [f"BASE_CACHE={work / 'base'}"]
            first = build(work / "fresh", args.provider, testbed, extra, again=False)[0]
            print(f"first build, base made from Debian packages: {first.seconds:.1f} s")
        for n in range(args.runs):
            first, again = build(work / f"run-{n}", args.provider, testbed, extra, again=True)
            cold.append(first.seconds)
            warm.append(again.seconds)
            bundle = imagebuild.unpack(first.tarball, work / f"unpacked-{n}")
            sizes.append(imagebuild.compressed_bytes(bundle))
            print(
                f"run {n + 1}: {first.seconds:.1f} s fresh store, {again.seconds:.1f} s unchanged,"
                f" {sizes[-1] / 2**20:.1f} MiB compressed",
                flush=True,
            )
        unpacked = sum(
            p.lstat().st_size
            for p in (bundle / "rootfs").rglob("*")
            if p.is_file() and not p.is_symlink()
        )
    print(f"provider-{args.provider}, {len(cold)} runs (medians):")
    print(f"  fresh store (base tarball cached): {statistics.median(cold):.1f} s")
    print(f"  nothing changed (layer cache):     {statistics.median(warm):.1f} s")
    print(
        f"  image: {statistics.median(sizes) / 2**20:.1f} MiB compressed layers,"
        f" {unpacked / 2**20:.1f} MiB unpacked"
    )
    return 0


def build(
    work: Path, provider: str, testbed: Testbed, extra: list[str], again: bool
) -> tuple[imagebuild.Build, imagebuild.Build | None]:
    """One build into a fresh store, and (``again``) a second with nothing changed."""
    repo = reference.copy_tracked(PROVIDERS[provider], work / f"provider-{provider}")
    storage = work / "storage"
    try:
        first = imagebuild.make_image(repo, testbed, storage, *extra)
        second = imagebuild.make_image(repo, testbed, storage, *extra) if again else None
    finally:
        imagebuild.remove_storage(storage)
    return first, second


if __name__ == "__main__":
    sys.exit(main())
