"""Scale: one controller with 1,000 to 10,000 managed resources of a cheap provider.

    .venv/bin/python benchmarks/scale.py [--mrs 1000,5000,10000] [--polls 60,600]
        [--burst 1000] [--window 60] [--runs 1] [--level-timeout 1800]
        [--setup stopped|running] [--max-runs 4] [--concurrency 32]

Everything is real: the test bed's etcd, kube-apiserver and controller manager; the CRDs of
the reference provider-random (providers/provider-random) and its ClusterProviderConfig;
its controller as a process (``python -m jetgen.runtime.cli``, what ``jetgen-runtime``
runs), tofu and hashicorp/random 3.9.0 from the test bed's mirror.  The MRs are random_id
(kind ``ID``, 4 bytes): the provider makes them up locally, so what is measured is the
controller, its provider processes, the apiserver and etcd.

Each run starts a fresh control plane and does, in order:

1. **burst** (``--burst 0`` skips it): with the controller running (poll = the first of
   ``--polls``) and warmed up by one MR, ``--burst`` new MRs are created at once (parallel
   POSTs from here): seconds from each MR's creation to Ready (p50/p90/p99/max), until
   all are Ready, the apiserver requests and CPU the burst cost per new MR;
2. for each N of ``--mrs`` (one level; ``--mrs 10000`` alone runs one level): grow to N
   MRs.  ``--setup stopped`` (default) stops the controller, POSTs the missing MRs with
   ``--concurrency`` requests in flight, then starts it: the controller's start then
   finds that many new MRs and creates each at once (a start with thousands of new MRs:
   its all-Ready time is printed, with the rate); ``--setup running`` creates them with
   the controller running.  Then for each poll interval P of ``--polls``: restart the
   controller with P.  For the first P (``--settle-polls`` names others) time its
   **settle**: until every MR has had a pass and no Terraform run is queued or running
   (at most ``--settle-timeout``; past it the window is measured anyway and the settle
   reported as not reached).  The controller deliberately spreads the first passes of
   settled MRs over one poll interval, so settle is at least about P; more than that is
   backlog.  For the other intervals the window starts once the controller has done the
   passes of ``--start-wait`` seconds of steady state (N x start-wait / P).  Then a
   **window** of ``--window`` seconds: RSS of the controller and of its child processes
   (provider processes, Terraform runs), median and peak of 1 s samples; CPU of the
   controller, its children, kube-apiserver and etcd (/proc, over the window); the
   apiserver's requests per second (``apiserver_request_total``), by verb and resource.

Each level has a time box, ``--level-timeout`` seconds from the start of its set-up: a
level not done in it is aborted cleanly (what it reached is printed, larger levels are
skipped, the controller and control plane are stopped).  SIGTERM and Ctrl-C stop
everything the same way.  With ``--runs`` > 1 the figures are printed per run, then as
medians over the runs (with the range), for every figure of the tables.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import signal
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
    commit,
    cpu_seconds,
    descendants,
    load,
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


class LevelAborted(Exception):
    """A level (or the burst) ran out of its time box, or a wait in it timed out."""

    def __init__(self, stage: str, detail: str):
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


@dataclass
class Deadline:
    """A level's time box: waits take at most what is left of it."""

    at: float  # monotonic

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def left(self, cap: float) -> float:
        return max(0.0, min(cap, self.at - time.monotonic()))

    def check(self, stage: str) -> None:
        if time.monotonic() >= self.at:
            raise LevelAborted(stage, "the level's time box (--level-timeout) is over")


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

    def stop_controller(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def start_controller(self, poll: float) -> float:
        """(Re)start the controller with poll interval ``poll``; returns its start time."""
        self.stop_controller()
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

    def wait_ready(self, names: list[str], deadline: Deadline, stage: str) -> float:
        """Until every one of ``names`` is Ready (seconds waited); LevelAborted when the
        time box or ``--timeout`` is over first, or the controller died."""
        started = time.monotonic()
        wanted = set(names)
        while not self.watch.wait_ready(wanted, deadline.left(min(self.args.timeout, 5.0))):
            if self.ctl is not None and self.ctl.proc.poll() is not None:
                raise LevelAborted(stage, f"controller exited with {self.ctl.proc.returncode}")
            waited = time.monotonic() - started
            if deadline.left(1.0) == 0.0 or waited >= self.args.timeout:
                ready = self.watch.count_ready(wanted)
                raise LevelAborted(stage, f"{ready} of {len(names)} Ready after {waited:.0f}s")
        return time.monotonic() - started


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


def settle(cluster: Cluster, started: float, timeout: float) -> float:
    """Seconds from ``started`` until every MR had a pass and nothing is queued or
    running; infinity if not within ``timeout`` seconds."""
    assert cluster.metrics is not None
    want = len(cluster.names)
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            done = passes(cluster.metrics) >= want and not busy(cluster.metrics)
        except OSError:
            done = False  # metrics not served yet (or the controller too busy to answer)
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
    passes0 = passes(cluster.metrics)
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
        "passes": passes(cluster.metrics) - passes0,
        "terraform_runs": sum(cluster.metrics.terraform_runs().values()) - runs0,
    }


