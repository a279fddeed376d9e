"""End-to-end: ProviderConfig credentials reach the Terraform process, never the logs.

None of the test bed's providers takes credentials, so the local provider's kinds.json is
given one (``token`` -> ``JETGEN_E2E_TOKEN``), exactly as the generator writes it for a
provider that has them, and Terraform runs through a wrapper that records a hash of what
the variable held in each run.
"""

from __future__ import annotations

import hashlib
import json
import socket
import stat
import urllib.request
from pathlib import Path

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.test_e2e_local_file import GROUP, file_mr

pytestmark = pytest.mark.e2e

WRONG = "first-token-0000"
RIGHT = "rotated-token-9999"
BUNDLED = "bundled-token-4242"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def plugin_tokens(workdir_root) -> list[str]:
    """Hashes of JETGEN_E2E_TOKEN in the environments of the shared provider processes
    (the plugin-protocol poll's, running in ``<workdir-root>/.plugin-cwd``)."""
    # Imported here: that module imports free_port from this one.
    from tests.runtime.test_e2e_plugin_poll import providers_running_in

    found = []
    for pid in providers_running_in(workdir_root / ".plugin-cwd"):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"JETGEN_E2E_TOKEN="):
                found.append(sha(entry.split(b"=", 1)[1].decode()))
    return found


def test_credentials_from_cluster_provider_config(apiserver, testbed, local_provider, tmp_path):
    info = json.loads(harness.kinds_file(local_provider).read_text())
    info["credentials"] = [{"key": "token", "env": "JETGEN_E2E_TOKEN"}]
    kinds = tmp_path / "kinds.json"
    kinds.write_text(json.dumps(info))
    seen = tmp_path / "seen-tokens"
    wrapper = tmp_path / "recording-tofu"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf %s "$JETGEN_E2E_TOKEN" | sha256sum | cut -d" " -f1 >> "{seen}"\n'
        f'exec "{testbed.tofu}" "$@"\n'
    )
    wrapper.chmod(0o755)

    ns = apiserver.create_namespace("creds")
    metrics_port = free_port()
    config_group = info["config_group"]
    config = {
        "apiVersion": f"{config_group}/{info['config_version']}",
        "kind": "ClusterProviderConfig",
        "metadata": {"name": f"vault-{ns}"},
        "spec": {
            "credentials": {
                "source": "Secret",
                "secretRef": {"name": "creds", "namespace": ns},
            }
        },
    }
    apiserver.apply(config)
    mr = file_mr("f", ns, tmp_path / "out" / "f.txt", "x\n")
    mr["spec"]["providerConfigRef"] = {"kind": "ClusterProviderConfig", "name": f"vault-{ns}"}
    ctl = Controller(
        kinds=kinds,
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=3,
        extra_args=["--log-level", "DEBUG", "--metrics-port", str(metrics_port)],
        namespace=ns,
        driver="cli",  # the wrapper records what each tofu run is given
    )
    ctl.args[ctl.args.index("--terraform") + 1] = str(wrapper)

    def synced_message():
        return harness.condition(get(apiserver, "files." + GROUP, "f", ns), "Synced").get(
            "message", ""
        )

    with ctl:
        apiserver.apply(mr)
        wait_for("missing Secret reported", lambda: "not found" in synced_message())

        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns},
            "stringData": {"other": "x"},
        }
        apiserver.apply(secret)
        wait_for("missing key reported", lambda: "no key 'token'" in synced_message())

        secret["stringData"] = {"token": WRONG}
        apiserver.apply(secret)
        wait_for("Ready", lambda: is_ready(get(apiserver, "files." + GROUP, "f", ns)))
        assert sha(WRONG) in seen.read_text().split()

        # A rotation: the next poll proves the MR unchanged over the plugin protocol, with a
        # provider process started with the new token, and runs no plan.
        from tests.runtime.test_e2e_plugin_poll import Metrics  # (see plugin_tokens)

        plans = Metrics(metrics_port).terraform_runs().get("plan", 0)
        secret["stringData"] = {"token": RIGHT}
        apiserver.apply(secret)
        wait_for("rotated token used", lambda: sha(RIGHT) in plugin_tokens(tmp_path / "work"))
        assert Metrics(metrics_port).terraform_runs().get("plan", 0) == plans
        assert sha(RIGHT) not in seen.read_text().split()

        # Crossplane's usual shape: one key holding a JSON object of credentials.
        apiserver.apply(
            {
                **secret,
                "stringData": {"bundle": json.dumps({"token": BUNDLED, "region": "x"})},
            }
        )
        config["spec"]["credentials"]["secretRef"]["key"] = "bundle"
        apiserver.apply(config)
        wait_for("bundled token used", lambda: sha(BUNDLED) in plugin_tokens(tmp_path / "work"))

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read()
        text = metrics.decode()
        assert 'jetgen_terraform_run_duration_seconds_count{command="apply",result="ok"}' in text
        assert 'jetgen_reconcile_errors_total{kind="File"}' in text
        assert "jetgen_terraform_queue_depth" in text

        obj = get(apiserver, "files." + GROUP, "f", ns)
        events = harness.events_text(apiserver, ns)
    logs = ctl.logs()
    for token in (WRONG, RIGHT, BUNDLED):
        assert token not in json.dumps(obj)
        assert token not in events
        assert token not in logs
    # No credential on disk in the workdir's configuration; workdirs are private.
    configs = list((tmp_path / "work").glob("*/main.tf.json"))
    assert configs
    for main_tf in configs:
        assert all(t not in main_tf.read_text() for t in (WRONG, RIGHT, BUNDLED))
        assert stat.S_IMODE(main_tf.stat().st_mode) == 0o600
        assert stat.S_IMODE(main_tf.parent.stat().st_mode) == 0o700
        for written_by_tofu in ("terraform.tfstate", "jetgen.tfplan"):
            path = main_tf.parent / written_by_tofu
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "work").stat().st_mode) == 0o700
