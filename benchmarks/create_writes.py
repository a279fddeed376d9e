"""What a new MR costs the apiserver and the CPU: a burst of new MRs, counted per MR.

    .venv/bin/python benchmarks/create_writes.py [--burst 300] [--runs 3] [--max-runs 4]
        [--poll 60] [--settle 10] [--concurrency 32] [--controller-arg=--driver=cli]

The burst of benchmarks/scale.py on its own, repeated: each run starts a fresh control
plane (the test bed's etcd, kube-apiserver and controller manager), the reference
provider-random's CRDs and ClusterProviderConfig, its controller (``python -m
jetgen.runtime.cli``), warms it up with one MR, then creates ``--burst`` random_id MRs at
once and waits until all are Ready.  Printed per run and as medians over the runs:

* the apiserver's requests per new MR (``apiserver_request_total``) from the first create
  until ``--settle`` seconds after all are Ready, by verb and resource, refused ones
  (4xx/5xx) apart; the benchmark's own POSTs of the MRs and its watch are in there (one
  POST per MR);
* of them, the requests of the runtime's own client (``jetgen_kube_requests_total``): the
  rest are kopf's (its finalizer patch, events, watches) and the benchmark's;
* CPU-seconds per new MR of the controller, its children (the shared provider process),
  kube-apiserver and etcd, from the first create until all are Ready;
* seconds until all are Ready.

``--profile FILE`` samples the controller with py-spy during each burst (``.venv/bin/pip
install py-spy``), collapsed stacks to ``FILE-<run>``; the figures are then not clean.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import kubeload, scale  # noqa: E402
from benchmarks.common import Metrics, bench  # noqa: E402


def own_requests(metrics: Metrics) -> int:
    """Requests the runtime's own client has made so far (every status code)."""
    pattern = r"^jetgen_kube_requests_total\{[^}]*\} (\S+)$"
    return sum(int(float(n)) for n in re.findall(pattern, metrics.text(), re.M))


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    with bench("create-writes") as b:
        api = b.api
        crds = str(scale.PROVIDER / "install" / "crds")
        api.kubectl("apply", "--server-side", "-f", crds)
        api.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
        api.kubectl("apply", "-f", str(scale.PROVIDER / "install" / "providerconfig.yaml"))
        namespace = api.create_namespace("writes")
        watch = kubeload.ReadyWatch(api, f"/apis/{scale.GROUP}/v1alpha1/namespaces/{namespace}/ids")
        watch.start()
        cluster = scale.Cluster(b, namespace, args, watch)
        cluster.start_controller(args.poll)
        warm, _, _ = cluster.create(1)
        if not watch.wait_ready(set(warm), 300):
            raise SystemExit(f"warm-up MR not Ready; see {b.work}/controller-0.log")
        assert cluster.metrics is not None
        own0 = own_requests(cluster.metrics)
        spy = profiler(cluster.ctl.proc.pid, args.profile, run) if args.profile else None
        requests0 = kubeload.request_counts(api)
        figures = scale.burst(cluster, args.burst, scale.Deadline.after(args.timeout))
        # What follows Ready counts too (a second pass writing the same again did).
        time.sleep(args.settle)
        figures["requests"] = kubeload.diff(kubeload.request_counts(api), requests0)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
            spy.wait(60)
        figures["own"] = own_requests(cluster.metrics) - own0
        figures["load"] = os.getloadavg()[0]
    print_run(run, figures)
    return figures


def profiler(pid: int, out: Path, run: int) -> subprocess.Popen:
    """py-spy sampling the controller (100 Hz, collapsed stacks) until interrupted."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    path = out.with_name(f"{out.stem}-{run}{out.suffix}")
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
         "--output", str(path), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def print_run(run: int, f: dict[str, Any]) -> None:
    n = f["count"]
    total = sum(f["requests"].values())
    print(
        f"run {run}: {f['ready']}/{n} Ready, all after {scale._fmt(f['all_ready'])}; "
        f"apiserver requests per new MR {total / n:.2f} (the runtime's client "
        f"{f['own'] / n:.2f}); CPU per new MR "
        + ", ".join(f"{k} {v * 1000 / n:.1f} ms" for k, v in f["cpu"].items())
        + f"; all {sum(f['cpu'].values()) * 1000 / n:.1f} ms; load {f['load']:.1f}"
    )
    scale.print_requests(f["requests"], n, "per new MR", top=20)


def summary(runs: list[dict[str, Any]]) -> None:
    n = runs[0]["count"]
    keys = sorted({k for r in runs for k in r["requests"]}, key=lambda k: (k[1], k[0]))
    print(f"\nmedians of {len(runs)} run(s), per new MR:")
    for key in keys:
        values = [r["requests"].get(key, 0) / n for r in runs]
        print(f"  {key[0]} {key[1]}: {statistics.median(values):.2f} ({_range(values)})")
    totals = [sum(r["requests"].values()) / n for r in runs]
    own = [r["own"] / n for r in runs]
    print(f"  apiserver requests: {statistics.median(totals):.2f} ({_range(totals)})")
    print(f"  of them the runtime's client: {statistics.median(own):.2f} ({_range(own)})")
    for part in runs[0]["cpu"]:
        values = [r["cpu"][part] * 1000 / n for r in runs]
        print(f"  CPU {part}: {statistics.median(values):.1f} ms ({_range(values, 1)})")
    cpu = [sum(r["cpu"].values()) * 1000 / n for r in runs]
    print(f"  CPU all: {statistics.median(cpu):.1f} ms ({_range(cpu, 1)})")
    ready = [r["all_ready"] for r in runs if r["all_ready"] is not None]
    if ready:
        print(f"  all Ready after: {statistics.median(ready):.1f} s ({_range(ready, 1)})")


def _range(values: list[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll", type=float, default=60.0)
    parser.add_argument("--max-runs", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900.0, help="per wait, seconds")
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds after all are Ready still counted"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the controller during each burst; collapsed stacks to FILE-<run>.txt",
    )
    parser.add_argument(
        "--controller-arg",
        action="append",
        default=[],
        help="one more argument for the controller, e.g. --controller-arg=--driver=cli",
    )
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"load before {os.getloadavg()}")
    started = time.monotonic()
    runs = [one_run(args, run) for run in range(1, args.runs + 1)]
    summary(runs)
    print(f"total {time.monotonic() - started:.0f}s; load after {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
