"""Restart settle: how long a restarted controller takes until every MR has had a pass.

    .venv/bin/python benchmarks/restart.py [--mrs 1000,5000] [--poll 60] [--restarts 3]
        [--runtime REV ...] [--lock /tmp/jetgen-bench.lock]

The set-up of benchmarks/scale.py without its burst and windows: a fresh control plane,
the reference provider-random's CRDs and ClusterProviderConfig, its controller as a
process, and N random_id MRs created and Ready.  Then the controller is restarted
``--restarts`` times for each N of ``--mrs`` and each restart's **settle** is timed: from
the restart until every MR has had a pass, nothing is queued or running and all are Ready
(scale.py's ``settle``).  The controller spreads the first passes of settled MRs over one
poll interval on purpose, so settle is at least about ``--poll``; more is backlog.  Per
restart it also prints the controller's CPU-seconds and the apiserver requests made until
settled (by verb and resource).

``--runtime REV`` (repeatable): the controller runs the runtime of git revision REV (its
``runtime/`` put first on the controller's PYTHONPATH) instead of this tree's; with several,
every restart is done once with each, in turn -- the same MRs, control plane and machine
for all, so a before/after comparison is side by side.  The set-up uses the last one.

``--lock FILE``: the restarts of each N are timed holding an exclusive ``flock`` on FILE
(the shared benchmark lock), taken after its set-up and given back before the next N's:
a set-up of 10,000 MRs takes longer than a measuring run may hold the lock.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import kubeload  # noqa: E402
from benchmarks.common import REPO, Bench, Metrics, bench, cpu_seconds  # noqa: E402
from benchmarks.scale import GROUP, KINDS, PLURAL, PROVIDER, install_provider, mr, passes  # noqa: E402
from tests.testbed.processes import free_port  # noqa: E402


def runtime_of(rev: str, into: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes ``jetgen.runtime`` the runtime of ``rev``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "runtime", "jetgen/__init__.py"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "runtime").rename(into / "jetgen" / "runtime")
    return into


class Restarts:
    """One control plane with N MRs and the controller restarted on it."""

    def __init__(self, b: Bench, args: argparse.Namespace):
        self.b = b
        self.args = args
        api = b.api
        install_provider(api)
        self.namespace = api.create_namespace("restart")
        self.path = f"/apis/{GROUP}/v1alpha1/namespaces/{self.namespace}/{PLURAL}"
        self.watch = kubeload.ReadyWatch(api, self.path)
        self.watch.start()
        self.names: list[str] = []
        self.ctl: Any = None
        self.metrics: Metrics | None = None

    def start(self, pythonpath: Path | None = None) -> float:
        """(Re)start the controller; returns when it was started."""
        if self.ctl is not None:
            self.ctl.stop()
        port = free_port()
        self.metrics = Metrics(port)
        paths = [str(p) for p in (pythonpath, PROVIDER) if p is not None]
        started = time.monotonic()
        self.ctl = self.b.controller(
            KINDS,
            poll=self.args.poll,
            namespace=self.namespace,
            extra_args=["--metrics-port", str(port), "--max-runs", str(self.args.max_runs)],
            # Safe path: the working folder (this tree) must not come before ``pythonpath``.
            env={"PYTHONPATH": os.pathsep.join(paths), "PYTHONSAFEPATH": "1"},
            log=f"controller-{len(self.b.controllers)}.log",
        )
        return started

    def grow(self, n: int) -> None:
        first = len(self.names)
        names = [f"id-{i:05d}" for i in range(first, n)]
        if not names:
            return
        started = time.monotonic()
        kubeload.create_all(self.b.api, self.path, [mr(x, self.namespace) for x in names], 32)
        self.names += names
        if not self.watch.wait_ready(set(names), self.args.timeout):
            raise SystemExit(f"set-up to {n} MRs: not all Ready; see {self.b.work}")
        took = time.monotonic() - started
        print(f"set-up to {n} MRs: {len(names)} created and Ready in {took:.0f}s", flush=True)

    def settle(self, started: float) -> dict[str, Any]:
        """Wait until settled (scale.py's rule); seconds, controller CPU, requests."""
        assert self.metrics is not None and self.ctl is not None
        requests0 = kubeload.request_counts(self.b.api)
        deadline = started + self.args.timeout
        seconds = None
        while time.monotonic() < deadline:
            try:
                done = passes(self.metrics) >= len(self.names) and not self._busy()
            except OSError:
                done = False  # metrics not served yet
            if done and self.watch.count_ready() >= len(self.names):
                seconds = time.monotonic() - started
                break
            time.sleep(0.5)
        return {
            "seconds": seconds,
            "cpu": sum(cpu_seconds(self.ctl.proc.pid)),
            "requests": kubeload.diff(kubeload.request_counts(self.b.api), requests0),
        }

    def _busy(self) -> bool:
        assert self.metrics is not None
        return (
            self.metrics.gauge("jetgen_terraform_queue_depth") > 0
            or self.metrics.gauge("jetgen_terraform_runs_in_flight") > 0
        )


@contextlib.contextmanager
def locked(path: str | None, wait: float) -> Any:
    """Hold an exclusive flock on ``path`` (none if None), waiting at most ``wait`` s."""
    if path is None:
        yield
        return
    with open(path, "a") as file:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{path}: not free within {wait:.0f}s") from None
                time.sleep(1.0)
        print(f"holding {path}; load {os.getloadavg()}", flush=True)
        try:
            yield
        finally:
            print(f"giving back {path}; load {os.getloadavg()}", flush=True)
            fcntl.flock(file, fcntl.LOCK_UN)


def show(n: int, which: str, i: int, r: dict[str, Any]) -> None:
    took = f"{r['seconds']:.1f}s" if r["seconds"] is not None else "NOT within --timeout"
    requests: Counter = r["requests"]
    top = ", ".join(f"{verb} {res} {count}" for (verb, res), count in requests.most_common(6))
    print(
        f"{n} MRs, {which}, restart {i}: settled {took}; controller CPU {r['cpu']:.1f}s; "
        f"{sum(requests.values())} apiserver requests ({top})",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mrs", type=lambda t: [int(x) for x in t.split(",")], default=[1000, 5000]
    )
    parser.add_argument("--poll", type=float, default=60.0)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        help="git revision whose runtime the controller runs (repeat: in turn)",
    )
    parser.add_argument("--max-runs", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900.0, help="per wait, seconds")
    parser.add_argument("--lock", help="flock held while the restarts are timed (see above)")
    parser.add_argument("--lock-wait", type=float, default=1200.0, help="seconds, at most")
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}; load {os.getloadavg()}")
    figures: dict[tuple[int, str], list[float | None]] = {}
    with bench("restart") as b:
        variants: list[tuple[str, Path | None]] = [
            (f"runtime of {rev}", runtime_of(rev, b.work / f"runtime-{i}"))
            for i, rev in enumerate(args.runtime)
        ] or [("this tree", None)]
        r = Restarts(b, args)
        r.start(variants[-1][1])
        for n in sorted(args.mrs):
            r.grow(n)
            with locked(args.lock, args.lock_wait):
                for i in range(1, args.restarts + 1):
                    for which, path in variants:
                        result = r.settle(r.start(path))
                        show(n, which, i, result)
                        figures.setdefault((n, which), []).append(result["seconds"])
    for (n, which), values in figures.items():
        done = [v for v in values if v is not None]
        median = (
            f"{statistics.median(done):.1f}s" if len(done) == len(values) else "not all settled"
        )
        shown = ", ".join(f"{v:.1f}" if v is not None else "-" for v in values)
        print(f"{n} MRs, {which}: settle median {median} ({shown})")
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
