"""What the runtime benchmarks share: a control plane of the test bed in a temp folder, a
generated provider's CRDs on it, its controller as a subprocess, and readings of processes
(``/proc``) and of the controller's own metrics.

Everything is real, as in the end-to-end tests (``tests/runtime/harness.py``): the test
bed's etcd and kube-apiserver, CRDs from ``jetgen generate``, the controller as a process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.runtime import harness  # noqa: E402
from tests.runtime.scrape import Metrics  # noqa: E402
from tests.testbed import controlplane  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402

__all__ = [
    "Bench",
    "Metrics",
    "bench",
    "commit",
    "cpu_seconds",
    "cpu_user_system",
    "descendants",
    "load",
    "processes_in",
    "rss_mib",
]

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Bench:
    """One benchmark's test bed, control plane and scratch folder."""

    bed: Testbed
    work: Path
    plane: controlplane.ControlPlane
    controllers: list[harness.Controller] = field(default_factory=list)

    @property
    def api(self) -> Any:
        return self.plane.api

    def generate(
        self, name: str, extra: dict[str, Any] | None = None, *, install: bool = True
    ) -> Path:
        """Generate the provider ``name`` of the test bed's mirror (hashicorp/<name>) and
        install its CRDs (unless told not to); returns the generated folder."""
        schema = harness.provider_schema(self.bed, self.work / f"schema-{name}", [name])
        provider = harness.generate(schema, self.work / name, name, self.bed.providers[name], extra)
        if install:
            harness.install_crds(self.api, provider)
        return provider

    def controller(
        self,
        kinds: Path,
        *,
        poll: float,
        extra_args: list[str],
        namespace: str | None = None,
        binary: str = "tofu",
        env: dict[str, str] | None = None,
        log: str = "controller.log",
    ) -> harness.Controller:
        """A controller for ``kinds`` (a kinds.json), started; stopped when the bench ends
        at the latest."""
        ctl = harness.Controller(
            kinds=kinds,
            apiserver=self.api,
            testbed=self.bed,
            workdir_root=self.work / "workdirs",
            log=self.work / log,
            binary=binary,
            poll=poll,
            extra_args=extra_args,
            namespace=namespace,
            env=env,
        ).start()
        self.controllers.append(ctl)
        return ctl


@contextmanager
def bench(prefix: str) -> Iterator[Bench]:
    """A fresh control plane in a new temp folder; on exit the controllers started from it
    stop, then the plane, and the folder is removed."""
    bed = Testbed()
    bed.require_installed()
    work = Path(tempfile.mkdtemp(prefix=f"jetgen-bench-{prefix}-"))
    plane = controlplane.start(bed, work / "plane")
    state = Bench(bed, work, plane)
    try:
        yield state
    finally:
        for ctl in state.controllers:
            ctl.stop()
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- what a figure is measured on --------------------------------------------------------


def load() -> str:
    """The load averages (1/5/15 min): figures measured under load say so."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def commit() -> str:
    """The measured commit, with '+changes' when the work tree differs from it."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


# --- /proc -------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own user+system, reaped children's user+system) CPU-seconds of a process."""
    fields = _stat(pid)
    if fields is None:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / TICKS, (cutime + cstime) / TICKS


def cpu_user_system(pid: int) -> tuple[float, float]:
    """(user, system) CPU-seconds of a process itself: how much of it the kernel spent
    on its behalf (syscalls: socket sends and reads, epoll, file reads)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0, 0.0
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def rss_mib(pid: int) -> float:
    """Resident memory of one process (VmRSS), 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pids() -> Iterator[int]:
    return (int(entry) for entry in os.listdir("/proc") if entry.isdigit())


def processes_in(cwd: Path) -> list[int]:
    """Live processes whose working directory is ``cwd`` (the shared provider processes
    of the plugin-protocol poll run in ``<workdir-root>/.plugin-cwd``)."""
    found = []
    for pid in _pids():
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")) == cwd:
                found.append(int(pid))
        except OSError:
            continue
    return found


def descendants(root: int) -> list[int]:
    """Live processes descended from ``root`` (not itself): everything a controller runs,
    Terraform runs and their providers as well as the shared provider processes, which
    sit in sessions of their own."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None:
            children.setdefault(int(stat[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
