"""Median start, pod and tear-down times of the test bed's node.

    .venv/bin/python benchmarks/node_startup.py [--runs N]

Per run: "node" is `node.start` from nothing (bridge, control plane, containerd with the
pause and kubeprobe images imported, kubelet, kube-proxy, kube-scheduler) until the Node
is Ready and untainted, the `kubernetes` Service is routed and the scheduler holds its
Lease (what the `node` fixture waits for), split into the steps it took; "pod" is a
kubeprobe Pod from apply to Running; "teardown" is `Node.stop`, including its check that
nothing is left. Needs root and a node-free machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.testbed import node as node_module  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {
        "containers": [
            {"name": "p", "image": "jetgen.test/kubeprobe:0.1.0", "imagePullPolicy": "Never"}
        ],
        "terminationGracePeriodSeconds": 1,
    },
}


def pod_seconds(node: node_module.Node) -> float:
    started = time.monotonic()
    node.api.apply(POD)
    while node.api.get_json("pod", "bench")["status"].get("phase") != "Running":
        if time.monotonic() - started > 60:
            raise RuntimeError("pod not Running after 60 s")
        time.sleep(0.1)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bed = Testbed()
    bed.require_installed()

    starts, pods, stops = [], [], []
    phases: dict[str, list[float]] = {}
    for run in range(1, args.runs + 1):
        logs = Path(tempfile.mkdtemp(prefix="jetgen-bench-node-"))
        node = node_module.start(bed, logs)
        try:
            starts.append(node.startup_seconds)
            for name, seconds in node.phases.items():
                phases.setdefault(name, []).append(seconds)
            pods.append(pod_seconds(node))
        finally:
            stopped = time.monotonic()
            node.stop()
            stops.append(time.monotonic() - stopped)
        shutil.rmtree(logs)
        steps = ", ".join(f"{name} at {s:.2f}s" for name, s in node.phases.items())
        print(
            f"run {run}: node {starts[-1]:.2f}s ({steps}), pod Running {pods[-1]:.2f}s, "
            f"teardown {stops[-1]:.2f}s"
        )
    steps = ", ".join(f"{n} at {statistics.median(s):.2f}s" for n, s in phases.items())
    print(
        f"median of {args.runs}: node {statistics.median(starts):.2f}s ({steps}), "
        f"pod Running {statistics.median(pods):.2f}s, teardown {statistics.median(stops):.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
