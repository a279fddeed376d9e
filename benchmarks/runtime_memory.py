"""Controller memory per settled managed resource, and whether it grows with the spec.

    .venv/bin/python benchmarks/runtime_memory.py [--mrs 120] [--keepers 0,8192]
                                                  [--runs 3] [--poll 20]

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
controller keeps copies of the spec.  Wrap runs whose figures are reported in
``flock /tmp/jetgen-bench.lock`` (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.runtime_ready import rss_mib  # noqa: E402
from tests.runtime import harness  # noqa: E402
from tests.runtime.test_e2e_plugin_poll import Metrics  # noqa: E402
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


def one_run(api, bed, provider: Path, work: Path, run: str, mrs: int, keepers: int, poll: float):
    ns = api.create_namespace(f"mem-{run}")
    port = free_port()
    metrics = Metrics(port)
    ctl = harness.Controller(
        kinds=harness.kinds_file(provider),
        apiserver=api,
        testbed=bed,
        workdir_root=work / f"workdirs-{run}",
        log=work / f"controller-{run}.log",
        poll=poll,
        extra_args=["--metrics-port", str(port)],
        namespace=ns,
    ).start()

    def settle(total: int) -> float:
        """Wait until ``total`` MRs are Ready and each was polled since; the RSS then."""
        polled = metrics.polls("unchanged")
        harness.wait_for(
            f"{total} MRs Ready", lambda: ready_count(api, ns) == total, timeout=120 + 2 * mrs
        )
        harness.wait_for(
            f"{total} more plugin polls",
            lambda: metrics.polls("unchanged") >= polled + total,
            timeout=3 * poll + 60,
            every=1,
        )
        return settled_rss(ctl.proc.pid)

    try:
        harness.wait_for("the metrics endpoint", metrics.text, timeout=60)
        api.apply(id_mr("warmup", ns, keepers))
        rss = [settle(1)]
        for step in range(2):
            api.apply([id_mr(f"m{step}-{i:05d}", ns, keepers) for i in range(mrs)])
            rss.append(settle(1 + (step + 1) * mrs))
    finally:
        ctl.stop()
    overall = (rss[2] - rss[0]) * 1024 / (2 * mrs)
    step = (rss[2] - rss[1]) * 1024 / mrs
    print(
        f"  run {run}: R(1) {rss[0]:.1f}, R({mrs + 1}) {rss[1]:.1f}, R({2 * mrs + 1})"
        f" {rss[2]:.1f} MiB -> {overall:.1f} KiB per MR (second step alone {step:.1f})",
        flush=True,
    )
    return overall, step, rss[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=120)
    parser.add_argument("--keepers", default="0,8192", help="spec sizes in bytes, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll", type=float, default=20.0)
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
                    one_run(api, bed, provider, work, f"{size}-{run}", args.mrs, size, args.poll)
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
