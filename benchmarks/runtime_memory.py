"""Controller memory per settled managed resource, and whether it grows with the spec.

    .venv/bin/python benchmarks/runtime_memory.py [--mrs 120] [--keepers 0,8192]
                                                  [--runs 3] [--poll 20] [--trace]

For each spec size (``--keepers``: bytes of values in a random_id's ``keepers`` map, a
spec field that reaches Terraform as it is) and each of ``--runs`` runs, on one test-bed
control plane, with a fresh controller watching a fresh namespace:

1. one warm-up MR is applied and polled over the plugin protocol once: ``R(1)``;
2. ``--mrs`` MRs are applied; once all are Ready and each has been polled over the plugin
   protocol since (``jetgen_plugin_polls_total`` grew by as many), the RSS is ``R(N+1)``;
3. ``--mrs`` more the same way: ``R(2N+1)``;
4. per MR, two ways: ``(R(2N+1) - R(1)) / 2N``, all growth over the warm-up MR (what
   bursts of creates leave behind included: allocator arenas, buffers), and the second
   step alone, ``(R(2N+1) - R(N+1)) / N``, where what a burst leaves once should cancel
   out -- but on a busy 2-core machine it swings by tens of KiB per MR between runs (even
   below zero), so the first is the steadier figure.

RSS is the controller process's own VmRSS (not its Terraform runs or the shared provider
process), the median of one sample per 0.5 s over 10 s.  It prints each run and the
medians per spec size; a per-MR figure that grows with ``--keepers`` means the
controller keeps copies of the spec.

``--trace`` runs the controller under tracemalloc (benchmarks/traced_controller.py) and,
at ``R(N+1)`` and ``R(2N+1)``, takes a snapshot of it: what the second ``N`` MRs added is
printed per MR, grouped three ways -- by the line that allocated it, by the innermost
frame in the runtime or kopf that led there (who holds it), and by object type (objects
the garbage collector tracks, counted).  tracemalloc costs memory and time of its own,
so the RSS figures of a traced run are not comparable with an untraced one.

Wrap runs whose figures are reported in ``flock /tmp/jetgen-bench.lock`` (the machine is
shared).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.runtime_ready import rss_mib  # noqa: E402
from tests.runtime import harness  # noqa: E402
from tests.runtime.scrape import Metrics  # noqa: E402
from tests.testbed import controlplane  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402
from tests.testbed.processes import free_port  # noqa: E402

GROUP = "random.m.jetgen.dev"
PLURAL = f"ids.{GROUP}"


def id_mr(name: str, ns: str, keepers: int) -> dict:
    """A random_id whose keepers hold ``keepers`` bytes of values (unique per MR, so no
    two specs share a string)."""
    values = {}
    if keepers:
        chunk = 64
        for i in range(max(1, keepers // chunk)):
            values[f"k{i}"] = f"{name}-{i}-".ljust(chunk, "x")
    spec: dict = {"byteLength": 8}
    if values:
        spec["keepers"] = values
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Id",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": spec},
    }


def ready_count(api, ns: str) -> int:
    status, text = api.http_get(f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/ids")
    if status != 200:
        return 0
    return sum(1 for o in json.loads(text)["items"] if harness.is_ready(o))


def settled_rss(pid: int, seconds: float = 10.0) -> float:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(rss_mib(pid))
        time.sleep(0.5)
    return statistics.median(samples)


TRACED = Path(__file__).with_name("traced_controller.py")
# Frames that say who holds an allocation: the runtime's own modules and kopf's.
HOLDERS = ("/runtime/", "/kopf/")


def dump_trace(pid: int, prefix: Path, n: int) -> Path:
    """Have the traced controller write snapshot ``n`` (see traced_controller.py)."""
    os.kill(pid, signal.SIGUSR2)
    done = Path(f"{prefix}.{n}.done")
    harness.wait_for(f"trace {n}", done.exists, timeout=600, every=1)
    return Path(f"{prefix}.{n}")


def holder(trace_back: tracemalloc.Traceback) -> str:
    """The innermost frame in the runtime or kopf (else the allocating line)."""
    for frame in reversed(trace_back):  # innermost last with tracemalloc's default order
        if any(h in frame.filename for h in HOLDERS):
            return short(frame)
    return short(trace_back[-1])


def short(frame: tracemalloc.Frame) -> str:
    parts = Path(frame.filename).parts
    return f"{'/'.join(parts[-2:])}:{frame.lineno}"


def by_holder(snapshot: tracemalloc.Snapshot) -> collections.Counter:
    sizes: collections.Counter = collections.Counter()
    for trace in snapshot.traces:
        sizes[holder(trace.traceback)] += trace.size
    return sizes


# Read buffers of sockets, TLS and HTTP streams: sized by the traffic in flight when the
# snapshot is taken (swings of +-100 KB per MR between snapshots), not kept per MR.
BUFFERS = ("asyncio/sslproto.py", "aiohttp/streams.py", "/h2/", "python3.11/ssl.py")


def buffered(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes whose allocating line is in a socket, TLS or HTTP stream buffer."""
    return sum(
        t.size for t in snapshot.traces if any(b in t.traceback[-1].filename for b in BUFFERS)
    )


