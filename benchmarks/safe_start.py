"""Safe-start: how long from a CRD turning Established until its kind is reconciled.

    .venv/bin/python benchmarks/safe_start.py [--runs 5]

The controller of the generated random provider starts with none of its CRDs installed
(as under Crossplane v2 before an activation policy selects a kind).  Then, ``--runs``
times for each of three kinds: apply the kind's CRD, and from the moment it is seen
Established (polled every 20 ms) measure

* **served**: until the controller's ``jetgen_kinds_served`` metric counts the kind;
* **first reconcile**: an MR applied right at Established, until the controller has taken
  it up (its finalizer is set: the first handling of the object);
* **Ready**: until that MR is Ready (includes the Terraform run);

and, as the baseline, apply -> Ready of a second MR of the kind once it is served.  Between
rounds the MRs and the CRD are deleted again (the controller stops serving the kind).
Prints medians, min and max.  Everything is real: control plane, generated CRDs, the
controller as a subprocess, tofu with the random provider from the test bed's mirror.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Metrics, bench  # noqa: E402
from tests.runtime import harness  # noqa: E402
from tests.testbed.processes import free_port  # noqa: E402

SUFFIX = "safestart.jetgen.dev"
GROUP = f"random.m.{SUFFIX}"
KINDS = {"ids": {"byteLength": 4}, "pets": {"length": 2}, "uuids": {}}
EVERY = 0.02


def until(what: str, check: Callable[[], Any], timeout: float = 120) -> float:
    """Poll ``check`` every 20 ms; the monotonic time it first held."""
    harness.wait_for(what, check, timeout=timeout, every=EVERY)
    return time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with bench("safe-start") as b:
        api = b.api
        provider = b.generate("random", {"groupSuffix": SUFFIX}, install=False)
        kinds = {k.plural: k.kind for k in _kinds(provider)}
        metrics = Metrics(free_port())
        ns = api.create_namespace("bench")
        b.controller(
            harness.kinds_file(provider),
            namespace=ns,
            poll=60,
            extra_args=["--metrics-port", str(metrics.port)],
        )
        harness.wait_for("controller up", lambda: metrics.gauge("jetgen_kinds_served") == 0)
        figures: dict[str, list[float]] = {"served": [], "first": [], "ready": [], "base": []}
        for run in range(args.runs + 1):  # the first round warms up (provider install)
            for plural, spec in KINDS.items():
                row = one_round(api, provider, metrics, ns, plural, kinds[plural], spec, run)
                if run:
                    for key, value in row.items():
                        figures[key].append(value)
        print(f"{args.runs} rounds x {len(KINDS)} kinds, polled every {EVERY * 1000:.0f} ms:")
        for key, label in (
            ("served", "CRD Established -> kind served (metric)"),
            ("first", "CRD Established -> first reconcile of an MR applied then"),
            ("ready", "CRD Established -> that MR Ready"),
            ("base", "baseline: apply -> Ready, kind already served"),
        ):
            values = figures[key]
            print(
                f"{label}: median {statistics.median(values):.2f}s"
                f" (min {min(values):.2f}s, max {max(values):.2f}s)"
            )
        return 0


def _kinds(provider: Path) -> list[Any]:
    from jetgen.runtime.contract import kindsfile

    return kindsfile.load(harness.kinds_file(provider)).kinds


def one_round(
    api: Any,
    provider: Path,
    metrics: Metrics,
    ns: str,
    plural: str,
    kind: str,
    spec: dict[str, Any],
    run: int,
) -> dict[str, float]:
    def mr(name: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": {"forProvider": spec},
        }

    def get(name: str) -> dict[str, Any] | None:
        return harness.get(api, f"{plural}.{GROUP}", name, ns)

    crd = f"{plural}.{GROUP}"
    served_before = metrics.gauge("jetgen_kinds_served")
    api.kubectl(
        "apply",
        "--server-side",
        "-f",
        str(provider / "install" / "crds" / f"{GROUP}_{plural}.yaml"),
    )
    established = until(
        f"{crd} Established",
        lambda: (
            harness.condition(harness.get(api, "crd", crd, None), "Established").get("status")
            == "True"
        ),
    )
    # The metric is watched alongside, while the MR is applied at once.
    watcher = ThreadPoolExecutor(1)
    served_at = watcher.submit(
        until, "served", lambda: metrics.gauge("jetgen_kinds_served") > served_before
    )
    api.apply(mr(f"a-{run}"))
    served = served_at.result()
    watcher.shutdown()
    first = until(
        "first reconcile", lambda: (o := get(f"a-{run}")) and o["metadata"].get("finalizers")
    )
    ready = until("Ready", lambda: harness.is_ready(get(f"a-{run}")))
    started = time.monotonic()
    api.apply(mr(f"b-{run}"))
    base = until("baseline Ready", lambda: harness.is_ready(get(f"b-{run}"))) - started
    api.kubectl("delete", plural + "." + GROUP, "--all", "-n", ns, "--timeout=120s")
    api.kubectl("delete", "crd", crd, "--timeout=120s")
    until("kind no longer served", lambda: metrics.gauge("jetgen_kinds_served") == served_before)
    return {
        "served": served - established,
        "first": first - established,
        "ready": ready - established,
        "base": base,
    }


if __name__ == "__main__":
    sys.exit(main())
