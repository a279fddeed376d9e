"""Time from `kubectl apply` to Ready for local_file managed resources, on the test bed.

    .venv/bin/python benchmarks/runtime_ready.py [--runs 10] [--burst 100] [--max-runs 4]
                                                 [--terraform tofu|terraform]

1. one MR at a time, ``--runs`` times: median / min / max seconds until Ready=True;
2. ``--burst`` MRs applied in one request: seconds until the first, the median and the
   last is Ready, plus the controller's peak RSS;
3. where the time goes: Terraform run durations per command from the controller's own
   Prometheus metrics (count, mean, total).

Everything is real: control plane, generated CRDs, the controller as a subprocess, tofu
(or terraform) with the local provider from the test bed's mirror.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench, rss_mib  # noqa: E402
from tests.runtime import harness  # noqa: E402

GROUP = "local.m.jetgen.dev"
METRICS_PORT = 18088


def file_mr(name: str, ns: str, folder: Path) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "File",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": {"filename": str(folder / f"{name}.txt"), "content": name}},
    }


def ready_names(api, ns: str) -> set[str]:
    status, text = api.http_get(f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/files")
    if status != 200:
        return set()
    return {o["metadata"]["name"] for o in json.loads(text)["items"] if harness.is_ready(o)}


def terraform_runs() -> dict[str, tuple[int, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics").read().decode()
    out: dict[str, list[float]] = {}
    pattern = (
        r'jetgen_terraform_run_duration_seconds_(sum|count)\{command="(\w+)",result="\w+"\} (\S+)'
    )
    for kind, command, value in re.findall(pattern, text):
        entry = out.setdefault(command, [0.0, 0.0])
        entry[0 if kind == "count" else 1] += float(value)
    return {c: (int(n), total) for c, (n, total) in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--max-runs", type=int, default=4)
    parser.add_argument("--terraform", choices=["tofu", "terraform"], default="tofu")
    args = parser.parse_args()
    with bench("runtime") as b:
        api = b.api
        provider = b.generate("local")
        ctl = b.controller(
            harness.kinds_file(provider),
            binary=args.terraform,
            poll=60,
            extra_args=["--max-runs", str(args.max_runs), "--metrics-port", str(METRICS_PORT)],
        )
        out = b.work / "files"
        out.mkdir()

        # Warm-up: the first pass also installs the provider template (one `init`).
        ns = api.create_namespace("bench")
        api.apply(file_mr("warmup", ns, out))
        harness.wait_for("warm-up Ready", lambda: "warmup" in ready_names(api, ns), timeout=120)
        base = terraform_runs()

        single = []
        for i in range(args.runs):
            name = f"one-{i}"
            started = time.monotonic()
            api.apply(file_mr(name, ns, out))
            harness.wait_for(name, lambda n=name: n in ready_names(api, ns), every=0.02)
            single.append(time.monotonic() - started)
        after_single = terraform_runs()

        burst_ns = api.create_namespace("burst")
        names = [f"b-{i:03d}" for i in range(args.burst)]
        seen: dict[str, float] = {}
        peak = 0.0
        started = time.monotonic()
        api.apply([file_mr(n, burst_ns, out) for n in names])
        while len(seen) < len(names) and time.monotonic() - started < 900:
            now = time.monotonic() - started
            for name in ready_names(api, burst_ns) - seen.keys():
                seen[name] = now
            peak = max(peak, rss_mib(ctl.proc.pid))
            time.sleep(0.1)
        after_burst = terraform_runs()
        times = sorted(seen.values())

        print(f"terraform binary: {args.terraform}, max concurrent runs: {args.max_runs}")
        print(
            f"single MR, apply -> Ready, {args.runs} runs: median {statistics.median(single):.2f}s"
            f" (min {min(single):.2f}s, max {max(single):.2f}s)"
        )
        print(
            f"{args.burst} MRs at once: {len(times)} Ready; first {times[0]:.1f}s, "
            f"median {statistics.median(times):.1f}s, last {times[-1]:.1f}s; "
            f"controller peak RSS {peak:.0f} MiB"
        )
        for label, before, after in (
            ("single", base, after_single),
            ("burst", after_single, after_burst),
        ):
            for command in sorted(after):
                n = after[command][0] - before.get(command, (0, 0.0))[0]
                total = after[command][1] - before.get(command, (0, 0.0))[1]
                if n:
                    print(
                        f"  {label:6s} terraform {command:8s} runs {n:4d}  mean {total / n:.2f}s"
                        f"  total {total:.1f}s"
                    )
        return 0 if len(times) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
