"""One resource's poll and create: plugin protocol client vs. the tofu CLI.

    .venv/bin/python benchmarks/plugin_read.py [--runs N] [--cli-runs M]

Resource: hashicorp/random's `random_password` (length 16) from the test bed.

- plugin "read"   = one ReadResource RPC on a long-running provider process;
  plugin "create" = PlanResourceChange + ApplyResourceChange.
- tofu "read"     = `tofu plan -refresh-only` in an initialised working directory holding
  the state; tofu "create" = `tofu apply -auto-approve` from an empty state. Each call
  starts tofu and the provider afresh, which is the point of the comparison.

Printed: median wall time, and mean CPU time (user+sys of every process involved: this
Python process and the provider for the plugin client, tofu and its provider for the CLI),
then RSS of the Python client process and of the provider process after the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetgen.runtime.tfplugin.client import ProviderProcess  # noqa: E402

from tests.testbed.bed import Testbed  # noqa: E402

TYPE = "random_password"
CONFIG = {"length": 16}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu(pid: int) -> float:
    """user+sys seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def bench_plugin(binary: Path, runs: int) -> dict:
    started = time.monotonic()
    async with await ProviderProcess.start(binary) as provider:
        await provider.get_schema()
        await provider.configure({})
        startup = time.monotonic() - started

        async def measure(step):
            # CPU is taken over the whole loop: /proc counts the provider's in 10 ms ticks.
            wall, result = [], None
            c0 = self_cpu() + process_cpu(provider.pid)
            for _ in range(runs):
                t0 = time.perf_counter()
                result = await step()
                wall.append(time.perf_counter() - t0)
            cpu = (self_cpu() + process_cpu(provider.pid) - c0) / runs
            return wall, cpu, result

        async def create():
            plan = await provider.plan(TYPE, None, CONFIG)
            return await provider.apply(TYPE, None, plan, CONFIG)

        create_wall, create_cpu, (state, private) = await measure(create)

        async def read():
            return await provider.read(TYPE, state, private)

        read_wall, read_cpu, _ = await measure(read)
        return {
            "startup": startup,
            "read": (read_wall, read_cpu),
            "create": (create_wall, create_cpu),
            "client_rss": rss_mib(),
            "provider_rss": rss_mib(provider.pid),
        }


def bench_tofu(bed: Testbed, runs: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="jetgen-bench-tofu-"))
    config = {
        "terraform": {"required_providers": {"random": {"source": "hashicorp/random"}}},
        "resource": {TYPE: {"bench": CONFIG}},
    }
    (folder / "main.tf.json").write_text(json.dumps(config))
    env = bed.tf_env()

    def tofu(*args: str) -> None:
        subprocess.run(
            [str(bed.tofu), *args, "-input=false", "-no-color"],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
        )

    tofu("init")

    def measure(step) -> tuple[list[float], float]:
        wall = []
        c0 = children_cpu()
        for _ in range(runs):
            t0 = time.perf_counter()
            step()
            wall.append(time.perf_counter() - t0)
        return wall, (children_cpu() - c0) / runs

    def create() -> None:
        (folder / "terraform.tfstate").unlink(missing_ok=True)
        tofu("apply", "-auto-approve", "-lock=false")

    created = measure(create)
    read = measure(lambda: tofu("plan", "-refresh-only", "-lock=false"))
    return {"read": read, "create": created}


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:9.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="plugin client runs per operation")
    parser.add_argument("--cli-runs", type=int, default=7, help="tofu runs per operation")
    args = parser.parse_args()
    bed = Testbed()
    label = bed.providers["random"]
    binary = bed.layout.provider_binary("registry.terraform.io", "hashicorp", "random", label)

    plugin = asyncio.run(bench_plugin(binary, args.runs))
    cli = bench_tofu(bed, args.cli_runs)

    print(
        f"{TYPE} via hashicorp/random {label}; "
        f"medians (plugin n={args.runs}, tofu n={args.cli_runs})"
    )
    print(f"{'':24}{'wall median':>14}{'cpu mean':>14}")
    for op in ("read", "create"):
        for name, result in (("plugin", plugin), ("tofu", cli)):
            wall, cpu = result[op]
            print(f"{name + ' ' + op:24}{median_ms(wall):>14}{cpu * 1000:>11.1f} ms")
    print(f"plugin startup (start + schema + configure): {plugin['startup'] * 1000:.0f} ms")
    print(f"RSS python client process: {plugin['client_rss']:.1f} MiB")
    print(f"RSS provider process:      {plugin['provider_rss']:.1f} MiB")
    per_minute = 500 * plugin["read"][1]
    print(f"500 polls/min as plugin reads: {per_minute / 60:.3f} core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
