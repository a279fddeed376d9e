"""CPU of a settled poll's plugin-protocol part: the client process and the provider, apart.

    .venv/bin/python benchmarks/poll_rpc.py [--mrs 300] [--polls 3000] [--runs 3]
                                            [--concurrency 16] [--type random_id]
                                            [--pure-plan]

What `poll.Poller` does for a settled MR once it has a provider process, on the test bed's
hashicorp/random: ``--mrs`` resources of ``--type`` are created over the plugin protocol
(PlanResourceChange + ApplyResourceChange), their states kept in the JSON form a state
file holds; then ``--polls`` checks (``Poller._compare``: the RPCs, the cty coding and the
comparison) run over them round-robin, ``--concurrency`` at a time as the controller runs
them, on one long-lived provider process (``--pure-plan``: as for a kind declared
``purePlan``, a no-op plan of the same inputs is not asked again).  Printed per run:
CPU-ms per poll of this process (``getrusage``) and of the provider (``/proc``, 10 ms
ticks: hence thousands of polls), and the RPCs per poll by operation; then the medians
over ``--runs`` runs (each on a fresh provider process).  No Kubernetes, no kopf: the
controller's pass around the check is benchmarks/poll_profile.py's part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetgen.runtime.poll import UNCHANGED, Poller, StoredResource  # noqa: E402
from jetgen.runtime.tfplugin.client import ProviderProcess  # noqa: E402
from jetgen.runtime.tfplugin.rpc import PluginRpc  # noqa: E402
from jetgen.runtime.tfplugin.schemacache import SchemaCache  # noqa: E402

from tests.testbed.bed import Testbed  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
CONFIGS = {
    "random_id": {"byte_length": 4},
    "random_password": {"length": 16},
    "random_pet": {"length": 2},
}


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def created(provider: ProviderProcess, type_name: str, count: int) -> list[StoredResource]:
    """``count`` new resources, each as its state file would hold it."""
    config = CONFIGS[type_name]
    version = (await provider.get_schema())["resource_schemas"][type_name].get("version", 0)
    found = []
    for _ in range(count):
        plan = await provider.plan(type_name, None, config)
        state, private = await provider.apply(type_name, None, plan, config)
        attributes = json.loads(json.dumps(state))  # the state file's JSON form
        found.append(StoredResource(type_name, version, attributes, private))
    return found


async def one_run(binary: Path, args: argparse.Namespace) -> tuple[float, float, Counter[str]]:
    """(client ms, provider ms, RPCs) per poll, on a fresh provider process."""
    provider = await ProviderProcess.start(binary, schemas=SchemaCache())
    async with provider:
        await provider.configure({})
        stored = await created(provider, args.type, args.mrs)
        arguments = CONFIGS[args.type]
        slots = asyncio.Semaphore(args.concurrency)
        # One provider configuration; passed only with --pure-plan, so that the script
        # also measures a tree before the plan memo (poll_rpc.py copied into it).
        setup = ("bench",) if args.pure_plan else ()

        async def check(item: StoredResource) -> None:
            async with slots:
                verdict = await Poller._compare(provider, item, dict(arguments), (), False, *setup)
            if verdict != UNCHANGED:
                raise SystemExit(f"a settled {args.type} polled as {verdict}")

        await asyncio.gather(*(check(item) for item in stored))  # warm-up: one poll each
        calls = Counter(PluginRpc.calls)
        cpu, provider_cpu = own_cpu(), process_cpu(provider.pid)
        await asyncio.gather(*(check(stored[i % len(stored)]) for i in range(args.polls)))
        cpu, provider_cpu = own_cpu() - cpu, process_cpu(provider.pid) - provider_cpu
        rpcs = Counter(PluginRpc.calls)
        rpcs.subtract(calls)
    return cpu * 1000 / args.polls, provider_cpu * 1000 / args.polls, rpcs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=300)
    parser.add_argument("--polls", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--type", choices=sorted(CONFIGS), default="random_id")
    parser.add_argument("--pure-plan", action="store_true", help="skip repeated no-op plans")
    args = parser.parse_args()
    bed = Testbed()
    binary = bed.provider_binary("random")
    print(
        f"{args.type} on hashicorp/random {bed.providers['random']}: {args.mrs} MRs, "
        f"{args.polls} polls a run, {args.concurrency} at once"
    )
    clients, providers = [], []
    for run in range(args.runs):
        client, prov, rpcs = asyncio.run(one_run(binary, args))
        clients.append(client)
        providers.append(prov)
        per_poll = ", ".join(f"{op} {n / args.polls:.2f}" for op, n in sorted(rpcs.items()) if n)
        print(
            f"run {run + 1}: client {client:.3f} ms, provider {prov:.3f} ms, "
            f"in all {client + prov:.3f} ms per poll; RPCs per poll: {per_poll}"
        )
    client, prov = statistics.median(clients), statistics.median(providers)
    print(
        f"median of {args.runs}: client {client:.3f} ms + provider {prov:.3f} ms "
        f"= {client + prov:.3f} ms of CPU per settled poll"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
