"""Where a settled poll's CPU goes: py-spy on the controller while random Ids poll.

    .venv/bin/python benchmarks/poll_profile.py [--mrs 300] [--poll 10] [--window 60]
                                                [--plain 60] [--out poll-profile.txt]
                                                [--pure-plan]

Needs ``py-spy`` (``.venv/bin/pip install py-spy``).  On a fresh control plane of the test
bed, hashicorp/random's ``Id`` (its kinds.json given one credential, as linode's has) gets
``--mrs`` MRs through one namespaced ProviderConfig and its credentials Secret, as
benchmarks/peer_linode.py sets up linode_domain.  Once all are Ready, two readings of
CPU (the controller; the shared provider processes, recycled ones included), plugin polls,
the controller's own Kubernetes requests and the apiserver's ``apiserver_request_total``:
over the first poll interval (each MR's first poll after its create), then, half an
interval later, over ``--plain`` seconds of settled polls without a profiler (the figure
to quote), then over ``--window`` seconds while py-spy samples the controller (100 Hz,
idle samples left out, ``--nonblocking``).  Printed: CPU-ms per poll
of each, requests per poll by verb and resource, and the controller's samples split into
parts (see ``PARTS``); the raw stacks go to ``--out`` (py-spy's collapsed format).
``--pure-plan`` declares the kind's plans pure (``purePlan`` in jetgen.yaml), so settled
polls skip a no-op plan of the same inputs.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Metrics, bench, cpu_seconds, processes_in  # noqa: E402
from tests.runtime import harness  # noqa: E402
from tests.runtime.random_mrs import GROUP  # noqa: E402
from tests.runtime.scrape import apiserver_requests, own_requests  # noqa: E402

METRICS_PORT = 18097

# (part, pattern on "function (file:line)"), most specific first.  A sample counts for the
# part of its innermost frame that matches one; frames of the standard library (asyncio,
# json, copy, pathlib, ...) pass the sample on to their caller, so a socket write made for
# grpclib counts as gRPC; a sample of nothing but the event loop is "event loop".
PARTS = [
    ("logging", r"logging/|runtime/logs\.py"),
    ("grpc/http2", r"grpclib/|/h2/|hpack/|multidict"),
    ("protobuf", r"google/protobuf|_pb2"),
    ("msgpack/cty", r"msgpack|runtime/tfplugin/(cty|plan|schema)\.py"),
    # Our transport joins a turn's frames and sends them (tfplugin/transport.py).
    ("socket writes", r"runtime/tfplugin/transport\.py"),
    ("plugin client", r"runtime/tfplugin/|runtime/poll\.py"),
    ("kube client/cache", r"runtime/(kube|kubeauth|cache)\.py|aiohttp"),
    ("metrics", r"prometheus_client|runtime/metrics\.py"),
    (
        "status/Secret",
        r"Reconciler\._(persist|report|write_status)|runtime/(connection|conditions)",
    ),
    (
        "render/digest",
        r"Workdir\.write_desired|runtime/(render|references|transforms|literal)"
        r"|runtime/terraform/(desired|credentials)",
    ),
    ("state load", r"Reconciler\._restore|runtime/terraform/(workdir|tfstate)|runtime/state\.py"),
    ("reconcile other", r"runtime/(?!operator|serving|schedule|cli)\w+\.py|runtime/\w+/"),
    ("kopf", r"kopf/|runtime/(operator|serving|schedule)\.py"),
]


def part_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for part, pattern in PARTS:
            if re.search(pattern, frame):
                return part
    return "event loop"


def objects(ns: str, config_api: str, count: int) -> list[dict]:
    found: list[dict] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns},
            "stringData": {"token": "not-a-real-token"},
        },
        {
            "apiVersion": config_api,
            "kind": "ProviderConfig",
            "metadata": {"name": "cfg", "namespace": ns},
            "spec": {"credentials": {"source": "Secret", "secretRef": {"name": "creds"}}},
        },
    ]
    for i in range(count):
        found.append(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "Id",
                "metadata": {"name": f"id{i:04d}", "namespace": ns},
                "spec": {
                    "providerConfigRef": {"kind": "ProviderConfig", "name": "cfg"},
                    "forProvider": {"byteLength": 4},
                },
            }
        )
    return found


def ready(api, ns: str) -> int:
    status, text = api.http_get(f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/ids")
    if status != 200:
        return 0
    return sum(1 for o in json.loads(text)["items"] if harness.is_ready(o))


def polls(metrics: Metrics) -> int:
    return sum(metrics.polls(r) for r in ("unchanged", "gone", "drift", "error"))


class Reading:
    """CPU, polls and requests from a start to whenever ``report`` is called."""

    def __init__(self, pid: int, cwd: Path, metrics: Metrics, api) -> None:
        self.pid, self.cwd, self.metrics, self.api = pid, cwd, metrics, api
        self.started = time.monotonic()
        self.own, self.children = cpu_seconds(pid)
        self.providers = {p: cpu_seconds(p)[0] for p in processes_in(cwd)}
        self.polls, self.kube = polls(metrics), own_requests(metrics)
        self.served = apiserver_requests(api)

    def report(self, label: str) -> tuple[float, int]:
        """Prints the figures; returns (controller CPU-seconds, polls)."""
        seconds = time.monotonic() - self.started
        own, children = cpu_seconds(self.pid)
        now = {p: cpu_seconds(p)[0] for p in processes_in(self.cwd)}
        # A provider recycled meanwhile was reaped by the controller: its whole CPU time
        # moved into the controller's children figure, of which only the window's is ours.
        gone = sum(cpu for p, cpu in self.providers.items() if p not in now)
        prov = children - self.children - gone
        prov += sum(cpu - self.providers.get(p, 0.0) for p, cpu in now.items())
        own -= self.own
        n = polls(self.metrics) - self.polls
        kube = own_requests(self.metrics) - self.kube
        after = apiserver_requests(self.api)
        served = {k: v - self.served.get(k, 0) for k, v in after.items()}
        shown = ", ".join(
            f"{verb} {res} {v / max(n, 1):.2f}"
            for (verb, res), v in sorted(served.items())
            if v > 0 and res not in ("endpoints", "leases", "")
        )
        print(
            f"{label}, {seconds:.0f}s: {n} plugin polls; controller {own / seconds:.3f} "
            f"cores = {own / max(n, 1) * 1000:.1f} ms per poll; providers (shared, recycled) "
            f"{prov / seconds:.3f} cores = {prov / max(n, 1) * 1000:.1f} ms per poll"
        )
        print(f"  controller's own Kubernetes requests per poll: {kube / max(n, 1):.2f}")
        print(f"  apiserver requests per poll (resources, all clients): {shown or 'none'}")
        return own, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=300)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--plain", type=int, default=60, help="settled seconds, no profiler")
    parser.add_argument("--out", type=Path, default=Path("poll-profile.txt"))
    parser.add_argument("--pure-plan", action="store_true", help="the kind's plans are pure")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with bench("profile") as b:
        api = b.api
        provider = b.generate("random")
        info = json.loads(harness.kinds_file(provider).read_text())
        info["credentials"] = [{"key": "token", "env": "JETGEN_BENCH_TOKEN"}]
        if args.pure_plan:  # left out otherwise, as the generator does
            for kind in info["kinds"]:
                kind["pure_plan"] = True
        kinds = b.work / "kinds.json"
        kinds.write_text(json.dumps(info))
        ctl = b.controller(kinds, poll=args.poll, extra_args=["--metrics-port", str(METRICS_PORT)])
        metrics = Metrics(METRICS_PORT)
        ns = api.create_namespace("profile")
        api.apply(objects(ns, f"{info['config_group']}/{info['config_version']}", args.mrs))
        harness.wait_for(f"{args.mrs} Ready", lambda: ready(api, ns) == args.mrs, 1800, every=2)
        cwd = b.work / "workdirs" / ".plugin-cwd"
        pid = ctl.proc.pid
        # The first poll interval after Ready holds each MR's first poll after its create
        # (the window docs/peer.md measured); the next ones are settled.
        first = Reading(pid, cwd, metrics, api)
        time.sleep(args.poll)
        first.report(f"first {args.poll:g}s after all Ready (no profiler)")
        time.sleep(args.poll / 2)
        if args.plain > 0:
            plain = Reading(pid, cwd, metrics, api)
            time.sleep(args.plain)
            plain.report(f"settled, {args.plain}s (no profiler)")
        settled = Reading(pid, cwd, metrics, api)
        subprocess.run(
            [spy, "record", "--pid", str(pid), "--duration", str(args.window), "--rate", "100",
             "--format", "raw", "--output", str(args.out), "--nonblocking"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        own, n = settled.report(f"settled, {args.window}s under py-spy")
        samples: Counter[str] = Counter()
        for line in args.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            samples[part_of(stack)] += int(count)
        total = sum(samples.values())
        print(f"  controller samples: {total} (py-spy, 100 Hz, stacks in {args.out})")
        for part, count in samples.most_common():
            print(
                f"    {part:15s} {count / total:6.1%}  ~{own / n * 1000 * count / total:5.1f} ms"
                " per poll"
            )
        return 0


if __name__ == "__main__":
    sys.exit(main())
