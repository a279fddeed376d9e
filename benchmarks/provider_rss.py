"""Shared provider process memory over many polls: recycled by RSS, by a count, or never.

    .venv/bin/python benchmarks/provider_rss.py [--polls 20000] [--runs 3]
        [--provider random|linode] [--modes rss,uses,never] [--concurrency 8]

Drives the runtime's own ProviderPool (runtime/poll.py) with its own SchemaCache, as the
controller does, on a real provider binary of the test bed:

- ``random`` (hashicorp/random 3.9.0): each poll is the runtime's real check of a settled
  ``random_id`` (``Poller._compare``: UpgradeResourceState, ReadResource,
  PlanResourceChange), on a state the same provider created;
- ``linode`` (linode/linode 2.37.0, configured against the Linode API stand-in): each
  "poll" is UpgradeResourceState of an LKE cluster's state plus ValidateResourceConfig,
  which need no cloud object (a real read would need a cluster and a Kubernetes API).

Modes: ``rss`` recycles a process grown more than ``--growth`` MiB past its size at start
(the default); ``uses`` recycles after ``--uses`` polls (the behaviour before, emulated by
hiding RSS from the pool); ``never`` does not recycle.  Printed per mode (medians over
``--runs``): RSS of the serving process(es) sampled every 200 polls (median and max), the
recycles, the GetProviderSchema calls, polls per second, and the CPU seconds per recycle
(start + configure of a fresh process, measured on the provider and this process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetgen.runtime import poll  # noqa: E402
from jetgen.runtime.tfplugin.process import tree_rss  # noqa: E402
from jetgen.runtime.tfplugin.rpc import PluginRpc  # noqa: E402
from jetgen.runtime.tfplugin.schemacache import SchemaCache  # noqa: E402

from tests.linode_standin import StandIn  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402

MIB = poll.MIB
SAMPLE_EVERY = 200
LKE_STATE = {
    "id": "1",
    "label": "bench",
    "k8s_version": "1.33",
    "region": "us-east",
    "tags": [],
    "pool": [{"type": "g6-standard-2", "count": 1}],
}
LKE_CONFIG = {"label": "bench", "k8s_version": "1.33", "region": "us-east",
              "pool": [{"type": "g6-standard-2", "count": 1}]}  # fmt: skip


class HiddenRss:
    """A provider whose RSS the pool cannot read: the pool falls back to its use count."""

    def __init__(self, provider: Any):
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    def rss(self) -> None:
        return None


class Run:
    def __init__(self, args: argparse.Namespace, mode: str, binary: Path, config: dict, cwd: Path):
        self.args, self.mode, self.binary, self.config, self.cwd = args, mode, binary, config, cwd
        self.schemas = SchemaCache()
        self.recycles: list[str] = []
        self.starts: list[float] = []  # CPU seconds of each start + configure
        self.pids: list[int] = []
        kw: dict[str, Any] = {"rss_growth": args.growth * MIB, "recycle_after": args.uses}
        if mode == "never":
            kw["rss_growth"] = None
        self.pool = poll.ProviderPool(self.start, on_recycle=self.recycles.append, **kw)

    async def start(self, binary: Path, env: dict[str, str]) -> Any:
        c0 = _self_cpu()
        provider = await poll.start_provider(
            binary, env, cwd=self.cwd, rpc_timeout=60, schemas=self.schemas
        )
        self.pids.append(provider.pid)
        configure = provider.configure

        async def measured_configure(config: dict) -> None:
            await configure(config)
            self.starts.append(_self_cpu() - c0 + _process_cpu(provider.pid))

        provider.configure = measured_configure
        return HiddenRss(provider) if self.mode == "uses" else provider

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], "HOME": str(self.cwd)}

    async def __call__(self, poll_once, schema_calls: int) -> dict[str, float]:
        env = self.env()
        samples: list[float] = []
        done = 0
        began = time.monotonic()
        queue = iter(range(self.args.polls))

        async def worker() -> None:
            nonlocal done
            for _ in queue:
                async with self.pool.use(self.binary, self.config, env) as provider:
                    await poll_once(provider)
                done += 1
                if done % SAMPLE_EVERY == 0:
                    samples.append(self.serving_rss() / MIB)

        await asyncio.gather(*(worker() for _ in range(self.args.concurrency)))
        seconds = time.monotonic() - began
        await self.pool.close()
        return {
            "rss_median": statistics.median(samples),
            "rss_max": max(samples),
            "rss_first": samples[0],
            "recycles": len(self.recycles),
            "schema_calls": PluginRpc.calls["get_schema"] - schema_calls,
            "polls_per_s": self.args.polls / seconds,
            "cpu_per_start": statistics.median(self.starts),
        }

    def serving_rss(self) -> int:
        """RSS of the processes alive now (the serving one, and one draining or starting)."""
        return sum(tree_rss(pid) or 0 for pid in self.pids)


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def random_poll(run: Run):
    """A settled random_id, created by the provider itself, and the runtime's check."""
    env = run.env()
    async with run.pool.use(run.binary, run.config, env) as provider:
        plan = await provider.plan("random_id", None, {"byte_length": 8})
        state, private = await provider.apply("random_id", None, plan, {"byte_length": 8})
    stored = poll.StoredResource("random_id", 0, state, private)
    arguments = {"byte_length": 8}

    async def once(provider: Any) -> None:
        verdict = await poll.Poller._compare(provider, stored, dict(arguments), (), False)
        assert verdict == poll.UNCHANGED, verdict

    return once


async def linode_poll(run: Run):
    async def once(provider: Any) -> None:
        await provider.upgrade_state("linode_lke_cluster", 1, LKE_STATE)
        await provider.validate("linode_lke_cluster", LKE_CONFIG)

    return once


async def one_run(args: argparse.Namespace, mode: str, binary: Path, config: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="jetgen-bench-rss-") as tmp:
        run = Run(args, mode, binary, config, Path(tmp))
        schema_calls = PluginRpc.calls["get_schema"]
        poll_once = await (random_poll(run) if args.provider == "random" else linode_poll(run))
        return await run(poll_once, schema_calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--provider", choices=["random", "linode"], default="random")
    parser.add_argument("--modes", default="rss,uses,never")
    parser.add_argument("--growth", type=int, default=64, help="MiB (mode rss)")
    parser.add_argument("--uses", type=int, default=1000, help="polls (mode uses)")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    bed = Testbed()
    key = "random" if args.provider == "random" else "linode-v2"
    binary = bed.provider_binary(key)
    print(f"{binary.name}: {args.polls} polls x {args.runs} runs, concurrency {args.concurrency}")
    print(f"load average before: {os.getloadavg()}")
    standin = StandIn("bench-token").start() if args.provider == "linode" else None
    config = {"token": "bench-token", "url": standin.url} if standin else {}
    try:
        for mode in args.modes.split(","):
            results = [asyncio.run(one_run(args, mode, binary, config)) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in results) for k in results[0]}
            label = {"rss": f"rss > start + {args.growth} MiB", "uses": f"every {args.uses} polls"}
            print(
                f"{label.get(mode, 'never'):>24}: RSS median {med['rss_median']:6.1f} MiB, "
                f"max {med['rss_max']:6.1f} (first sample {med['rss_first']:.1f}); "
                f"recycles {med['recycles']:g} ({[r['recycles'] for r in results]}); "
                f"GetProviderSchema calls {med['schema_calls']:g}; "
                f"{med['polls_per_s']:.0f} polls/s; "
                f"{med['cpu_per_start'] * 1000:.0f} ms CPU per start+configure"
            )
    finally:
        if standin is not None:
            standin.stop()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
