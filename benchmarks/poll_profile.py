"""Where a settled poll's CPU goes: py-spy on the controller while settled MRs poll.

    .venv/bin/python benchmarks/poll_profile.py [--provider random|linode] [--mrs 300]
                                                [--poll 10] [--plain 60] [--windows 1]
                                                [--window 60] [--gil] [--top 0]
                                                [--rate 16] [--out poll-profile.txt]
                                                [--pure-plan]

Needs ``py-spy`` (``.venv/bin/pip install py-spy``).  On a fresh control plane of the test
bed, ``--mrs`` MRs of one kind through one namespaced ProviderConfig and its credentials
Secret:

* ``random`` (the default): hashicorp/random's ``Id``, its kinds.json given one
  credential as linode's has; ``--pure-plan`` declares its plans pure (``purePlan`` in
  jetgen.yaml), so settled polls skip a no-op plan of the same inputs;
* ``linode``: ``linode_domain`` of provider-linode for linode 2.37.0 (the reference
  configuration, which declares it ``purePlan``: a settled poll is one ReadResource),
  with the Linode API stand-in in a process of its own, set up as
  benchmarks/peer_linode.py sets up jetgen's side (its functions; ``--rate`` as there).

Once all are Ready, readings of CPU (the controller, also split user / kernel; the shared
provider processes, recycled ones included; for linode also the stand-in, charged to
neither), plugin polls and RPCs by operation, the controller's own Kubernetes requests
and the apiserver's ``apiserver_request_total``: over the first poll interval (each MR's
first poll after its create), then, half an interval later, over ``--windows`` windows
of ``--plain`` seconds of settled polls without a profiler (the figures to quote; with
more than one, their medians too), then over ``--window`` seconds while py-spy samples
the controller (100 Hz, idle samples left out, ``--nonblocking``; with ``--gil`` only
samples holding the GIL, which leaves out a thread blocked in a syscall or waiting for
a CPU inside one: without it a socket send that wakes the provider counts as busy
for as long as the controller waits to run again).  Printed: CPU-ms per poll of each
window, requests and RPCs per poll, and the controller's samples split into parts (see
``PARTS``); with ``--top N`` also the N functions of jetgen's runtime found in the most
samples (inclusive).  The raw stacks go to ``--out`` (py-spy's raw collapsed format).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import kubeload, peer_linode  # noqa: E402
from benchmarks.common import (  # noqa: E402
    Bench,
    Metrics,
    bench,
    commit,
    cpu_seconds,
    cpu_user_system,
    load,
    processes_in,
)
from tests.linode_standin import RemoteStandIn  # noqa: E402
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
    ("reconcile other", r"runtime/(?!operator\.|serving\.|schedule|cli\.)\w+\.py|runtime/\w+/"),
    ("kopf/scheduler", r"kopf/|runtime/(operator|serving|schedule|scheduler)\.py"),
]


def part_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for part, pattern in PARTS:
            if re.search(pattern, frame):
                return part
    return "event loop"


@dataclass
class Setup:
    """What one provider's set-up leaves running: its MRs being made Ready."""

    collection: str  # the MRs' list path on the apiserver
    ctl: harness.Controller
    cwd: Path  # where the shared provider processes run
    standin: RemoteStandIn | None = None  # linode: the API stand-in, and its process
    standin_pid: int | None = None


def random_objects(ns: str, config_api: str, count: int) -> list[dict]:
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


def random_setup(b: Bench, args: argparse.Namespace, _: ExitStack) -> Setup:
    """hashicorp/random's Id with one credential, as linode_domain has."""
    provider = b.generate("random")
    info = json.loads(harness.kinds_file(provider).read_text())
    info["credentials"] = [{"key": "token", "env": "JETGEN_BENCH_TOKEN"}]
    if args.pure_plan:  # left out otherwise, as the generator does
        for kind in info["kinds"]:
            kind["pure_plan"] = True
    kinds = b.work / "kinds.json"
    kinds.write_text(json.dumps(info))
    ctl = b.controller(kinds, poll=args.poll, extra_args=["--metrics-port", str(METRICS_PORT)])
    ns = b.api.create_namespace("profile")
    config_api = f"{info['config_group']}/{info['config_version']}"
    b.api.apply(random_objects(ns, config_api, args.mrs))
    return Setup(
        f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/ids", ctl, b.work / "workdirs" / ".plugin-cwd"
    )