# --- the steps ---------------------------------------------------------------------------


def burst(cluster: Cluster, count: int, deadline: Deadline) -> dict[str, Any]:
    api = cluster.bench.api
    requests0 = kubeload.request_counts(api)
    assert cluster.metrics is not None
    waited0 = rate_limit_wait(cluster.metrics)
    cpu = CpuMeter(cluster)
    names, created, seconds = cluster.create(count)
    cluster.wait_ready(names, deadline, f"burst of {count}")
    requests = kubeload.diff(kubeload.request_counts(api), requests0)
    waited = rate_limit_wait(cluster.metrics) - waited0
    used = cpu.read()
    with cluster.watch.lock:
        times = [cluster.watch.first_ready[n] - created[n] for n in names]
        last = max(cluster.watch.first_ready[n] for n in names)
    return {
        "count": count,
        "ready": len(times),
        "create_seconds": seconds,
        "all_ready": last - min(created.values()),
        "p50": percentile(times, 50),
        "p90": percentile(times, 90),
        "p99": percentile(times, 99),
        "max": max(times),
        "requests": requests,
        "requests_per_mr": sum(requests.values()) / count,
        "rate_limit_wait": waited,
        "cpu": used,
    }


def grow(cluster: Cluster, n: int, poll: float, deadline: Deadline) -> dict[str, Any] | None:
    """Grow to ``n`` MRs, all Ready (see ``--setup`` in the module docstring)."""
    missing = n - len(cluster.names)
    if missing <= 0:
        return None
    stopped = cluster.args.setup == "stopped"
    if stopped:
        cluster.stop_controller()
    names, _, seconds = cluster.create(missing)
    started = time.monotonic()
    if stopped:
        cluster.start_controller(poll)
    waited = cluster.wait_ready(names, deadline, f"set-up to {n} MRs")
    return {
        "created": missing,
        "create_seconds": seconds,
        "ready_seconds": waited,
        "controller_was": "stopped" if stopped else "running",
        "since": time.monotonic() - started,
    }


def level(cluster: Cluster, run: int, n: int, results: dict[str, Any]) -> None:
    """One level: grow to ``n`` MRs, then restart and measure each poll interval."""
    args = cluster.args
    deadline = Deadline.after(args.level_timeout)
    grown = grow(cluster, n, args.polls[0], deadline)
    if grown is not None:
        results["setup"][n] = grown
        print_setup(run, n, grown)
    for poll in args.polls:
        deadline.check(f"{n} MRs, poll {poll:g}s")
        started = cluster.start_controller(poll)
        if poll in args.settle_polls:
            settled = settle(cluster, started, deadline.left(args.settle_timeout))
        else:
            settled = None
            started_passes(cluster, poll, args.start_wait, deadline.left(args.settle_timeout))
        deadline.check(f"{n} MRs, poll {poll:g}s, before the window")
        m = window(cluster, min(args.window, deadline.left(args.window)))
        m["settle"] = settled
        results["cells"][(n, poll)] = m
        print_cell(run, n, poll, m)


