"""Scale: one controller with 1,000 to 10,000 managed resources of a cheap provider.

    .venv/bin/python benchmarks/scale.py [--mrs 1000,5000,10000] [--polls 60,600]
        [--burst 1000] [--window 120] [--runs 1] [--max-runs 4] [--concurrency 32]

Everything is real: the test bed's etcd, kube-apiserver and controller manager; the CRDs of
the reference provider-random (providers/provider-random) and its ClusterProviderConfig;
its controller as a process (``python -m jetgen.runtime.cli``, what ``jetgen-runtime``
runs), tofu and hashicorp/random 3.9.0 from the test bed's mirror.  The MRs are random_id
(kind ``ID``, 4 bytes): the provider makes them up locally, so what is measured is the
controller, its provider processes, the apiserver and etcd.

Each run starts a fresh control plane and does, in order:

1. **burst**: with the controller running (poll = the first of ``--polls``) and warmed up
   by one MR, ``--burst`` new MRs are created at once (parallel POSTs from here): seconds
   from each MR's creation to Ready (p50/p90/p99/max), until all are Ready, and the
   apiserver requests the burst cost, per new MR, by verb and resource;
2. for each N of ``--mrs``: grow to N MRs the same way (set-up seconds printed), then for
   each poll interval P of ``--polls``: restart the controller with P.  For the first P
   (``--settle-polls`` names others) time its **settle**: until every MR has had a pass
   and no Terraform run is queued or running.  The controller deliberately spreads the
   first passes of settled MRs over one poll interval, so settle is at least about P;
   more than that is backlog.  For the other intervals the window starts once the
   controller has done the passes of ``--start-wait`` seconds of steady state (N x
   start-wait / P): the spread first passes then come at the steady state's rate, N/P
   per second.  Then a **window** of
   ``--window`` seconds: RSS of the controller and of its child processes (provider
   processes, Terraform runs), median and peak of 1 s samples; CPU of the controller, its
   children, kube-apiserver and etcd (/proc, over the window); the apiserver's requests
   per second (``apiserver_request_total``), by verb and resource.

With ``--runs`` > 1 the figures are printed per run, then as medians over the runs.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import kubeload  # noqa: E402
from benchmarks.common import (  # noqa: E402
    REPO,
    Bench,
    Metrics,
    bench,
    cpu_seconds,
    descendants,
    processes_in,
    rss_mib,
)
from tests.testbed.processes import free_port  # noqa: E402

PROVIDER = REPO / "providers" / "provider-random"
KINDS = PROVIDER / "random_provider" / "kinds.json"
GROUP = "random.m.jetgen.dev"
PLURAL = "ids"
PERCENTILES = ("p50", "p90", "p99", "max")


def mr(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "ID",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"forProvider": {"byteLength": 4}},
    }


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@dataclass
class Cluster:
    """The scale benchmark's view of one control plane with the provider's CRDs."""

    bench: Bench
    namespace: str
    args: argparse.Namespace
    watch: kubeload.ReadyWatch
    names: list[str] = field(default_factory=list)
    ctl: Any = None
    metrics: Metrics | None = None

    @property
    def path(self) -> str:
        return f"/apis/{GROUP}/v1alpha1/namespaces/{self.namespace}/{PLURAL}"

    def start_controller(self, poll: float) -> float:
        """(Re)start the controller with poll interval ``poll``; returns its start time."""
        if self.ctl is not None:
            self.ctl.stop()
        port = free_port()
        self.metrics = Metrics(port)
        started = time.monotonic()
        self.ctl = self.bench.controller(
            KINDS,
            poll=poll,
            namespace=self.namespace,
            extra_args=[
                *("--metrics-port", str(port), "--max-runs", str(self.args.max_runs)),
                *self.args.controller_arg,
            ],
            env={"PYTHONPATH": str(PROVIDER)},  # the provider's hooks module, `config`
            log=f"controller-{len(self.bench.controllers)}.log",
        )
        return started

    def create(self, count: int) -> tuple[list[str], dict[str, float], float]:
        """``count`` new MRs at once: (their names, when each was created, seconds)."""
        first = len(self.names)
        names = [f"id-{i:05d}" for i in range(first, first + count)]
        started = time.monotonic()
        objects = [mr(n, self.namespace) for n in names]
        created = kubeload.create_all(self.bench.api, self.path, objects, self.args.concurrency)
        self.names += names
        return names, created, time.monotonic() - started


# --- measuring ---------------------------------------------------------------------------


def passes(metrics: Metrics) -> int:
    """Reconcile passes the controller finished (all kinds and results)."""
    text = metrics.text()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("jetgen_reconcile_duration_seconds_count")
    )


def rate_limit_wait(metrics: Metrics) -> float:
    """Seconds the controller's requests have waited for its client-side rate limit."""
    for line in metrics.text().splitlines():
        if line.startswith("jetgen_kube_rate_limit_wait_seconds_total"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def busy(metrics: Metrics) -> bool:
    return (
        metrics.gauge("jetgen_terraform_queue_depth") > 0
        or metrics.gauge("jetgen_terraform_runs_in_flight") > 0
    )


def settle(cluster: Cluster, started: float, timeout: float) -> float | None:
    """Seconds from ``started`` until every MR had a pass and nothing is queued or
    running; infinity on timeout."""
    assert cluster.metrics is not None
    want = len(cluster.names)
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            done = passes(cluster.metrics) >= want and not busy(cluster.metrics)
        except OSError:
            done = False  # metrics not served yet
        if done and cluster.watch.count_ready() >= want:
            return time.monotonic() - started
        time.sleep(0.5)
    return math.inf


def started_passes(cluster: Cluster, poll: float, seconds: float, timeout: float) -> None:
    """Wait until the restarted controller has done the passes its first ``seconds`` of
    steady state would (N * seconds / poll, at least one): kopf has then taken up every
    object (that takes a while with thousands) and the spread first passes flow."""
    assert cluster.metrics is not None
    want = max(1, int(len(cluster.names) * seconds / poll))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if passes(cluster.metrics) >= want:
                return
        except OSError:
            pass  # metrics not served yet
        time.sleep(0.5)


class Sampler(threading.Thread):
    """RSS every second: the controller, its descendants, apiserver and etcd."""

    def __init__(self, ctl_pid: int, servers: dict[str, int]):
        super().__init__(daemon=True)
        self.ctl_pid = ctl_pid
        self.servers = servers
        self.samples: dict[str, list[float]] = {"controller": [], "children": []}
        self.samples.update({name: [] for name in servers})
        self.children_count: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            children = descendants(self.ctl_pid)
            self.samples["controller"].append(rss_mib(self.ctl_pid))
            self.samples["children"].append(sum(rss_mib(p) for p in children))
            self.children_count.append(len(children))
            for name, pid in self.servers.items():
                self.samples[name].append(rss_mib(pid))


def _tree_cpu(root: int) -> dict[int, float]:
    """Own + reaped-children CPU-seconds of each live descendant of ``root``."""
    return {pid: sum(cpu_seconds(pid)) for pid in descendants(root)}


class CpuMeter:
    """CPU-seconds used between start and :meth:`read` by the controller, its descendants
    (Terraform runs, provider processes) and each server of the control plane."""

    def __init__(self, cluster: Cluster):
        assert cluster.ctl is not None
        self.pid = cluster.ctl.proc.pid
        self.servers = {s.name: s.pid for s in cluster.bench.plane.servers}
        self.own, self.reaped = cpu_seconds(self.pid)
        self.tree = _tree_cpu(self.pid)
        self.server = {name: cpu_seconds(p)[0] for name, p in self.servers.items()}

    def read(self) -> dict[str, float]:
        own, reaped = cpu_seconds(self.pid)
        tree = _tree_cpu(self.pid)
        # Children: what live ones used (from 0 if born since the start) plus what the
        # controller reaped, minus what reaped ones had used before the start.
        children = sum(tree.values()) - sum(self.tree.values()) + (reaped - self.reaped)
        return {
            "controller": own - self.own,
            "children": max(children, 0.0),
            **{name: cpu_seconds(pid)[0] - self.server[name] for name, pid in self.servers.items()},
        }


def window(cluster: Cluster, seconds: float) -> dict[str, Any]:
    """Measure ``seconds`` of the running controller (see the module docstring)."""
    assert cluster.ctl is not None and cluster.metrics is not None
    pid = cluster.ctl.proc.pid
    servers = {s.name: s.pid for s in cluster.bench.plane.servers}
    api = cluster.bench.api
    requests0 = kubeload.request_counts(api)
    polls0 = cluster.metrics.polls("unchanged")
    runs0 = sum(cluster.metrics.terraform_runs().values())
    cpu = CpuMeter(cluster)
    sampler = Sampler(pid, {k: v for k, v in servers.items() if k != "kube-controller-manager"})
    started = time.monotonic()
    sampler.start()
    time.sleep(seconds)
    sampler.stopped.set()
    sampler.join()
    elapsed = time.monotonic() - started
    used = cpu.read()
    requests = kubeload.diff(kubeload.request_counts(api), requests0)
    return {
        "seconds": elapsed,
        "cores": {name: value / elapsed for name, value in used.items()},
        "rss": {
            name: (statistics.median(values), max(values))
            for name, values in sampler.samples.items()
            if values
        },
        "children": max(sampler.children_count, default=0),
        "shared_providers": len(processes_in(cluster.bench.work / "workdirs" / ".plugin-cwd")),
        "requests": requests,
        "rps": sum(requests.values()) / elapsed,
        "plugin_polls": cluster.metrics.polls("unchanged") - polls0,
        "terraform_runs": sum(cluster.metrics.terraform_runs().values()) - runs0,
    }


# --- the steps ---------------------------------------------------------------------------


def burst(cluster: Cluster, count: int, timeout: float) -> dict[str, Any]:
    api = cluster.bench.api
    requests0 = kubeload.request_counts(api)
    assert cluster.metrics is not None
    waited0 = rate_limit_wait(cluster.metrics)
    cpu = CpuMeter(cluster)
    names, created, seconds = cluster.create(count)
    done = cluster.watch.wait_ready(set(names), timeout)
    requests = kubeload.diff(kubeload.request_counts(api), requests0)
    waited = rate_limit_wait(cluster.metrics) - waited0
    used = cpu.read()
    with cluster.watch.lock:
        times = [
            cluster.watch.first_ready[n] - created[n]
            for n in names
            if n in cluster.watch.first_ready
        ]
        last = max((cluster.watch.first_ready.get(n, 0.0) for n in names), default=0.0)
    start = min(created.values())
    return {
        "count": count,
        "ready": len(times),
        "create_seconds": seconds,
        "all_ready": (last - start) if done else None,
        "p50": percentile(times, 50) if times else None,
        "p90": percentile(times, 90) if times else None,
        "p99": percentile(times, 99) if times else None,
        "max": max(times) if times else None,
        "requests": requests,
        "rate_limit_wait": waited,
        "cpu": used,
    }


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    results: dict[str, Any] = {"cells": {}}
    with bench("scale") as b:
        api = b.api
        api.kubectl("apply", "--server-side", "-f", str(PROVIDER / "install" / "crds"))
        api.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            str(PROVIDER / "install" / "crds"),
        )
        api.kubectl("apply", "-f", str(PROVIDER / "install" / "providerconfig.yaml"))
        namespace = api.create_namespace("scale")
        path = f"/apis/{GROUP}/v1alpha1/namespaces/{namespace}/{PLURAL}"
        watch = kubeload.ReadyWatch(api, path)
        watch.start()
        cluster = Cluster(b, namespace, args, watch)
        cluster.start_controller(args.polls[0])
        warm, _, _ = cluster.create(1)
        if not watch.wait_ready(set(warm), 300):
            raise SystemExit(f"warm-up MR not Ready; see {b.work}/controller-0.log")
        figures = burst(cluster, args.burst, args.timeout)
        results["burst"] = figures
        print_burst(run, figures)
        for n in args.mrs:
            missing = n - len(cluster.names)
            if missing > 0:
                names, _, seconds = cluster.create(missing)
                started = time.monotonic()
                done = watch.wait_ready(set(names), args.timeout)
                took = time.monotonic() - started + seconds
                print(
                    f"run {run}: set-up to {n} MRs: {missing} created in {seconds:.1f}s, "
                    + (f"all Ready after {took:.0f}s" if done else f"NOT all Ready in {took:.0f}s")
                )
                results.setdefault("setup", {})[n] = (seconds, took if done else None)
            for poll in args.polls:
                started = cluster.start_controller(poll)
                if poll in args.settle_polls:
                    settled = settle(cluster, started, args.timeout)
                else:
                    settled = None
                    started_passes(cluster, poll, args.start_wait, args.timeout)
                m = window(cluster, args.window)
                m["settle"] = settled
                results["cells"][(n, poll)] = m
                print_cell(run, n, poll, m)
    return results


