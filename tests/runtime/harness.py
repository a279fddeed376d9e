"""Helpers for the runtime's end-to-end tests: generate a provider, run its controller.

Everything is real: provider schemas come from the test bed's ``tofu providers schema``,
CRDs and ``kinds.json`` from ``jetgen generate``, the controller runs as a subprocess
(``python -m jetgen.runtime.cli``) against the test bed's kube-apiserver.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.testbed.kube import KubectlError

REPO = Path(__file__).resolve().parents[2]
JETGEN = REPO / ".venv" / "bin" / "jetgen"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, every: float = 0.3) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_error = exc
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


def provider_schema(
    testbed: Any, folder: Path, providers: list[str], namespace: str = "hashicorp"
) -> Path:
    """``providers schema -json`` for providers of one namespace from the test bed's mirror."""
    folder.mkdir(parents=True, exist_ok=True)
    required = {p: {"source": f"{namespace}/{p}"} for p in providers}
    (folder / "main.tf.json").write_text(
        json.dumps({"terraform": {"required_providers": required}})
    )
    env = testbed.tf_env()
    subprocess.run(
        [str(testbed.tofu), "init", "-input=false", "-no-color"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(testbed.tofu), "providers", "schema", "-json"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / "schema.json"
    path.write_text(out)
    return path


def generate(
    schema: Path,
    output: Path,
    name: str,
    version: str,
    extra: dict | None = None,
    namespace: str = "hashicorp",
    registry: str = "registry.opentofu.org",
) -> Path:
    """Run the real generator for one provider; returns the output directory.  ``registry``
    is the host the schema file names the provider by."""
    output.mkdir(parents=True, exist_ok=True)
    source = f"{namespace}/{name}"
    config = {"name": name, "source": source, "version": version, **(extra or {})}
    (output / "jetgen.yaml").write_text(yaml.safe_dump(config))
    subprocess.run(
        [
            str(JETGEN),
            "generate",
            "--repo",
            str(output),
            "--schema",
            str(schema),
            "--provider",
            f"{registry}/{source}",
            "--no-models",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return output


def _holders(apiserver: Any, crds: Path) -> list[str]:
    """Each existing CRD of ``crds``: its name, creation and deletion times and managers."""
    got = apiserver.kubectl("get", "-f", str(crds), "-o", "json", "--show-managed-fields",
                            "--ignore-not-found", check=False)  # fmt: skip
    found = json.loads(got.stdout or "{}")
    items = found.get("items", [found] if "metadata" in found else [])
    return [
        f"{o['metadata']['name']} created {o['metadata'].get('creationTimestamp')}"
        f" deleting {o['metadata'].get('deletionTimestamp')} managers "
        + ", ".join(
            f"{m.get('manager')}/{m.get('operation')}@{m.get('time')}"
            for m in o["metadata"].get("managedFields", [])
        )
        for o in items
    ]


def kinds_file(generated: Path) -> Path:
    (found,) = generated.glob("*/kinds.json")
    return found


def install_crds(apiserver: Any, generated: Path, timeout: float = 60) -> None:
    crds = generated / "install" / "crds"
    apply = ("apply", "--server-side", "-f", str(crds))
    done = apiserver.kubectl(*apply, check=False)
    if done.returncode != 0 and "conflict" in done.stderr:
        # Seen once, in CI: this fixture's CRDs already on the worker's apiserver, held by a
        # "kubectl-create" field manager; no test was found that creates them so.  Say who
        # holds them (in the run's warnings summary) and take them over: installing the
        # generated CRDs is this helper's whole job.
        holders = _holders(apiserver, crds)
        warnings.warn(f"{crds}: taken over from other field managers: {holders}", stacklevel=2)
        apiserver.kubectl(*apply, "--force-conflicts")
    elif done.returncode != 0:
        raise KubectlError(done.returncode, done.args, done.stdout, done.stderr)
    # `kubectl wait` fails at once on a CRD whose status has no conditions yet, as a CRD
    # just created on a busy apiserver can have: ask again until the timeout.
    deadline = time.monotonic() + timeout
    while True:
        wait = ("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", "-f", str(crds))
        done = apiserver.kubectl(*wait, check=False)
        if done.returncode == 0:
            return
        if "accessor error" not in done.stderr or time.monotonic() > deadline:
            apiserver.kubectl(*wait)  # raises, with kubectl's message
            return
        time.sleep(1)


class Controller:
    """The runtime as a subprocess in its own process group (so a test can SIGKILL the
    controller together with its Terraform children, as a container kill would)."""

    def __init__(
        self,
        *,
        kinds: Path,
        apiserver: Any,
        testbed: Any,
        workdir_root: Path,
        log: Path,
        binary: str = "tofu",
        poll: float = 5,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        namespace: str | None = None,
        driver: str | None = None,
    ):
        """``driver`` pins the controller's ``--driver`` (a test of one driver's own
        behaviour, e.g. one that wraps the tofu binary); unset, the suite's ``--driver``
        decides (tests/conftest.py passes it on as JETGEN_DRIVER)."""
        self.log = log
        binary_path = testbed.tofu if binary == "tofu" else testbed.terraform
        self.args = [
            sys.executable,
            "-m",
            "jetgen.runtime.cli",
            "--kinds",
            str(kinds),
            "--kubeconfig",
            str(apiserver.kubeconfig),
            "--poll-interval",
            str(poll),
            "--terraform",
            str(binary_path),
            "--cli-config",
            str(testbed.cli_config),
            "--workdir-root",
            str(workdir_root),
            *(extra_args or []),
        ]
        if driver:
            self.args += ["--driver", driver]
        if namespace:
            # Watch only the test's namespace: MRs left by other tests are not ours.
            self.args += ["--namespace", namespace]
        self.env = {**os.environ, **(env or {})}
        self.env.pop("TF_PLUGIN_CACHE_DIR", None)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Controller:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: controller and any running tofu/provider."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> Controller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def get(apiserver: Any, resource: str, name: str, namespace: str | None) -> dict | None:
    args = ["get", resource, name, "-o", "json"]
    if namespace:
        args += ["-n", namespace]
    proc = apiserver.kubectl(*args, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def condition(obj: dict | None, type_: str) -> dict:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return {}


def is_ready(obj: dict | None) -> bool:
    return (
        condition(obj, "Ready").get("status") == "True"
        and condition(obj, "Synced").get("status") == "True"
    )


def secret_data(apiserver: Any, name: str, namespace: str) -> dict[str, bytes] | None:
    import base64

    obj = get(apiserver, "secret", name, namespace)
    if obj is None:
        return None
    return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}


def events_text(apiserver: Any, namespace: str) -> str:
    return apiserver.kubectl("get", "events", "-n", namespace, "-o", "json").stdout


def processes_running_in(folder: Path) -> list[int]:
    """Live processes whose working directory is ``folder`` (the shared providers' run in
    ``<workdir-root>/.plugin-cwd``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(os.readlink(f"/proc/{entry}/cwd")) == folder:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def provider_controller(
    apiserver: Any, testbed: Any, provider: Path, tmp_path: Path, **kw
) -> Controller:
    """The controller of a generated provider, its workdirs under ``tmp_path / "work"`` and
    its log in ``tmp_path / "controller.log"``; ``kw``: Controller's other settings."""
    return Controller(
        kinds=kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        **kw,
    )