def install_provider(api: Any) -> None:
    """provider-random's CRDs (waited for until Established) and its ProviderConfig."""
    api.kubectl("apply", "--server-side", "-f", str(PROVIDER / "install" / "crds"))
    api.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "-f",
        str(PROVIDER / "install" / "crds"),
    )
    api.kubectl("apply", "-f", str(PROVIDER / "install" / "providerconfig.yaml"))


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    results: dict[str, Any] = {"cells": {}, "setup": {}, "aborted": None}
    print(f"run {run}: load before {load()}")
    with bench("scale") as b:
        api = b.api
        install_provider(api)
        namespace = api.create_namespace("scale")
        path = f"/apis/{GROUP}/v1alpha1/namespaces/{namespace}/{PLURAL}"
        watch = kubeload.ReadyWatch(api, path)
        watch.start()
        cluster = Cluster(b, namespace, args, watch)
        try:
            cluster.start_controller(args.polls[0])
            warm, _, _ = cluster.create(1)
            cluster.wait_ready(warm, Deadline.after(300), "warm-up MR")
            if args.burst:
                figures = burst(cluster, args.burst, Deadline.after(args.level_timeout))
                results["burst"] = figures
                print_burst(run, figures)
            for n in args.mrs:
                level(cluster, run, n, results)
        except LevelAborted as exc:
            results["aborted"] = str(exc)
            print(f"run {run}: ABORTED at {exc}; larger levels skipped; logs were in {b.work}")
        finally:
            watch.stop()
            cluster.stop_controller()
            print(f"run {run}: load after {load()}")
    return results


# --- output -----------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "-"
    return "not within the time box" if value == math.inf else f"{value:.1f}{unit}"


def print_requests(requests: Counter, per: float, label: str, top: int = 12) -> None:
    parts = [f"{verb} {res} {n / per:.2f}" for (verb, res), n in requests.most_common(top)]
    print(f"    {label}: " + ", ".join(parts))


def print_setup(run: int, n: int, g: dict[str, Any]) -> None:
    rate = g["created"] / g["since"] if g["since"] else math.inf
    print(
        f"run {run}: set-up to {n} MRs: {g['created']} POSTed in {g['create_seconds']:.1f}s "
        f"({g['created'] / g['create_seconds']:.0f}/s, controller {g['controller_was']}); "
        f"all Ready {g['ready_seconds']:.0f}s later ({rate:.1f} new MRs/s"
        + (" from the controller's start)" if g["controller_was"] == "stopped" else ")")
    )


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
        f"window {m['seconds']:.0f}s: {m['passes']} passes, {m['plugin_polls']} plugin polls "
        f"(a {poll:g}s poll needs {n * m['seconds'] / poll:.0f}), "
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


def _median(values: list[float | None], unit: str = "", digits: int = 1) -> str:
    """Median of the runs that have the figure, with the range and how many runs when
    there are several; '-' when none has it."""
    known = [v for v in values if v is not None]
    if not known:
        return "-"

    def one(v: float) -> str:
        return "inf" if v == math.inf else f"{v:.{digits}f}"

    text = one(statistics.median(known)) + unit
    if len(known) > 1:
        text += f" ({one(min(known))}-{one(max(known))})"
    if len(known) < len(values):
        text += f" [{len(known)} of {len(values)} runs]"
    return text


