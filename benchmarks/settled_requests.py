"""Which state Secret requests a settled controller makes after a start, and why.

    .venv/bin/python benchmarks/settled_requests.py [--mrs 500] [--poll 10] [--restarts 2]
        [--watch 60] [--bucket 5] [--controller-arg=--provider-rss-growth=1 ...]

The scale benchmark's set-up at a small size with a short poll: a fresh control plane,
provider-random's CRDs, its controller as a process; the controller stopped while
``--mrs`` random_id MRs are POSTed, then started (its start creates them all), until all
are Ready.  Then the controller is restarted ``--restarts`` times; after each start the
apiserver's requests on Secrets are counted in ``--bucket``-second steps for ``--watch``
seconds (by verb: GET = StateStore.load, PUT/POST = StateStore.save), next to the
controller's own account of every state Secret read and write of its passes -- which MR,
on which pass since the start, from the start's list or a GET, and why a write was
needed -- logged by ``benchmarks/state_trace/sitecustomize.py`` (first on the
controller's PYTHONPATH; it wraps the runtime's functions, changes nothing they do).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import kubeload  # noqa: E402
from benchmarks.common import Bench, Metrics, bench  # noqa: E402
from benchmarks.scale import GROUP, KINDS, PLURAL, PROVIDER, install_provider, mr  # noqa: E402
from tests.testbed.processes import free_port  # noqa: E402

TRACE = Path(__file__).resolve().parent / "state_trace"
LINE = re.compile(r"statetrace +(?P<t>[\d.]+) (?P<what>\w+) (?P<rest>.*)")


class Run:
    def __init__(self, b: Bench, args: argparse.Namespace):
        self.b = b
        self.args = args
        install_provider(b.api)
        self.namespace = b.api.create_namespace("settled")
        self.path = f"/apis/{GROUP}/v1alpha1/namespaces/{self.namespace}/{PLURAL}"
        self.watch = kubeload.ReadyWatch(b.api, self.path)
        self.watch.start()
        self.ctl: Any = None
        self.logs: list[Path] = []

    def start(self) -> float:
        self.stop()
        port = free_port()
        log = f"controller-{len(self.b.controllers)}.log"
        self.logs.append(self.b.work / log)
        self.ctl = self.b.controller(
            KINDS,
            poll=self.args.poll,
            namespace=self.namespace,
            extra_args=["--metrics-port", str(port), *self.args.controller_arg],
            env={"PYTHONPATH": os.pathsep.join([str(TRACE), str(PROVIDER)])},
            log=log,
        )
        self.metrics = Metrics(port)
        return time.monotonic()

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def secrets(self, seconds: float, started: float, names: set[str] | None = None) -> None:
        """Print the Secret requests per bucket from ``started`` for ``seconds``; with
        ``names``, until those are all Ready instead (at most ``--timeout``)."""
        api = self.b.api
        before = kubeload.request_counts(api)
        end = started + seconds
        t = started
        print("    seconds  " + "  ".join(f"{v:>5}" for v in ("GET", "PUT", "POST", "other")))
        if names is not None:
            end = started + self.args.timeout
        while t < end:
            if names is not None and self.watch.count_ready(names) == len(names):
                print(f"  all Ready {time.monotonic() - started:.0f}s after the start")
                return
            t = min(t + self.args.bucket, end)
            time.sleep(max(0.0, t - time.monotonic()))
            now = kubeload.request_counts(api)
            step = kubeload.diff(now, before)
            before = now
            secrets = Counter({verb: n for (verb, res), n in step.items() if res == "secrets"})
            other = sum(n for (verb, res), n in step.items() if res != "secrets")
            row = [secrets.get("GET", 0), secrets.get("PUT", 0), secrets.get("POST", 0), other]
            print(f"    {t - started:5.0f}s  " + "  ".join(f"{v:>5}" for v in row), flush=True)


def summary(log: Path) -> None:
    """The controller's own account (statetrace lines) of one start."""
    loads: Counter[str] = Counter()
    get_times: list[float] = []
    saves: Counter[str] = Counter()
    missing = 0
    settled_none = 0
    notes: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        m = LINE.search(line)
        if not m:
            continue
        t, what, rest = float(m["t"]), m["what"], m["rest"]
        if what == "load":
            how = "GET" if " GET " in rest else "primed"
            loads[how] += 1
            if how == "GET":
                get_times.append(t)
        elif what == "save":
            why = rest.split(" ", 2)[2] if rest.count(" ") >= 2 else rest
            saves[re.sub(r"\d+->\d+|[0-9a-f]{8}->[0-9a-f]{8}|none->[0-9a-f]{8}", "*", why)] += 1
            if len(notes) < 8:
                notes.append(f"t={t:.1f} save {rest}")
        elif what == "restore":
            if "missing" in rest:
                missing += 1
            elif "settled=none" in rest:
                settled_none += 1
                if len(notes) < 16:
                    notes.append(f"t={t:.1f} restore {rest}")
        elif what in ("prime", "observed"):
            notes.append(f"t={t:.1f} {what} {rest}")
    span = f" at t={min(get_times):.0f}-{max(get_times):.0f}s" if get_times else ""
    print(
        f"  {log.name}: loads {dict(loads)}{span}; saves {dict(saves)}; "
        f"first passes without a settled mark {settled_none}; workdir states missing {missing}"
    )
    for note in notes:
        print(f"    {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=500)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--watch", type=float, default=60.0, help="seconds after each start")
    parser.add_argument("--bucket", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--controller-arg", action="append", default=[])
    parser.add_argument("--keep", type=Path, help="copy the controllers' logs into this folder")
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]), flush=True)
    with bench("settled") as b:
        run = Run(b, args)
        try:
            names = [f"id-{i:05d}" for i in range(args.mrs)]
            kubeload.create_all(b.api, run.path, [mr(n, run.namespace) for n in names], 32)
            started = run.start()
            print(f"start with {args.mrs} new MRs:", flush=True)
            # Until all are Ready, then restarted at once (as scale.py does): passes of
            # the start may still be under way.
            run.secrets(args.watch, started, set(names))
            for i in range(1, args.restarts + 1):
                started = run.start()
                print(f"restart {i}:", flush=True)
                run.secrets(args.watch, started)
        finally:
            run.stop()
            run.watch.stop()
            for log in run.logs:
                if log.exists():
                    summary(log)
                    if args.keep:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(log, args.keep / log.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
