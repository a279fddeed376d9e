"""A burst of creates, then of deletes, through the runtime's two drivers.

    .venv/bin/python benchmarks/plugin_writes.py [--resources N] [--runs R] [--slots S]

Each run creates ``--resources`` ``random_id`` resources (hashicorp/random from the test
bed; a cheap resource, so what is measured is the driver, not the provider), each in its
own workdir, all at once, then destroys them all at once:

- ``cli``: ``CliDriver.apply(saved=False)`` / ``destroy``, a ``tofu`` run (and provider
  process) per resource, ``--slots`` at a time (the controller's default 4);
- ``plugin``: ``PluginDriver.apply(saved=False)`` / ``destroy`` on one shared provider
  process (UpgradeResourceState, ValidateResourceConfig, PlanResourceChange,
  ApplyResourceChange, the state written in the CLI's format).

Printed per driver: the median over runs of the burst's wall time (create, delete) and of
the CPU seconds of this process plus its children (tofu and providers), per resource.
Wrap a run whose figures you report in ``flock /tmp/jetgen-bench.lock``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetgen.runtime import poll  # noqa: E402
from jetgen.runtime.plugindriver import PluginDriver  # noqa: E402
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock  # noqa: E402
from jetgen.runtime.terraform.driver import CliDriver  # noqa: E402

from tests.testbed.bed import Testbed  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """user+sys of this process, of its children that have ended (tofu runs, and their
    providers through them) and of those still running (the shared provider process)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


async def one_run(bed: Testbed, driver_name: str, count: int, slots: int, root: Path):
    cli = CliDriver(binary=str(bed.tofu), root=root, cli_config=str(bed.cli_config), max_runs=slots)

    async def start(binary, env):
        return await poll.start_provider(binary, env, cwd=poll.plugin_cwd(root), rpc_timeout=60)

    pool = poll.ProviderPool(start)
    driver = PluginDriver(cli, pool) if driver_name == "plugin" else cli
    version = bed.providers["random"]
    await driver.prepare("hashicorp/random", version)
    desired = Desired(
        ProviderSetup(source="hashicorp/random", version=version),
        ResourceBlock("random_id", {"byte_length": 8}),
    )
    workdirs = []
    for i in range(count):
        wd = driver.workdir(f"mr-{i}")
        wd.write_desired(desired)
        workdirs.append(wd)
    if driver_name == "plugin":  # the shared process is started and configured once
        await driver.plan(workdirs[0], {})
    try:
        figures = []
        for operation in ("create", "delete"):
            cpu, started = cpu_seconds(), time.monotonic()
            if operation == "create":
                await asyncio.gather(*(driver.apply(wd, {}, saved=False) for wd in workdirs))
            else:
                await asyncio.gather(*(driver.destroy(wd, {}) for wd in workdirs))
            figures.append((time.monotonic() - started, cpu_seconds() - cpu))
        assert all(wd.resource_attributes() is None for wd in workdirs)
        return figures
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    bed = Testbed()
    bed.require_installed()
    print(f"{args.resources} random_id resources at once, {args.runs} runs, "
          f"CLI slots {args.slots}")  # fmt: skip
    for name in ("plugin", "cli"):
        runs = []
        for _ in range(args.runs):
            root = Path(tempfile.mkdtemp(prefix="jetgen-writes-"))
            try:
                runs.append(asyncio.run(one_run(bed, name, args.resources, args.slots, root)))
            finally:
                shutil.rmtree(root, ignore_errors=True)
        for index, operation in enumerate(("create", "delete")):
            wall = statistics.median(r[index][0] for r in runs)
            cpu = statistics.median(r[index][1] for r in runs) / args.resources
            print(f"{name:6} {operation}: {wall:6.2f} s for all, {cpu * 1000:6.1f} CPU-ms each")


if __name__ == "__main__":
    main()