def summary(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    print(f"\nmedians of {len(runs)} run(s), range in brackets:")
    for r, result in enumerate(runs, 1):
        if result["aborted"]:
            print(f"  run {r} aborted: {result['aborted']}")
    bursts = [r["burst"] for r in runs if "burst" in r]
    if bursts:
        print(
            f"burst of {args.burst} ({len(bursts)} runs): all Ready "
            f"{_median([b['all_ready'] for b in bursts], 's')}; create -> Ready "
            + ", ".join(f"{k} {_median([b[k] for b in bursts], 's')}" for k in PERCENTILES)
            + f"; apiserver requests per new MR {_median([b['requests_per_mr'] for b in bursts])}"
            + "; CPU ms per new MR "
            + ", ".join(
                f"{name} {_median([b['cpu'][name] * 1000 / b['count'] for b in bursts])}"
                for name in bursts[0]["cpu"]
            )
        )
    for n in args.mrs:
        grown = [r["setup"][n] for r in runs if n in r["setup"]]
        if grown:
            print(
                f"set-up to {n}: POSTs {_median([g['create_seconds'] for g in grown], 's')}, "
                f"then all Ready {_median([g['ready_seconds'] for g in grown], 's')} "
                f"(controller {grown[0]['controller_was']} during the POSTs)"
            )
    print(
        "| MRs | poll | runs | plugin polls in the window / needed | "
        "controller RSS MiB median / peak | provider RSS MiB median / peak | "
        "cores: controller | providers | kube-apiserver | etcd | apiserver req/s | "
        "settle after restart |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.mrs:
        for poll in args.polls:
            cells = [r["cells"][(n, poll)] for r in runs if (n, poll) in r["cells"]]
            if not cells:
                print(f"| {n} | {poll:g}s | 0 | not reached | | | | | | | | |")
                continue
            need = n * statistics.median(c["seconds"] for c in cells) / poll
            polls = _median([c["plugin_polls"] for c in cells], digits=0)
            rss = {
                key: (
                    _median([c["rss"][key][0] for c in cells], digits=0),
                    _median([c["rss"][key][1] for c in cells], digits=0),
                )
                for key in ("controller", "children")
            }
            cores = {
                key: _median([c["cores"][key] for c in cells], digits=3)
                for key in ("controller", "children", "kube-apiserver", "etcd")
            }
            settled = [c["settle"] for c in cells]
            print(
                f"| {n} | {poll:g}s | {len(cells)} | {polls} / {need:.0f} | "
                f"{rss['controller'][0]} / {rss['controller'][1]} | "
                f"{rss['children'][0]} / {rss['children'][1]} | {cores['controller']} | "
                f"{cores['children']} | {cores['kube-apiserver']} | {cores['etcd']} | "
                f"{_median([c['rps'] for c in cells], digits=2)} | "
                + (_median(settled, "s") if any(s is not None for s in settled) else "not timed")
                + " |"
            )


def _numbers(convert: type) -> Any:
    return lambda text: [convert(x) for x in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=_numbers(int), default=[1000, 5000, 10000])
    parser.add_argument("--polls", type=_numbers(float), default=[60.0, 600.0])
    parser.add_argument("--burst", type=int, default=1000, help="0: no burst")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument(
        "--settle-polls",
        type=_numbers(float),
        default=None,
        help="poll intervals whose restart is timed until settled (default: the first)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=900.0,
        help="seconds a restart may take to settle before the window is measured anyway",
    )
    parser.add_argument(
        "--start-wait",
        type=float,
        default=20.0,
        help="when settle is not timed, the window starts once the restarted controller "
        "has done the passes of this many seconds of steady state",
    )
    parser.add_argument(
        "--setup",
        choices=["stopped", "running"],
        default="stopped",
        help="create a level's new MRs with the controller stopped (then started) or running",
    )
    parser.add_argument(
        "--level-timeout",
        type=float,
        default=1800.0,
        help="seconds a level (set-up, restarts, windows) or the burst may take in all",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--max-runs", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight")
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
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    # SIGTERM (a timeout, kill) unwinds like Ctrl-C: controllers and planes are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"commit {commit()}; {os.cpu_count()} cores, {platform.platform()}; load {load()}")
    started = time.monotonic()
    runs = []
    try:
        for run in range(1, args.runs + 1):
            runs.append(one_run(args, run))
    finally:
        if runs:
            summary(args, runs)
        print(f"total {time.monotonic() - started:.0f}s; load {load()}")
    return 1 if any(r["aborted"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
