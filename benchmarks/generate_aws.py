"""Benchmark: generate everything for the AWS provider schema (987 resources).

    .venv/bin/python benchmarks/generate_aws.py [--runs 3] [--schema FILE] [--no-models]

Each run is a cold ``jetgen generate`` into a fresh directory, as a child process; its
whole process tree's resident memory (datamodel-codegen and ruff included) is sampled
every 20 ms.  Prints per-run wall time and peak RSS, the median, resources per second,
the median time of each phase (``--timings``), and a no-change re-run.
Goals: <= 30 s wall, <= 1 GiB peak RSS, no-change re-run < 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The shared folder sits next to the repository (../shared), never at a fixed machine path.
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "aws-4.15.1.json"


def tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_once(schema: Path, output: Path, extra: list[str]) -> tuple[float, int, str]:
    command = [
        sys.executable,
        "-m",
        "jetgen.generator.cli",
        "generate",
        "--schema",
        str(schema),
        "--output",
        str(output),
        "--timings",
        *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"generation failed:\n{stderr}")
    return elapsed, peak, stdout


def phases(stdout: str) -> dict[str, float]:
    return {
        m.group(1).strip(): float(m.group(2))
        for m in re.finditer(r"^\s+(\S.*?)\s+([\d.]+) s$", stdout, re.M)
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    p.add_argument("--no-models", action="store_true")
    args = p.parse_args()
    extra = ["--no-models"] if args.no_models else []
    resources = len(
        next(iter(json.loads(args.schema.read_text())["provider_schemas"].values()))[
            "resource_schemas"
        ]
    )
    times, peaks, all_phases = [], [], []
    with tempfile.TemporaryDirectory(prefix="jetgen-bench-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            elapsed, peak, stdout = run_once(args.schema, out, extra)
            times.append(elapsed)
            peaks.append(peak)
            all_phases.append(phases(stdout))
            print(f"run {i + 1}: {elapsed:6.2f} s wall, peak RSS {peak / 2**20:6.0f} MiB")
        rerun, _, rerun_out = run_once(args.schema, Path(tmp) / "run0", extra)
    median = statistics.median(times)
    print(f"\n{args.schema.name}: {resources} resources")
    print(f"median wall   {median:6.2f} s   ({resources / median:.0f} resources/s)")
    print(f"max peak RSS  {max(peaks) / 2**20:6.0f} MiB (process tree)")
    print(f"no-change re-run {rerun:5.2f} s ({rerun_out.splitlines()[0]})")
    print("median time per phase:")
    for name in all_phases[0]:
        print(f"  {name:<14} {statistics.median(ph.get(name, 0) for ph in all_phases):6.2f} s")


if __name__ == "__main__":
    main()