def linode_setup(b: Bench, args: argparse.Namespace, stack: ExitStack) -> Setup:
    """linode_domain, 2.37.0, against the stand-in: peer_linode.py's jetgen side."""
    generated = peer_linode.generate_jetgen(b.bed, b.work)
    side = peer_linode.jetgen_side(generated, b.bed, args)
    peer_linode.install_crds(b.api, side.crds)
    token = f"lin-{secrets.token_hex(16)}"
    proc, standin = peer_linode.start_stand_in(token, b.work)
    stack.callback(peer_linode.stop, proc)
    side.install(b.api, standin.url, token)
    ctl = peer_linode.jetgen_controller(
        generated, b.api, b.bed, b.work, poll=args.poll, rate=args.rate,
        extra_args=("--metrics-port", str(METRICS_PORT)),
    )  # fmt: skip
    b.controllers.append(ctl)  # stopped with the bench, before the stand-in
    manifests = [side.manifest(f"d-{i:05d}") for i in range(args.mrs)]
    kubeload.create_all(b.api, side.collection, manifests, 8)
    cwd = b.work / "workdirs" / ".plugin-cwd"
    return Setup(side.collection, ctl, cwd, standin, proc.pid)


SETUPS: dict[str, Callable[[Bench, argparse.Namespace, ExitStack], Setup]] = {
    "random": random_setup,
    "linode": linode_setup,
}


def ready(api, collection: str) -> int:
    status, text = api.http_get(collection)
    if status != 200:
        return 0
    return sum(1 for o in json.loads(text)["items"] if harness.is_ready(o))


def polls(metrics: Metrics) -> int:
    return sum(metrics.polls(r) for r in ("unchanged", "gone", "drift", "error"))


def rpcs(metrics: Metrics) -> Counter[str]:
    """Plugin-protocol calls the controller made so far, by operation."""
    pattern = r'jetgen_plugin_rpcs_total\{operation="(\w+)"\} (\S+)'
    return Counter({op: int(float(n)) for op, n in re.findall(pattern, metrics.text())})


@dataclass
class Figures:
    """One window's CPU per poll: the controller, the shared provider processes."""

    seconds: float
    polls: int
    controller: float  # CPU-seconds
    providers: float  # CPU-seconds

    def ms(self, cpu: float) -> float:
        return cpu / max(self.polls, 1) * 1000


class Reading:
    """CPU, polls and requests from a start to whenever ``report`` is called."""

    def __init__(self, setup: Setup, metrics: Metrics, api) -> None:
        assert setup.ctl.proc is not None
        self.pid, self.cwd, self.metrics, self.api = setup.ctl.proc.pid, setup.cwd, metrics, api
        self.setup = setup
        self.started = time.monotonic()
        self.own, self.children = cpu_seconds(self.pid)
        self.system = cpu_user_system(self.pid)[1]
        self.providers = {p: cpu_seconds(p)[0] for p in processes_in(self.cwd)}
        self.polls, self.kube = polls(metrics), own_requests(metrics)
        self.rpcs = rpcs(metrics)
        self.served = apiserver_requests(api)
        self.standin = self._standin()

    def _standin(self) -> tuple[float, int]:
        """(CPU-seconds, calls answered) of the stand-in, if there is one."""
        if self.setup.standin is None or self.setup.standin_pid is None:
            return 0.0, 0
        return cpu_seconds(self.setup.standin_pid)[0], self.setup.standin.call_count()

    def report(self, label: str) -> Figures:
        """Prints the figures and returns them."""
        seconds = time.monotonic() - self.started
        own, children = cpu_seconds(self.pid)
        now = {p: cpu_seconds(p)[0] for p in processes_in(self.cwd)}
        # A provider recycled meanwhile was reaped by the controller: its whole CPU time
        # moved into the controller's children figure, of which only the window's is ours.
        gone = sum(cpu for p, cpu in self.providers.items() if p not in now)
        prov = children - self.children - gone
        prov += sum(cpu - self.providers.get(p, 0.0) for p, cpu in now.items())
        own -= self.own
        system = cpu_user_system(self.pid)[1] - self.system
        n = polls(self.metrics) - self.polls
        kube = own_requests(self.metrics) - self.kube
        calls = rpcs(self.metrics) - self.rpcs
        after = apiserver_requests(self.api)
        served = {k: v - self.served.get(k, 0) for k, v in after.items()}
        shown = ", ".join(
            f"{verb} {res} {v / max(n, 1):.2f}"
            for (verb, res), v in sorted(served.items())
            if v > 0 and res not in ("endpoints", "leases", "")
        )
        figures = Figures(seconds, n, own, prov)
        print(
            f"{label}, {seconds:.0f}s: {n} plugin polls; controller {own / seconds:.3f} "
            f"cores = {figures.ms(own):.2f} ms per poll; providers (shared, recycled) "
            f"{prov / seconds:.3f} cores = {figures.ms(prov):.2f} ms per poll"
        )
        print(
            f"  controller user {figures.ms(own - system):.2f} + system (kernel) "
            f"{figures.ms(system):.2f} ms per poll"
        )
        print(f"  controller's own Kubernetes requests per poll: {kube / max(n, 1):.2f}")
        made = ", ".join(f"{op} {v / max(n, 1):.2f}" for op, v in sorted(calls.items()))
        print(f"  plugin RPCs per poll: {made or 'none'}")
        print(f"  apiserver requests per poll (resources, all clients): {shown or 'none'}")
        if self.setup.standin is not None:
            cpu, calls = (b - a for a, b in zip(self.standin, self._standin(), strict=True))
            print(
                f"  stand-in (charged to neither): {calls / max(n, 1):.2f} API calls per poll, "
                f"{figures.ms(cpu):.2f} ms CPU per poll"
            )
        return figures