# --- output ------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "-"
    return "not within --timeout" if value == math.inf else f"{value:.1f}{unit}"


def print_requests(requests: Counter, per: float, label: str, top: int = 12) -> None:
    parts = [f"{verb} {res} {n / per:.2f}" for (verb, res), n in requests.most_common(top)]
    print(f"    {label}: " + ", ".join(parts))


def print_burst(run: int, f: dict[str, Any]) -> None:
    print(
        f"run {run}: burst of {f['count']} new MRs (created in {f['create_seconds']:.1f}s): "
        f"{f['ready']} Ready, all after {_fmt(f['all_ready'])}; create -> Ready "
        f"p50 {_fmt(f['p50'])} p90 {_fmt(f['p90'])} p99 {_fmt(f['p99'])} max {_fmt(f['max'])}"
    )
    total = sum(f["requests"].values())
    print(
        f"    apiserver requests during the burst: {total} ({total / f['count']:.1f} per MR);"
        f" the controller's requests waited {f['rate_limit_wait']:.0f}s in all for its"
        " client-side rate limit"
    )
    print_requests(f["requests"], f["count"], "per new MR")
    cpu = f["cpu"]
    print(
        "    CPU-seconds per new MR: "
        + ", ".join(f"{name} {seconds * 1000 / f['count']:.1f} ms" for name, seconds in cpu.items())
        + f"; all {sum(cpu.values()) * 1000 / f['count']:.1f} ms"
    )


