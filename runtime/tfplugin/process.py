"""Run one Terraform provider binary as a go-plugin server: start, handshake, logs, stop.

A provider binary is a HashiCorp go-plugin server. Started with the magic cookie in its
environment, it opens a gRPC server on a Unix socket and prints one handshake line on stdout:

    CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|PROTOCOL|[SERVER-CERT]

e.g. `1|5|unix|/tmp/plugin123|grpc|`. APP-PROTOCOL-VERSION is the Terraform plugin protocol
(5 or 6) it chose from our PLUGIN_PROTOCOL_VERSIONS. TLS is used only when the client sends
PLUGIN_CLIENT_CERT; we never do: the socket is private to this machine (mode 0700 dir).

Process hygiene, because a controller must never leak providers:
- the provider runs in its own process group (start_new_session), so the stop path can
  signal everything it started, and a Ctrl-C aimed at the controller does not hit it first;
- on Linux it also gets PR_SET_PDEATHSIG=SIGKILL, so it dies if the controller dies without
  stopping it (crash, SIGKILL). Caveat: the signal fires when the *thread* that forked it
  ends, so start providers from a long-lived thread (the event loop's);
- stop() asks go-plugin to shut down (GRPCController.Shutdown), waits, then SIGTERM and
  SIGKILL to the group.
Its stderr (go-plugin / hclog JSON lines) and stdio stream are drained continuously into
Python logging: an undrained pipe would eventually block the provider on a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grpclib.client import Channel, UnaryStreamMethod, UnaryUnaryMethod
from grpclib.exceptions import GRPCError
from jetgen.runtime.tfplugin import goplugin_pb2 as goplugin
from jetgen.runtime.tfplugin.transport import CoalescingChannel

log = logging.getLogger(__name__)

# The cookie Terraform and OpenTofu set; without it a provider refuses to run as a plugin.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"

_HCLOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_PR_SET_PDEATHSIG = 1

# Unless told otherwise, the Terraform plugin SDKs write debug/trace lines to stderr on every
# RPC (about 5 per ReadResource), which the CLI filters out. Formatting and parsing them
# doubles the CPU cost of a poll, so we ask for warnings and errors only unless the caller
# set TF_LOG itself (then it wants logs, and these would override it); see quiet_logs.
_QUIET_SDK_LOGS = (
    "TF_LOG_PROVIDER",
    "TF_LOG_SDK",
    "TF_LOG_SDK_PROTO",
    "TF_LOG_SDK_FRAMEWORK",
    "TF_LOG_SDK_HELPER_SCHEMA",
    "TF_LOG_SDK_MUX",
)


def provider_log_variable(provider: str) -> str:
    """The variable terraform-plugin-go reads the level of a provider's own logger from:
    ``TF_LOG_PROVIDER_`` and the type part of the provider's address (the ``<type>`` of
    its ``terraform-provider-<type>`` binary), "-" written "_", in upper case."""
    return "TF_LOG_PROVIDER_" + provider.replace("-", "_").upper()


def quiet_logs(env: dict[str, str], provider: str) -> None:
    """Set the SDKs' and the provider's own log levels in ``env`` to WARN, unless the
    caller chose them (a level it set is kept; with TF_LOG set, none is touched)."""
    if "TF_LOG" in env:
        return
    for name in _QUIET_SDK_LOGS:
        env.setdefault(name, "WARN")
    # A provider served under its registry address (terraform-plugin-go, SDKv2 and the
    # framework alike) takes its own logger's level from this variable, not from
    # TF_LOG_PROVIDER; unset, that logger writes everything down to trace: linode
    # 2.37.0 logged a debug line per ReadResource ("Read linode_domain"), which the
    # controller read, parsed and dropped on every settled poll.
    env.setdefault(provider_log_variable(provider), env["TF_LOG_PROVIDER"])


class PluginStartError(RuntimeError):
    """The binary did not come up as a usable go-plugin gRPC server."""


@dataclass(frozen=True)
class Handshake:
    core_version: int
    protocol_version: int
    network: str
    address: str
    transport: str

    @classmethod
    def parse(cls, line: str) -> Handshake:
        parts = line.strip().split("|")
        if len(parts) < 5 or not parts[0].isdigit() or not parts[1].isdigit():
            raise PluginStartError(f"not a go-plugin handshake line: {line.strip()[:200]!r}")
        if len(parts) > 5 and parts[5]:
            raise PluginStartError("the plugin offered TLS, which this client does not do")
        return cls(int(parts[0]), int(parts[1]), parts[2], parts[3], parts[4])


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


# Looked up once in the parent: the child, between fork and exec, only makes the call.
_prctl = _load_prctl()


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def tree_rss(pid: int) -> int | None:
    """Resident bytes of ``pid`` and its descendants, from Linux's /proc; None where /proc
    cannot tell (another OS, or the process is gone).  A few small reads per thread of
    the tree: cheap enough for once a second, not for every call."""
    own = _rss(pid)
    if own is None:
        return None
    total, todo, seen = own, _children(pid), {pid}
    while todo:
        child = todo.pop()
        if child in seen:
            continue
        seen.add(child)
        total += _rss(child) or 0  # a child may exit meanwhile
        todo.extend(_children(child))
    return total


def _rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    """Direct children (each thread's ``children`` file lists the ones it forked)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


class PluginProcess:
    """A started provider binary and the gRPC channel to it. Use `start()`, then `stop()`."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        handshake: Handshake,
        name: str,
    ):
        self.process = process
        self.handshake = handshake
        self.channel: Channel | None = None  # set once the handshake is read
        self.name = name
        self._log = logging.getLogger(f"{__name__}.{name}")
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def protocol_version(self) -> int:
        return self.handshake.protocol_version

    @property
    def connected(self) -> Channel:
        """The gRPC channel; every process `start()` returned has one."""
        if self.channel is None:
            raise PluginStartError(f"{self.name}: not connected (use PluginProcess.start)")
        return self.channel

    @property
    def alive(self) -> bool:
        """False once the process has exited (a crashed provider must be restarted)."""
        return self.process.returncode is None

    def rss(self) -> int | None:
        """Resident bytes of the provider and every process it started (see tree_rss)."""
        return tree_rss(self.pid) if self.alive else None

    @classmethod
    async def start(
        cls,
        binary: str | os.PathLike[str],
        *,
        protocol_versions: tuple[int, ...] = (5, 6),
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        handshake_timeout: float = 60.0,
    ) -> PluginProcess:
        """Start `binary`, read its handshake and connect. Raises PluginStartError."""
        binary = Path(binary)
        name = binary.name.removeprefix("terraform-provider-").split("_v")[0]
        child_env = dict(os.environ if env is None else env)
        child_env[MAGIC_COOKIE_KEY] = MAGIC_COOKIE_VALUE
        child_env["PLUGIN_PROTOCOL_VERSIONS"] = ",".join(str(v) for v in protocol_versions)
        child_env.pop("PLUGIN_CLIENT_CERT", None)  # would switch the server to mutual TLS
        quiet_logs(child_env, name)

        process = await asyncio.create_subprocess_exec(
            str(binary),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        plugin = cls(process, Handshake(0, 0, "", "", ""), name)
        plugin._tasks.append(asyncio.create_task(plugin._drain_stderr()))
        try:
            plugin.handshake = await plugin._read_handshake(handshake_timeout, protocol_versions)
            plugin.channel = plugin._connect()
        except BaseException:
            await plugin.stop(grace=0)
            raise
        plugin._tasks.append(asyncio.create_task(plugin._drain_stdout()))
        plugin._tasks.append(asyncio.create_task(plugin._stream_stdio()))
        log.debug(
            "started %s pid=%d protocol=%d at %s",
            name,
            process.pid,
            plugin.protocol_version,
            plugin.handshake.address,
        )
        return plugin

    async def _read_handshake(self, timeout: float, wanted: tuple[int, ...]) -> Handshake:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise PluginStartError(
                f"{self.name}: no handshake within {timeout:.0f}s{self._stderr_hint()}"
            ) from None
        if not line:
            code = await self.process.wait()
            # Give the stderr reader a moment to collect the reason.
            await asyncio.sleep(0.05)
            raise PluginStartError(
                f"{self.name}: exited with {code} before the handshake{self._stderr_hint()}"
            )
        handshake = Handshake.parse(line.decode(errors="replace"))
        if handshake.core_version != 1 or handshake.transport != "grpc":
            raise PluginStartError(f"{self.name}: unsupported go-plugin handshake {handshake}")
        if handshake.protocol_version not in wanted:
            raise PluginStartError(
                f"{self.name}: speaks plugin protocol {handshake.protocol_version}, "
                f"not one of {wanted}"
            )
        return handshake

    def _connect(self) -> Channel:
        if self.handshake.network == "unix":
            return CoalescingChannel(path=self.handshake.address)
        if self.handshake.network == "tcp":
            host, _, port = self.handshake.address.rpartition(":")
            return CoalescingChannel(host=host.strip("[]"), port=int(port))
        raise PluginStartError(f"{self.name}: unsupported network {self.handshake.network!r}")

    def _stderr_hint(self) -> str:
        return (": " + " | ".join(self._stderr_tail)) if self._stderr_tail else ""

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr_tail.append(line[:500])
                self._log_line(line)

    async def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self._log.debug("stdout: %s", raw.decode(errors="replace").rstrip())

    async def _stream_stdio(self) -> None:
        """Subscribe to go-plugin's stdio stream so the provider's writes never block."""
        method = UnaryStreamMethod(
            self.connected, "/plugin.GRPCStdio/StreamStdio", goplugin.Empty, goplugin.StdioData
        )
        try:
            async with method.open() as stream:
                await stream.send_message(goplugin.Empty(), end=True)
                async for chunk in stream:
                    for line in chunk.data.decode(errors="replace").splitlines():
                        if line.strip():
                            self._log_line(line)
        except (GRPCError, OSError, ConnectionError, asyncio.CancelledError):
            pass  # the stream ends when the provider stops; older servers lack it

    def _log_line(self, line: str) -> None:
        # hclog JSON: {"@level": "debug", "@message": "...", ...}; anything else verbatim.
        level, message = logging.DEBUG, line
        if line.startswith("{"):
            try:
                record = json.loads(line)
                level = _HCLOG_LEVELS.get(str(record.get("@level")), logging.DEBUG)
                message = str(record.get("@message", line))
            except ValueError:
                pass
        self._log.log(level, "%s", message)

    async def stop(self, grace: float = 5.0) -> int | None:
        """Stop the provider (idempotent). Returns its exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.returncode is None and grace > 0 and self.channel is not None:
            shutdown = UnaryUnaryMethod(
                self.channel, "/plugin.GRPCController/Shutdown", goplugin.Empty, goplugin.Empty
            )
            # The server stops mid-call, so a connection error here is the normal outcome.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(shutdown(goplugin.Empty()), grace)
        if self.channel is not None:
            self.channel.close()
        code = await self._wait(grace)
        if code is None:
            self._signal_group(signal.SIGTERM)
            code = await self._wait(2.0)
        if code is None:
            self._signal_group(signal.SIGKILL)
            code = await self.process.wait()
        # Anything the provider itself started in its group goes too.
        self._signal_group(signal.SIGKILL)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.debug("stopped %s pid=%d exit=%s", self.name, self.pid, code)
        return code

    async def _wait(self, timeout: float) -> int | None:
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            return None

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
