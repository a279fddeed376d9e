"""Terraform driver: one private working directory per managed resource, CLI runs in it.

The reconciler talks to :class:`Driver` only -- ``plan``, ``apply``, ``import_resource``,
``destroy`` on a :class:`Workdir` -- so a later driver may speak the plugin protocol to a
long-lived provider process instead of forking the CLI; nothing else would change.

:class:`CliDriver` runs ``tofu`` or ``terraform`` (both 1.5+ understand the same flags):

* every workdir holds ``main.tf.json`` (built by :func:`render_main`), ``terraform.tfstate``
  and a saved plan; it is created ``0700`` because state and config carry secrets;
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
import heapq
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jetgen.runtime import literal

logger = logging.getLogger(__name__)

CONFIG_FILE = "main.tf.json"
STATE_FILE = "terraform.tfstate"
PLAN_FILE = "jetgen.tfplan"
LOCK_FILE = ".terraform.lock.hcl"
RESOURCE_NAME = "this"

# Variables that carry credentials into the provider block; values travel in TF_VAR_*
# environment variables so they are never written into main.tf.json on disk.
CREDENTIAL_VAR_PREFIX = "jetgen_credential_"

# The only variables of the controller's environment a Terraform run inherits: how to find
# programs, locale and time zone, temporary files, CA bundles, proxies.  None is an identity.
PASSED_THROUGH = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
HOME_DIR = ".home"  # under the workdir root: HOME of the shared provider processes


# --- main.tf.json --------------------------------------------------------------------


def provider_local_name(source: str) -> str:
    """``hashicorp/random`` -> ``random`` (the name used in provider blocks)."""
    return source.rstrip("/").rsplit("/", 1)[-1]


def render_main(
    *,
    source: str,
    version: str,
    resource_type: str,
    arguments: Mapping[str, Any],
    provider_arguments: Mapping[str, Any] | None = None,
    credential_arguments: list[str] | tuple[str, ...] = (),
    ignore_changes: list[str] | None = None,
) -> dict[str, Any]:
    """The whole ``main.tf.json`` of one managed resource.

    ``credential_arguments`` names provider arguments whose values come from the
    ProviderConfig's Secret; each becomes a sensitive variable filled through the
    environment (see :func:`credential_env_name`).
    """
    local = provider_local_name(source)
    requirement: dict[str, Any] = {"source": source}
    if version:
        requirement["version"] = version
    # Everything from a spec or ProviderConfig is data: escaped so Terraform evaluates none
    # of it.  Only the credential variables below are interpolations, and they are ours.
    provider = literal.escape(dict(provider_arguments or {}))
    variables: dict[str, Any] = {}
    for name in credential_arguments:
        var = CREDENTIAL_VAR_PREFIX + name
        variables[var] = {"type": "string", "sensitive": True}
        provider[name] = f"${{var.{var}}}"
    resource = literal.escape(dict(arguments))
    resource["lifecycle"] = {"prevent_destroy": False}
    if ignore_changes:
        resource["lifecycle"]["ignore_changes"] = sorted(ignore_changes)
    doc: dict[str, Any] = {
        "terraform": {"required_providers": {local: requirement}},
        "provider": {local: provider},
        "resource": {resource_type: {RESOURCE_NAME: resource}},
    }
    if variables:
        doc["variable"] = variables
    return doc


def credential_env_name(argument: str) -> str:
    return f"TF_VAR_{CREDENTIAL_VAR_PREFIX}{argument}"


def resource_address(resource_type: str) -> str:
    return f"{resource_type}.{RESOURCE_NAME}"


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def duration_seconds(text: str | None) -> float | None:
    """``"20m"``, ``"1h30m"``, ``"45s"`` (Terraform's timeout syntax) -> seconds."""
    if not text:
        return None
    total, number = 0.0, ""
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in _DURATION_UNITS and number:
            total += float(number) * _DURATION_UNITS[ch]
            number = ""
        else:
            raise ValueError(f"not a duration: {text!r}")
    if number:
        raise ValueError(f"duration {text!r} lacks a unit (h, m or s)")
    return total


# --- diagnostics ---------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str = ""
    address: str | None = None

    def short(self) -> str:
        detail = " ".join(self.detail.split())
        return f"{self.summary}: {detail}" if detail else self.summary


# What Terraform itself says when the provider's ReadResource returns a null state for
# an imported ID (terraform/internal/terraform/node_resource_import.go): the one
# structured "it does not exist" an import gives.  Providers' own messages never count.
IMPORT_NON_EXISTENT = "Cannot import non-existent remote object"

# Diagnostics that say the provider, not the request, failed: the outcome is unknown.
_CRASH_SUMMARIES = (
    "Plugin did not respond",
    "Request cancelled",
    "Provider produced inconsistent result after apply",
    "Provider returned invalid result object after apply",
    "Failed to save state",
    "Failed to persist state",
    "Error saving state",
)


class TerraformError(Exception):
    """A Terraform run failed.  ``str()`` is a short message fit for a condition.

    ``nothing_created`` is True only when the run shows nothing was created: Terraform
    exited normally and either never started applying the resource or the provider
    returned an error (whose new state the reconciler still checks); a timeout, a signal,
    a crashed or unresponsive provider leave it False (outcome unknown).
    """

    def __init__(
        self,
        command: str,
        diagnostics: list[Diagnostic],
        fallback: str = "",
        *,
        nothing_created: bool = False,
    ):
        self.command = command
        self.diagnostics = diagnostics
        self.nothing_created = nothing_created
        errors = [d for d in diagnostics if d.severity == "error"] or diagnostics
        text = "; ".join(d.short() for d in errors) or fallback or "failed without diagnostics"
        super().__init__(f"{command}: {text}")

    @property
    def not_found(self) -> bool:
        """Import found nothing: every error is Terraform's null-ReadResource verdict."""
        errors = [d for d in self.diagnostics if d.severity == "error"]
        return bool(errors) and all(d.summary == IMPORT_NON_EXISTENT for d in errors)

    @property
    def stale_plan(self) -> bool:
        return any("saved plan is stale" in d.short().lower() for d in self.diagnostics)


def apply_outcome_known(
    returncode: int, messages: list[dict[str, Any]], diagnostics: list[Diagnostic]
) -> bool:
    """Whether a failed ``apply -json`` shows that nothing was created.

    Only a normal exit (1) counts.  Then either no resource change was started (the run
    failed while planning or configuring the provider), or the provider answered the
    change with an error (``apply_errored``) and did not crash.
    """
    if returncode != 1 or not any(d.severity == "error" for d in diagnostics):
        return False
    if any(d.summary.startswith(_CRASH_SUMMARIES) for d in diagnostics):
        return False
    started = [m for m in messages if m.get("type") == "apply_start"]
    errored = [m for m in messages if m.get("type") == "apply_errored"]
    return not started or bool(errored)


def parse_json_lines(output: str) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """Split ``-json`` machine output into messages and diagnostics (bad lines skipped)."""
    messages: list[dict[str, Any]] = []
    diagnostics: list[Diagnostic] = []
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        messages.append(message)
        diag = message.get("diagnostic")
        if message.get("type") == "diagnostic" and isinstance(diag, dict):
            diagnostics.append(
                Diagnostic(
                    severity=diag.get("severity", "error"),
                    summary=diag.get("summary", "").strip(),
                    detail=diag.get("detail", "").strip(),
                    address=diag.get("address"),
                )
            )
    return messages, diagnostics


_BOX = "╷│╵"


def parse_text_diagnostics(output: str) -> list[Diagnostic]:
    """Diagnostics from human-readable output (``import`` has no ``-json``).

    A diagnostic starts with ``Error: <summary>`` or ``Warning: <summary>``; the detail is
    every following line up to the next diagnostic or the end of its box.
    """
    diagnostics: list[Diagnostic] = []
    current: dict[str, Any] | None = None
    for raw in output.splitlines():
        boxed = raw.lstrip().startswith(tuple(_BOX))
        line = raw.strip().lstrip(_BOX).strip()
        head = line.split(":", 1)
        if len(head) == 2 and head[0] in ("Error", "Warning"):
            if current:
                diagnostics.append(_finish(current))
            current = {"severity": head[0].lower(), "summary": head[1].strip(), "detail": []}
        elif current is not None:
            if raw.strip().startswith("╵"):
                diagnostics.append(_finish(current))
                current = None
            elif line or boxed:
                current["detail"].append(line)
    if current:
        diagnostics.append(_finish(current))
    return diagnostics


def _finish(current: dict[str, Any]) -> Diagnostic:
    detail_lines = [d for d in current["detail"] if d]
    # Source snippets ("on main.tf.json line 3 ...") say nothing to a Kubernetes user.
    detail_lines = [d for d in detail_lines if not d.startswith("on main.tf.json")]
    return Diagnostic(current["severity"], current["summary"], "\n".join(detail_lines))


# --- plans ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What a ``plan`` found: the resource's planned action and any drift seen on refresh."""

    action: str = "no-op"  # create | update | replace | delete | no-op
    drift: str | None = None  # update | delete (gone) as seen by refresh, if anything
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return self.action != "no-op"


def summarize_plan(messages: list[dict[str, Any]]) -> Plan:
    plan = Plan()
    for message in messages:
        change = message.get("change") or {}
        if message.get("type") == "planned_change":
            plan.action = _normal_action(change.get("action", "no-op"))
        elif message.get("type") == "resource_drift":
            plan.drift = _normal_action(change.get("action", "update"))
    return plan


def _normal_action(action: str) -> str:
    # Terraform says "noop"/"no-op" and "replace"/"delete_create"/"create_delete".
    if action in ("noop", "no-op", "read"):
        return "no-op"
    if action in ("delete_create", "create_delete", "replace"):
        return "replace"
    return action


def plan_changes(shown: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed attributes, attributes forcing replacement) of ``show -json <plan>``."""
    changed: set[str] = set()
    forcing: set[str] = set()
    for rc in shown.get("resource_changes") or []:
        if rc.get("mode", "managed") != "managed":
            continue
        change = rc.get("change") or {}
        before, after = change.get("before") or {}, change.get("after") or {}
        unknown = change.get("after_unknown") or {}
        for name in set(before) | set(after) | set(unknown):
            if before.get(name) != after.get(name) or unknown.get(name) is True:
                changed.add(name)
        for path in change.get("replace_paths") or []:
            if path:
                forcing.add(".".join(str(step) for step in path))
    return sorted(changed), sorted(forcing)


# --- working directories -------------------------------------------------------------


class Workdir:
    """One managed resource's private directory (mode 0700)."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    def ensure(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # mkdir honours umask; be explicit

    def write_config(self, doc: dict[str, Any]) -> bool:
        """Write ``main.tf.json``; returns whether it changed."""
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        path = self.path / CONFIG_FILE
        if path.exists() and path.read_text() == text:
            return False
        _write_private(path, text.encode())
        return True

    def read_state(self) -> bytes | None:
        try:
            return self.state_file.read_bytes()
        except FileNotFoundError:
            return None

    def write_state(self, data: bytes) -> None:
        _write_private(self.state_file, data)

    def resource_attributes(self) -> dict[str, Any] | None:
        """Attributes of the one resource in the state, or ``None`` if there is none."""
        return state_attributes(self.read_state())

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def state_instance(data: bytes | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(resource, instance) of the one managed resource instance in a JSON state (its
    ``attributes`` a dict), or ``None`` if there is none or the state is broken."""
    if not data:
        return None
    try:
        state = json.loads(data)
    except json.JSONDecodeError:
        return None
    for resource in state.get("resources") or []:
        if resource.get("mode", "managed") != "managed":
            continue
        for instance in resource.get("instances") or []:
            if isinstance(instance.get("attributes"), dict):
                return resource, instance
    return None


def state_attributes(data: bytes | None) -> dict[str, Any] | None:
    found = state_instance(data)
    return found[1]["attributes"] if found else None


def state_serial(data: bytes | None) -> tuple[str, int]:
    """(lineage, serial) of a state file; ("", -1) if it is missing or broken."""
    if not data:
        return "", -1
    try:
        state = json.loads(data)
        return str(state.get("lineage", "")), int(state.get("serial", -1))
    except (json.JSONDecodeError, TypeError, ValueError):
        return "", -1


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


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


# --- run slots -----------------------------------------------------------------------

# Lower runs first.  Finishing work already started (apply after its plan, destroy, import)
# beats starting new work, and new or changed objects beat routine drift checks, so a
# burst of new objects or a big periodic poll never starves what users are waiting for.
FINISH, CHANGE, POLL = 0, 1, 2


class RunSlots:
    """A semaphore whose waiters are served by priority, then first come first served."""

    def __init__(self, size: int):
        self.size = size
        self.busy = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, priority: int) -> None:
        if self.busy < self.size and not self._waiters:
            self.busy += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._counter += 1
        heapq.heappush(self._waiters, (priority, self._counter, future))
        try:
            await future  # release() hands its slot over: busy stays counted
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot arrived just as we were cancelled: pass it on
            else:
                self._waiters = [w for w in self._waiters if w[2] is not future]
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self.busy -= 1


# --- the driver interface ------------------------------------------------------------


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
        local = provider_local_name(source)
        requirement = {"source": source, **({"version": version} if version else {})}
        wd.write_config({"terraform": {"required_providers": {local: requirement}}})
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
        """The whole environment of a Terraform or provider process: the few variables
        of :data:`PASSED_THROUGH`, the run's settings, then ``extra`` (credentials from the
        ProviderConfig, or the controller's environment if it chose ``InjectedIdentity``).
        Nothing else of the controller's own environment -- its service account, cloud
        identity, ``KUBERNETES_*``, its home -- reaches a tenant's run."""
        env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
        env.update(
            {
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",  # no version check calls home
                # A private, empty home: no ~/.aws, ~/.config/gcloud, ~/.kube of ours.
                "HOME": str(home or self.root / HOME_DIR),
            }
        )
        if self.cli_config:
            env["TF_CLI_CONFIG_FILE"] = self.cli_config
        env.update(extra)
        # Never let a workdir fall back to downloading providers.
        env.pop("TF_PLUGIN_CACHE_DIR", None)
        return env

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