def report_trace(before: Path, after: Path, mrs: int, top: int = 15) -> None:
    """What the second burst of ``mrs`` MRs added, per MR, grouped three ways."""
    one = tracemalloc.Snapshot.load(f"{before}.snap")
    two = tracemalloc.Snapshot.load(f"{after}.snap")
    total = sum(t.size for t in two.traces) - sum(t.size for t in one.traces)
    buffers = buffered(two) - buffered(one)
    print(
        f"    traced heap grew {total / mrs:.0f} bytes per MR: {(total - buffers) / mrs:.0f}"
        f" without socket and stream buffers ({buffers / mrs:.0f}, which swing with the"
        " traffic at the snapshot, not with the MRs); by allocating line:"
    )
    for stat in two.compare_to(one, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"      {stat.size_diff / mrs:8.0f} B  {short(frame)}")
    print("    by holder (innermost runtime/kopf frame):")
    grown = by_holder(two)
    grown.subtract(by_holder(one))
    for where, size in grown.most_common(top):
        print(f"      {size / mrs:8.0f} B  {where}")
    print("    live objects per MR, by type:")
    counts = collections.Counter(json.loads(Path(f"{after}.types.json").read_text()))
    counts.subtract(json.loads(Path(f"{before}.types.json").read_text()))
    for name, count in counts.most_common(top):
        print(f"      {count / mrs:8.2f}  {name}")


def one_run(
    api,
    bed,
    provider: Path,
    work: Path,
    run: str,
    mrs: int,
    keepers: int,
    poll: float,
    trace: bool = False,
):
    ns = api.create_namespace(f"mem-{run}")
    port = free_port()
    metrics = Metrics(port)
    prefix = work / f"trace-{run}"
    ctl = harness.Controller(
        kinds=harness.kinds_file(provider),
        apiserver=api,
        testbed=bed,
        workdir_root=work / f"workdirs-{run}",
        log=work / f"controller-{run}.log",
        poll=poll,
        extra_args=["--metrics-port", str(port)],
        namespace=ns,
        env={"JETGEN_TRACE_PREFIX": str(prefix)} if trace else None,
    )
    if trace:
        ctl.args[1:3] = [str(TRACED)]  # python traced_controller.py <the same arguments>
    ctl.start()

    slow = 4 if trace else 1  # tracemalloc makes the controller several times slower

    def settle(total: int) -> float:
        """Wait until ``total`` MRs are Ready and each was polled since; the RSS then."""
        polled = metrics.polls("unchanged")
        harness.wait_for(
            f"{total} MRs Ready",
            lambda: ready_count(api, ns) == total,
            timeout=(120 + 2 * mrs) * slow,
        )
        harness.wait_for(
            f"{total} more plugin polls",
            lambda: metrics.polls("unchanged") >= polled + total,
            timeout=(3 * poll + 60) * slow,
            every=1,
        )
        return settled_rss(ctl.proc.pid)

    try:
        harness.wait_for("the metrics endpoint", metrics.text, timeout=300 if trace else 60)
        api.apply(id_mr("warmup", ns, keepers))
        rss = [settle(1)]
        snaps = []
        for step in range(2):
            api.apply([id_mr(f"m{step}-{i:05d}", ns, keepers) for i in range(mrs)])
            rss.append(settle(1 + (step + 1) * mrs))
            if trace:
                snaps.append(dump_trace(ctl.proc.pid, prefix, step + 1))
    finally:
        ctl.stop()
    overall = (rss[2] - rss[0]) * 1024 / (2 * mrs)
    step = (rss[2] - rss[1]) * 1024 / mrs
    print(
        f"  run {run}: R(1) {rss[0]:.1f}, R({mrs + 1}) {rss[1]:.1f}, R({2 * mrs + 1})"
        f" {rss[2]:.1f} MiB -> {overall:.1f} KiB per MR (second step alone {step:.1f})",
        flush=True,
    )
    if trace:
        report_trace(snaps[0], snaps[1], mrs)
    return overall, step, rss[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=120)
    parser.add_argument("--keepers", default="0,8192", help="spec sizes in bytes, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll", type=float, default=20.0)
    parser.add_argument(
        "--trace", action="store_true", help="tracemalloc breakdown per MR (see above)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.keepers.split(",")]
    bed = Testbed()
    bed.require_installed()
    work = Path(tempfile.mkdtemp(prefix="jetgen-bench-memory-"))
    plane = controlplane.start(bed, work / "plane")
    try:
        api = plane.api
        schema = harness.provider_schema(bed, work / "schema", ["random"])
        provider = harness.generate(schema, work / "random", "random", bed.providers["random"])
        harness.install_crds(api, provider)
        results: dict[int, list[tuple[float, float, float]]] = {}
        for size in sizes:
            print(f"2 x {args.mrs} random_id MRs, keepers {size} bytes, poll {args.poll:g} s:")
            for run in range(args.runs):
                results.setdefault(size, []).append(
                    one_run(
                        api,
                        bed,
                        provider,
                        work,
                        f"{size}-{run}",
                        args.mrs,
                        size,
                        args.poll,
                        args.trace,
                    )
                )
        print("controller RSS per settled MR, medians of runs:")
        for size, values in results.items():
            overall, step, full = (statistics.median(v[i] for v in values) for i in range(3))
            print(
                f"  keepers {size:>6} bytes: {overall:.1f} KiB per MR (second step alone"
                f" {step:.1f}); R({2 * args.mrs + 1}) {full:.1f} MiB"
            )
    finally:
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
