"""Steady state: controller CPU and memory while Ready local_file MRs are polled.

    .venv/bin/python benchmarks/runtime_poll.py [--mrs 500] [--poll 60] [--window 180]
                                                [--poll-driver plugin|cli] [--repeat 3]

Creates ``--mrs`` local_file MRs, waits until all are Ready, lets one poll interval pass
(every MR has then been polled once since it settled), then measures for ``--window``
seconds, ``--repeat`` times back to back:

* CPU of the controller process itself; of its children (Terraform runs and the providers
  they start: the controller's cutime+cstime, which counts each run once it exits); and of
  the shared provider processes the plugin-protocol poll uses (found by their working
  directory, ``<workdir-root>/.plugin-cwd``; recycled ones included), each as cores
  (CPU-seconds / window);
* polls in the window (plugin polls from ``jetgen_plugin_polls_total``; Terraform runs
  from ``jetgen_terraform_run_duration_seconds_count``) and CPU-seconds per poll;
* RSS of the controller (VmRSS, its own only) and, separately, of the shared provider
  processes: median and peak of one sample per second.

With ``--poll`` other than 60 or ``--mrs`` other than 500 it also prints the figure
extrapolated to 500 MRs polled every 60 s (CPU-seconds per poll x 500 / 60), labelled so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Metrics, bench, cpu_seconds, processes_in, rss_mib  # noqa: E402
from benchmarks.runtime_ready import file_mr, ready_names  # noqa: E402
from tests.runtime import harness  # noqa: E402

METRICS_PORT = 18089


def provider_cpu(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds(pid)[0] for pid in pids}


def polls_done(metrics: Metrics) -> tuple[int, int]:
    """(plugin polls, Terraform runs) so far."""
    plugin = sum(metrics.polls(r) for r in ("unchanged", "gone", "drift", "error"))
    runs = sum(n for command, n in metrics.terraform_runs().items() if command != "init")
    return plugin, runs


def measure(ctl_pid: int, metrics: Metrics, cwd: Path, window: float) -> dict[str, float]:
    own0, children0 = cpu_seconds(ctl_pid)
    pids = processes_in(cwd)
    prov0 = provider_cpu(pids)
    plugin0, runs0 = polls_done(metrics)
    rss, prss = [], []
    started = time.monotonic()
    while time.monotonic() - started < window:
        rss.append(rss_mib(ctl_pid))
        prss.append(sum(rss_mib(p) for p in processes_in(cwd)))
        time.sleep(1.0)
    elapsed = time.monotonic() - started
    own1, children1 = cpu_seconds(ctl_pid)
    # Providers started during the window count from zero; one that was recycled (exited
    # and reaped by the controller) moved its whole CPU time into the controller's
    # children figure, of which only the part inside the window is ours.
    prov1 = provider_cpu(processes_in(cwd))
    recycled = sum(cpu for pid, cpu in prov0.items() if pid not in prov1)
    plugin1, runs1 = polls_done(metrics)
    return {
        "seconds": elapsed,
        "own": own1 - own0,
        "children": children1 - children0 - recycled,
        "providers": sum(prov1[p] - prov0.get(p, 0.0) for p in prov1),
        "plugin_polls": plugin1 - plugin0,
        "terraform_runs": runs1 - runs0,
        "rss_median": statistics.median(rss),
        "rss_peak": max(rss),
        "provider_rss_median": statistics.median(prss),
        "provider_rss_peak": max(prss),
        "provider_processes": len(pids),
    }


def report(m: dict[str, float], args: argparse.Namespace) -> float:
    total = m["own"] + m["children"] + m["providers"]
    polls = m["plugin_polls"] + m["terraform_runs"]
    per_poll = total / polls if polls else float("nan")
    print(
        f"  window {m['seconds']:.0f}s: cores controller {m['own'] / m['seconds']:.3f}, "
        f"terraform runs + exited providers {m['children'] / m['seconds']:.3f}, "
        f"shared providers {m['providers'] / m['seconds']:.3f} "
        f"(total {total / m['seconds']:.3f})"
    )
    print(
        f"    polls: {m['plugin_polls']} plugin, {m['terraform_runs']} Terraform runs; "
        f"{per_poll * 1000:.1f} ms CPU per poll (all processes)"
    )
    print(
        f"    RSS controller median {m['rss_median']:.0f} MiB, peak {m['rss_peak']:.0f} MiB; "
        f"{m['provider_processes']} shared provider process(es) median "
        f"{m['provider_rss_median']:.0f} MiB, peak {m['provider_rss_peak']:.0f} MiB"
    )
    return per_poll


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=500)
    parser.add_argument("--poll", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poll-driver", choices=["plugin", "cli"], default="plugin")
    parser.add_argument("--max-runs", type=int, default=4)
    args = parser.parse_args()
    with bench("poll") as b:
        api = b.api
        provider = b.generate("local")
        extra = ["--max-runs", str(args.max_runs), "--metrics-port", str(METRICS_PORT)]
        ctl = b.controller(
            harness.kinds_file(provider),
            poll=args.poll,
            extra_args=[*extra, "--poll-driver", args.poll_driver],
        )
        metrics = Metrics(METRICS_PORT)
        out = b.work / "files"
        out.mkdir()
        ns = api.create_namespace("poll")
        names = [f"p-{i:04d}" for i in range(args.mrs)]
        started = time.monotonic()
        for i in range(0, len(names), 100):
            api.apply([file_mr(n, ns, out) for n in names[i : i + 100]])
        harness.wait_for(
            f"{args.mrs} Ready",
            lambda: len(ready_names(api, ns)) == len(names),
            timeout=3600,
            every=2,
        )
        print(
            f"poll driver {args.poll_driver}: {args.mrs} local_file MRs Ready in "
            f"{time.monotonic() - started:.0f}s; poll interval {args.poll:g}s"
        )
        time.sleep(args.poll)  # every MR settled and polled once
        cwd = b.work / "workdirs" / ".plugin-cwd"
        per_poll, cores, rss = [], [], []
        for _ in range(args.repeat):
            m = measure(ctl.proc.pid, metrics, cwd, args.window)
            per_poll.append(report(m, args))
            cores.append((m["own"] + m["children"] + m["providers"]) / m["seconds"])
            rss.append(m["rss_peak"])
        print(
            f"median of {args.repeat}: {statistics.median(cores):.3f} cores in total, "
            f"{statistics.median(per_poll) * 1000:.1f} ms CPU per poll, "
            f"controller peak RSS {statistics.median(rss):.0f} MiB"
        )
        if args.mrs != 500 or args.poll != 60:
            print(
                "extrapolated (not measured) to 500 MRs polled every 60 s: "
                f"{statistics.median(per_poll) * 500 / 60:.3f} cores"
            )
        return 0


if __name__ == "__main__":
    sys.exit(main())
