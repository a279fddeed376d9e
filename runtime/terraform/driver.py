"""The driver interface, and :class:`CliDriver`, which runs the ``tofu``/``terraform`` CLI.

:class:`CliDriver` runs ``tofu`` or ``terraform`` (both 1.5+ understand the same flags):

* every workdir holds ``main.tf.json``, ``terraform.tfstate`` and a saved plan; it is
  created ``0700`` because state and config carry secrets;
* providers are installed once into a template directory by ``init`` (from the filesystem
  mirror that ``TF_CLI_CONFIG_FILE`` points at) and each workdir links to them, so there is
  never an ``init`` (let alone a download) per managed resource;
* runs take one of ``max_runs`` slots (:class:`RunSlots`) because each one starts a
  provider process that costs tens of MB and a good part of a core; waiting runs are
  served by priority so finishing work and new objects go before routine drift checks;
* errors come back as :class:`TerraformError` carrying the parsed diagnostics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jetgen.runtime.provider_requirements import install_config
from jetgen.runtime.terraform.credentials import HOME_DIR, run_environment
from jetgen.runtime.terraform.diagnostics import (
    Diagnostic,
    TerraformError,
    apply_outcome_known,
    parse_json_lines,
    parse_text_diagnostics,
)
from jetgen.runtime.terraform.plans import Plan, plan_changes, summarize_plan
from jetgen.runtime.terraform.slots import CHANGE, FINISH, RunSlots
from jetgen.runtime.terraform.workdir import LOCK_FILE, PLAN_FILE, Workdir

logger = logging.getLogger(__name__)

# Every Terraform process running now, so a controller that lost its leader Lease can end
# them at once (see operator.py): a standby is about to take over their objects.
_RUNNING: set[asyncio.subprocess.Process] = set()


def kill_running() -> int:
    """SIGKILL every running Terraform process; returns how many there were."""
    killed = 0
    for proc in list(_RUNNING):
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
                killed += 1
    return killed


class Driver(Protocol):
    async def prepare(self, source: str, version: str) -> None:
        """Make the provider available (once per controller, before any workdir)."""

    def workdir(self, key: str) -> Workdir:
        """The working directory for one managed resource (created, linked to providers)."""

    async def plan(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        refresh_only: bool = False,
        priority: int = CHANGE,
    ) -> Plan:
        """Refresh and plan; the plan is saved in ``wd`` for :meth:`apply`."""

    async def apply(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        saved: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Apply the plan saved by the last :meth:`plan`, or (``saved=False``) plan and
        apply in one go -- a create needs no separate look first.  ``timeout`` overrides
        the driver's default run timeout (a kind's create/update timeout)."""

    async def import_resource(
        self, wd: Workdir, env: Mapping[str, str], address: str, import_id: str
    ) -> None: ...

    async def changes(self, wd: Workdir, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """(changed attributes, attributes forcing replacement) of the saved plan."""

    async def destroy(
        self, wd: Workdir, env: Mapping[str, str], *, timeout: float | None = None
    ) -> None: ...


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


RunObserver = Callable[[str, float, bool], None]  # (command, seconds, ok)


class CliDriver:
    """Runs the ``tofu``/``terraform`` CLI; see the module docstring."""

    def __init__(
        self,
        *,
        binary: str,
        root: Path,
        cli_config: str | None = None,
        max_runs: int = 4,
        run_timeout: float = 3600.0,
        observer: RunObserver | None = None,
    ):
        self.binary = binary
        self.root = root
        self.cli_config = cli_config
        self.run_timeout = run_timeout
        self.slots = RunSlots(max_runs)
        self.observer = observer
        self.template: Path | None = None
        # Set under leader election: a run may start only while this returns True.
        self.fence: Callable[[], bool] | None = None

    # -- shared provider installation --

    async def prepare(self, source: str, version: str) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        (self.root / HOME_DIR).mkdir(mode=0o700, exist_ok=True)
        name = os.path.basename(self.binary)
        digest = hashlib.sha256(f"{self.binary}|{source}|{version}".encode()).hexdigest()[:12]
        template = self.root / f".providers-{name}-{digest}"
        wd = Workdir(template)
        wd.ensure()
        wd.write_config(install_config(source, version))
        if not (template / LOCK_FILE).exists() or not (template / ".terraform").exists():
            result = await self._run(["init", "-input=false", "-no-color"], template, {}, FINISH)
            if result.returncode != 0:
                diagnostics = parse_text_diagnostics(result.stdout + "\n" + result.stderr)
                raise TerraformError("init", diagnostics, result.stderr.strip()[-500:])
        self.template = template

    def workdir(self, key: str) -> Workdir:
        if self.template is None:
            raise RuntimeError("CliDriver.prepare() must run before workdirs are used")
        wd = Workdir(self.root / key)
        wd.ensure()
        dot = wd.path / ".terraform"
        dot.mkdir(mode=0o700, exist_ok=True)
        link = dot / "providers"
        if not link.exists():
            link.symlink_to(self.template / ".terraform" / "providers")
        lock = wd.path / LOCK_FILE
        if not lock.exists():
            shutil.copyfile(self.template / LOCK_FILE, lock)
        return wd

    # -- lifecycle commands --

    async def plan(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        refresh_only: bool = False,
        priority: int = CHANGE,
    ) -> Plan:
        args = ["plan", "-input=false", "-json", "-detailed-exitcode", f"-out={PLAN_FILE}"]
        if refresh_only:
            args.append("-refresh-only")
        result = await self._run(args, wd.path, env, priority)
        messages, diagnostics = parse_json_lines(result.stdout)
        if result.returncode not in (0, 2):
            raise TerraformError("plan", diagnostics, _tail(result.stderr))
        plan = summarize_plan(messages)
        plan.warnings = [d for d in diagnostics if d.severity == "warning"]
        _log_warnings("plan", wd, plan.warnings)
        return plan

    async def apply(
        self,
        wd: Workdir,
        env: Mapping[str, str],
        *,
        saved: bool = True,
        timeout: float | None = None,
    ) -> None:
        args = ["apply", "-input=false", "-json", "-auto-approve"]
        if saved:
            args.append(PLAN_FILE)
        result = await self._run(args, wd.path, env, FINISH if saved else CHANGE, timeout)
        messages, diagnostics = parse_json_lines(result.stdout)
        if result.returncode != 0:
            known = apply_outcome_known(result.returncode, messages, diagnostics)
            raise TerraformError("apply", diagnostics, _tail(result.stderr), nothing_created=known)
        _log_warnings("apply", wd, [d for d in diagnostics if d.severity == "warning"])

    async def import_resource(
        self, wd: Workdir, env: Mapping[str, str], address: str, import_id: str
    ) -> None:
        args = ["import", "-input=false", "-no-color", address, import_id]
        result = await self._run(args, wd.path, env, FINISH)
        if result.returncode != 0:
            diagnostics = parse_text_diagnostics(result.stdout + "\n" + result.stderr)
            raise TerraformError("import", diagnostics, _tail(result.stderr))

    async def changes(self, wd: Workdir, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        result = await self._run(["show", "-json", PLAN_FILE], wd.path, env, FINISH)
        if result.returncode != 0:
            raise TerraformError("show", [], _tail(result.stderr))
        try:
            return plan_changes(json.loads(result.stdout))
        except (json.JSONDecodeError, AttributeError, TypeError):
            return [], []

    async def destroy(
        self, wd: Workdir, env: Mapping[str, str], *, timeout: float | None = None
    ) -> None:
        args = ["destroy", "-input=false", "-json", "-auto-approve"]
        result = await self._run(args, wd.path, env, FINISH, timeout)
        if result.returncode != 0:
            _, diagnostics = parse_json_lines(result.stdout)
            raise TerraformError("destroy", diagnostics, _tail(result.stderr))

    # -- process handling --

    def environment(self, extra: Mapping[str, str], home: Path | None = None) -> dict[str, str]:
        """The whole environment of a Terraform or provider process (see
        :func:`credentials.run_environment`); ``home`` defaults to the shared empty one."""
        return run_environment(extra, home=home or self.root / HOME_DIR, cli_config=self.cli_config)

    async def _run(
        self,
        args: list[str],
        cwd: Path,
        env: Mapping[str, str],
        priority: int,
        timeout: float | None = None,
    ) -> RunResult:
        command = args[0]
        await self.slots.acquire(priority)
        started = time.monotonic()
        ok = False
        try:
            result = await self._spawn(args, cwd, env, timeout or self.run_timeout)
            ok = result.returncode in (0, 2) if command == "plan" else result.returncode == 0
            return result
        finally:
            self.slots.release()
            if self.observer is not None:
                self.observer(command, time.monotonic() - started, ok)

    async def _spawn(
        self, args: list[str], cwd: Path, env: Mapping[str, str], timeout: float
    ) -> RunResult:
        started = time.monotonic()
        if self.fence is not None and not self.fence():
            raise TerraformError(args[0], [], "not started: this replica is not the leader")
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            cwd=cwd,
            env=self.environment(env, home=cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            umask=0o077,  # state and plan files hold secrets: keep them private too
        )
        _RUNNING.add(proc)
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            await _interrupt(proc)
            raise TerraformError(args[0], [], f"timed out after {timeout:g}s") from None
        except asyncio.CancelledError:
            await _interrupt(proc)
            raise
        finally:
            _RUNNING.discard(proc)
        logger.debug("%s %s exited %s", os.path.basename(self.binary), args[0], proc.returncode)
        return RunResult(
            returncode=proc.returncode if proc.returncode is not None else -1,
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
            seconds=time.monotonic() - started,
        )


async def _interrupt(proc: asyncio.subprocess.Process, grace: float = 20.0) -> None:
    """Stop a run the way a user's Ctrl-C would: Terraform then saves what it has done."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(proc.wait(), 5)  # reap it


def _log_warnings(command: str, wd: Workdir, warnings: list[Diagnostic]) -> None:
    # Providers put anything in a warning, secrets included: the log filter masks them
    # (redaction.py).  The workdir's name is the MR's UID.
    for warning in warnings:
        logger.info("%s %s: Terraform warning: %s", wd.path.name, command, warning.short())


def _tail(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text[-limit:]
