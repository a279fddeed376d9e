"""Start and stop the test bed's server processes without ever leaving one behind.

Every server runs in its own process group (so its children go with it) and, when
`tied` is set, with PR_SET_PDEATHSIG: the kernel kills it if the Python process that
started it dies, even by SIGKILL, when no finalizer or atexit handler gets to run.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


# Servers tied to this Python process that have not been stopped yet.
_running: list[Server] = []


class StartupError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


@dataclass
class Server:
    """One running server process (the leader of its own process group)."""

    name: str
    pid: int
    log: Path
    binary: str
    popen: subprocess.Popen | None = None  # None when re-attached from a state file

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _is_same_process(self.pid, self.binary)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """Signal the whole process group, escalate to SIGKILL after `grace` seconds."""
        if not self.alive():
            self._reap()
            return
        _signal_group(self.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self.alive():
                break
            time.sleep(0.05)
        # SIGKILL the group even after the leader exited: a child may still linger.
        _signal_group(self.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self in _running:
            _running.remove(self)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def spawn(
    name: str,
    cmd: list[str],
    log: Path,
    *,
    tied: bool = True,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> Server:
    """Start `cmd` in a new session, output to `log`.

    tied=True: the process dies with this Python process (fixtures). tied=False: it
    outlives it (`scripts/testbed up`), and `stop` is called later via a state file.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if tied else None,
            env=env,
            cwd=cwd,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    server = Server(name, popen.pid, log, cmd[0], popen)
    if tied:
        _running.append(server)
    return server


def start_server(
    name: str,
    cmd: list[str],
    log: Path,
    ready: Callable[[], bool],
    timeout: float,
    tied: bool,
    *,
    watch: Sequence[Server] = (),
    **spawn_options,
) -> Server:
    """spawn() and wait until `ready`; a server that does not come up is stopped again.

    `watch`: servers this one depends on; the wait fails fast when one of them exits.
    """
    server = spawn(name, cmd, log, tied=tied, **spawn_options)
    try:
        wait_until([*watch, server], ready, timeout, name)
    except BaseException:
        server.stop()
        raise
    return server


def stop_all(servers: list[Server]) -> None:
    """Stop in reverse start order (clients before the servers they talk to)."""
    for server in reversed(servers):
        server.stop()


@atexit.register
def _stop_leftovers() -> None:
    # Safety net for a session that ends without running its finalizers.
    stop_all(list(_running))


def wait_until(
    server_list: list[Server], check: Callable[[], bool], timeout: float, what: str
) -> None:
    """Poll `check` until it returns True; fail fast if one of the servers exited."""
    deadline = time.monotonic() + timeout
    while True:
        for server in server_list:
            if not server.alive():
                raise StartupError(
                    f"{server.name} exited while waiting for {what} (log: {server.log}):\n"
                    f"{server.log_tail()}"
                )
        if check():
            return
        if time.monotonic() > deadline:
            last = server_list[-1]
            raise StartupError(
                f"{what} not ready after {timeout:.0f}s (log: {last.log}):\n{last.log_tail()}"
            )
        time.sleep(0.1)


def retry_port_clash(start: Callable[[], T], attempts: int = 3) -> T:
    """Call `start` again when its server lost the race for a port from free_port().

    `start` must stop its own server when it fails (start_server does).
    """
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except StartupError as exc:
            if attempt == attempts or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


def free_port() -> int:
    """A loopback port that was free a moment ago (bind port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _is_same_process(pid: int, binary: str) -> bool:
    """True if `pid` still runs `binary` (guards against a recycled pid in a state file)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return cmdline == binary