def print_medians(windows: list[Figures]) -> None:
    def median(get: Callable[[Figures], float]) -> float:
        return statistics.median(get(f) for f in windows)

    controller = median(lambda f: f.ms(f.controller))
    providers = median(lambda f: f.ms(f.providers))
    total = median(lambda f: f.ms(f.controller + f.providers))
    runs = "; ".join(f"{f.ms(f.controller):.2f} + {f.ms(f.providers):.2f}" for f in windows)
    print(
        f"settled, median of {len(windows)} windows: controller {controller:.2f} + providers "
        f"{providers:.2f} ms per poll (total {total:.2f}; windows: {runs})"
    )


def profile(spy: str, pid: int, args: argparse.Namespace, reading: Reading) -> None:
    """py-spy on the controller for ``--window`` seconds; its samples by part."""
    subprocess.run(
        [spy, "record", "--pid", str(pid), "--duration", str(args.window), "--rate", "100",
         "--format", "raw", "--output", str(args.out), "--nonblocking",
         *(["--gil"] if args.gil else [])],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    figures = reading.report(f"settled, {args.window}s under py-spy")
    per_poll = figures.ms(figures.controller)
    samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in args.out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[part_of(stack)] += int(count)
        # Each function of ours once per stack, however often it recurs there.
        for function in {short(f) for f in stack.split(";") if RUNTIME_FRAME.search(f)}:
            inclusive[function] += int(count)
    total = sum(samples.values())
    print(f"  controller samples: {total} (py-spy, 100 Hz, stacks in {args.out})")
    for part, count in samples.most_common():
        print(f"    {part:17s} {count / total:6.1%}  ~{per_poll * count / total:5.2f} ms per poll")
    if args.top:
        print(f"  jetgen's runtime, the {args.top} functions in most samples (inclusive):")
        for frame, count in inclusive.most_common(args.top):
            print(f"    {count / total:6.1%}  {frame}")


# jetgen's runtime below its entry point (cli.py's main is in every sample).
RUNTIME_FRAME = re.compile(r"[(/]runtime/(?!cli\.py)[\w/]+\.py:")


def short(frame: str) -> str:
    """``function (path:line)`` as ``function (runtime/...)``: one entry per function."""
    return re.sub(r"\((?:\S*/)?(runtime/[^:]+):\d+\)", r"(\1)", frame)


def measure(b: Bench, args: argparse.Namespace, spy: str, stack: ExitStack) -> None:
    api = b.api
    setup = SETUPS[args.provider](b, args, stack)
    metrics = Metrics(METRICS_PORT)
    harness.wait_for(
        f"{args.mrs} Ready", lambda: ready(api, setup.collection) == args.mrs, 1800, every=2
    )
    # The first poll interval after Ready holds each MR's first poll after its create
    # (the window docs/peer.md measured); the next ones are settled.
    first = Reading(setup, metrics, api)
    time.sleep(args.poll)
    first.report(f"first {args.poll:g}s after all Ready (no profiler)")
    time.sleep(args.poll / 2)
    windows = []
    for i in range(args.windows if args.plain > 0 else 0):
        plain = Reading(setup, metrics, api)
        time.sleep(args.plain)
        windows.append(plain.report(f"settled window {i + 1}, {args.plain}s (no profiler)"))
    if len(windows) > 1:
        print_medians(windows)
    if args.window > 0:
        assert setup.ctl.proc is not None
        profile(spy, setup.ctl.proc.pid, args, Reading(setup, metrics, api))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=sorted(SETUPS), default="random")
    parser.add_argument("--mrs", type=int, default=300)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=60, help="seconds under py-spy (0: none)")
    parser.add_argument("--plain", type=int, default=60, help="settled seconds, no profiler")
    parser.add_argument("--windows", type=int, default=1, help="how many --plain windows")
    parser.add_argument("--top", type=int, default=0, help="list the N busiest functions")
    parser.add_argument(
        "--gil", action="store_true", help="py-spy: only samples holding the GIL (no syscalls)"
    )
    parser.add_argument("--rate", type=int, default=16, help="linode: as in peer_linode.py")
    parser.add_argument("--out", type=Path, default=Path("poll-profile.txt"))
    parser.add_argument("--pure-plan", action="store_true", help="random: its plans are pure")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    print(f"commit {commit()}; load before: {load()}; {args.provider}, {args.mrs} MRs, "
          f"poll {args.poll:g} s")  # fmt: skip
    with bench(f"profile-{args.provider}") as b, ExitStack() as stack:
        measure(b, args, spy, stack)
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