def print_cell(run: int, n: int, poll: float, m: dict[str, Any]) -> None:
    cores = m["cores"]
    rss = m["rss"]
    print(
        f"run {run}: {n} MRs, poll {poll:g}s: settle after restart {_fmt(m['settle'])}; "
        f"window {m['seconds']:.0f}s: {m['plugin_polls']} plugin polls, "
        f"{m['terraform_runs']} Terraform runs"
    )
    print(
        f"    cores: controller {cores['controller']:.3f}, its children "
        f"{cores['children']:.3f}, kube-apiserver {cores['kube-apiserver']:.3f}, "
        f"etcd {cores['etcd']:.3f}, controller manager "
        f"{cores.get('kube-controller-manager', 0.0):.3f}"
    )
    print(
        f"    RSS MiB (median/peak): controller {rss['controller'][0]:.0f}/"
        f"{rss['controller'][1]:.0f}, children {rss['children'][0]:.0f}/"
        f"{rss['children'][1]:.0f} (up to {m['children']} processes, "
        f"{m['shared_providers']} shared providers), kube-apiserver "
        f"{rss['kube-apiserver'][0]:.0f}, etcd {rss['etcd'][0]:.0f}"
    )
    print(f"    apiserver requests/s: {m['rps']:.2f}")
    if m["requests"]:
        print_requests(m["requests"], m["seconds"], "by verb and resource, per second")


