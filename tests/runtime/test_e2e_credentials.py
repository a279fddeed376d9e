"""End-to-end: ProviderConfig credentials reach the Terraform process, never the logs.

None of the test bed's providers takes credentials, so the local provider's kinds.json is
given one (``token`` -> ``JETGEN_E2E_TOKEN``), exactly as the generator writes it for a
provider that has them, and Terraform runs through a wrapper that records a hash of what
the variable held in each run.
"""

from __future__ import annotations

import json
import stat
import urllib.request

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr
from tests.runtime.scrape import Metrics
from tests.runtime.tokens import kinds_with_token, plugin_tokens, recording_tofu, sha
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

WRONG = "first-token-0000"
RIGHT = "rotated-token-9999"
BUNDLED = "bundled-token-4242"


def test_credentials_from_cluster_provider_config(apiserver, testbed, local_provider, tmp_path):
    kinds, info = kinds_with_token(local_provider, tmp_path)
    tofu = recording_tofu(testbed, tmp_path)
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
    tofu.install(ctl)

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
        assert sha(WRONG) in tofu.hashes()

        # A rotation: the next poll proves the MR unchanged over the plugin protocol, with a
        # provider process started with the new token, and runs no plan.
        plans = Metrics(metrics_port).terraform_runs().get("plan", 0)
        secret["stringData"] = {"token": RIGHT}
        apiserver.apply(secret)
        wait_for("rotated token used", lambda: sha(RIGHT) in plugin_tokens(tmp_path / "work"))
        assert Metrics(metrics_port).terraform_runs().get("plan", 0) == plans
        assert sha(RIGHT) not in tofu.hashes()

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