def summary(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if len(known) == len(values) and known else None

    print(f"\nmedians of {len(runs)} run(s):")
    bursts = [r["burst"] for r in runs]
    print(
        f"burst of {args.burst}: all Ready {_fmt(med([b['all_ready'] for b in bursts]))}, "
        + ", ".join(
            f"{k} {_fmt(med([b[k] for b in bursts]))}" for k in ("p50", "p90", "p99", "max")
        )
        + f"; apiserver requests per new MR "
        f"{statistics.median(sum(b['requests'].values()) / b['count'] for b in bursts):.1f}"
    )
    print(
        "| MRs | poll | controller RSS MiB | children RSS MiB | cores ctl+children | "
        "apiserver | etcd | apiserver req/s | settle after restart |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.mrs:
        for poll in args.polls:
            cells = [r["cells"][(n, poll)] for r in runs]
            ctl = med([c["rss"]["controller"][1] for c in cells])
            kids = med([c["rss"]["children"][1] for c in cells])
            cores = med([c["cores"]["controller"] + c["cores"]["children"] for c in cells])
            apis = med([c["cores"]["kube-apiserver"] for c in cells])
            etcd = med([c["cores"]["etcd"] for c in cells])
            rps = med([c["rps"] for c in cells])
            print(
                f"| {n} | {poll:g}s | {_fmt(ctl, '')} peak | {_fmt(kids, '')} peak | "
                f"{cores:.3f} | {apis:.3f} | {etcd:.3f} | {rps:.1f} | "
                f"{_fmt(med([c['settle'] for c in cells]))} |"
            )


def _numbers(convert: type) -> Any:
    return lambda text: [convert(x) for x in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    numbers = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    parser.add_argument("--mrs", type=numbers, default=[1000, 5000, 10000])
    parser.add_argument(
        "--polls", type=lambda t: [float(x) for x in t.split(",")], default=[60.0, 600.0]
    )
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument(
        "--settle-polls",
        type=_numbers(float),
        default=None,
        help="poll intervals whose restart is timed until settled (default: the first)",
    )
    parser.add_argument(
        "--start-wait",
        type=float,
        default=20.0,
        help="when settle is not timed, the window starts once the restarted controller "
        "has done the passes of this many seconds of steady state",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--max-runs", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per wait, seconds")
    parser.add_argument(
        "--controller-arg",
        action="append",
        default=[],
        help="one more argument for the controller, e.g. --controller-arg=--kube-qps=100",
    )
    args = parser.parse_args()
    args.mrs = sorted(args.mrs)
    if args.settle_polls is None:
        args.settle_polls = args.polls[:1]
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}; load {os.getloadavg()}")
    started = time.monotonic()
    runs = [one_run(args, run) for run in range(1, args.runs + 1)]
    summary(args, runs)
    print(f"total {time.monotonic() - started:.0f}s; load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
