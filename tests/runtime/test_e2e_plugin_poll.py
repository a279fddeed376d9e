"""End-to-end: settled MRs are polled over the plugin protocol, not with Terraform runs.

Terraform runs are counted by the controller's own metrics
(``jetgen_terraform_run_duration_seconds_count``), plugin polls by
``jetgen_plugin_polls_total``.  Drift is still repaired within one poll and spec changes
still go through Terraform.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP as LOCAL
from tests.runtime.local_mrs import file_mr
from tests.runtime.random_mrs import GROUP as RANDOM
from tests.runtime.scrape import Metrics
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

POLL = 2.0


def controller(apiserver, testbed, provider, tmp_path, ns, port, *extra) -> Controller:
    args = ["--metrics-port", str(port), *extra]
    return harness.provider_controller(
        apiserver, testbed, provider, tmp_path, poll=POLL, extra_args=args, namespace=ns
    )


def quiet_polls(metrics: Metrics, count: int) -> None:
    """Wait for ``count`` more polls that found nothing changed, asserting that no
    Terraform run nor driver operation happened meanwhile."""
    runs = metrics.terraform_runs(), metrics.writes()
    start = metrics.polls("unchanged")
    wait_for(
        f"{count} plugin polls",
        lambda: metrics.polls("unchanged") >= start + count,
        timeout=count * POLL + 15,
    )
    assert (metrics.terraform_runs(), metrics.writes()) == runs


def test_local_file_polls_without_terraform_and_still_repairs(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("plugin-poll")
    port = free_port()
    metrics = Metrics(port)
    target = tmp_path / "out" / "f.txt"
    ctl = controller(apiserver, testbed, local_provider, tmp_path, ns, port)
    with ctl:
        apiserver.apply(file_mr("f", ns, target, "v1\n"))
        wait_for("Ready", lambda: is_ready(get(apiserver, "files." + LOCAL, "f", ns)))
        assert metrics.writes() == {"apply": 1}  # a create: one apply, no plan first
        # The create settled it: from now on polls go over the plugin protocol.
        quiet_polls(metrics, 3)
        assert metrics.gauge("jetgen_provider_processes") == 1
        assert len(harness.processes_running_in(tmp_path / "work" / ".plugin-cwd")) == 1
        # Its schema fetched once; its size read (the recycle limit is measured on it).
        assert metrics.gauge("jetgen_provider_schema_fetches") == 1
        assert metrics.gauge("jetgen_provider_rss_bytes") > 4 * 1024 * 1024

        # Deleted by hand: the plugin poll sees it gone, Terraform recreates it.
        target.unlink()
        gone_at = time.monotonic()
        wait_for("file recreated", target.exists, timeout=POLL + 10, every=0.1)
        assert time.monotonic() - gone_at <= POLL + 5
        assert target.read_text() == "v1\n"
        assert metrics.polls("gone") == 1
        assert "recreated" in harness.events_text(apiserver, ns)

        # A spec change goes through Terraform (and is noticed at once, not at a poll).
        before = metrics.writes()
        apiserver.apply(file_mr("f", ns, target, "v2\n"))
        wait_for("file updated", lambda: target.read_text() == "v2\n", timeout=POLL + 10)
        obj = wait_for(
            "observedGeneration 2",
            lambda: (
                (o := get(apiserver, "files." + LOCAL, "f", ns))
                and o["status"].get("observedGeneration") == 2
                and is_ready(o)
                and o
            ),
        )
        assert obj["status"]["atProvider"]["content"] == "v2\n"
        assert metrics.writes()["apply"] > before["apply"]
        # Settled again on the new spec; its main.tf.json is left alone meanwhile.
        (config,) = (tmp_path / "work").glob(f"{obj['metadata']['uid']}/main.tf.json")
        written = os.stat(config)
        quiet_polls(metrics, 2)
        assert (os.stat(config).st_ino, os.stat(config).st_mtime_ns) == (
            written.st_ino,
            written.st_mtime_ns,
        )

        # A referenced Secret changed after settled polls (the MR itself unchanged): the
        # next poll renders the new value, and Terraform applies it.
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "text", "namespace": ns},
        }
        apiserver.apply({**secret, "stringData": {"t": "from secret 1\n"}})
        mr = file_mr("f", ns, target, "")
        del mr["spec"]["forProvider"]["content"]
        mr["spec"]["forProvider"]["sensitiveContentSecretRef"] = {"name": "text", "key": "t"}
        apiserver.apply(mr)
        wait_for("file from the Secret", lambda: target.read_text() == "from secret 1\n")
        quiet_polls(metrics, 2)
        generation = get(apiserver, "files." + LOCAL, "f", ns)["metadata"]["generation"]
        before = metrics.writes()
        apiserver.apply({**secret, "stringData": {"t": "from secret 2\n"}})
        wait_for(
            "file from the changed Secret",
            lambda: target.read_text() == "from secret 2\n",
            timeout=POLL + 15,
        )
        assert metrics.writes()["apply"] > before["apply"]
        assert get(apiserver, "files." + LOCAL, "f", ns)["metadata"]["generation"] == generation
        assert "from secret 2" in config.read_text()  # what the CLI would apply, too
        quiet_polls(metrics, 2)
        assert metrics.polls("error") == 0
    # Stopping the controller stops its shared provider process.
    assert harness.processes_running_in(tmp_path / "work" / ".plugin-cwd") == []


def test_password_polls_keep_the_connection_secret_and_leak_nothing(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("plugin-pw")
    port = free_port()
    metrics = Metrics(port)
    ctl = controller(
        apiserver, testbed, random_provider, tmp_path, ns, port, "--log-level", "DEBUG"
    )
    with ctl:
        apiserver.apply(
            {
                "apiVersion": f"{RANDOM}/v1alpha1",
                "kind": "Password",
                "metadata": {"name": "db", "namespace": ns},
                "spec": {
                    "forProvider": {"length": 20, "keepers": {"k": "1"}},
                    "writeConnectionSecretToRef": {"name": "db-conn"},
                },
            }
        )
        wait_for("Ready", lambda: is_ready(get(apiserver, "passwords." + RANDOM, "db", ns)))
        data = wait_for("connection Secret", lambda: harness.secret_data(apiserver, "db-conn", ns))
        password = data["attribute.result"].decode()
        quiet_polls(metrics, 3)
        assert (
            harness.secret_data(apiserver, "db-conn", ns)["attribute.result"]
            == data["attribute.result"]
        )
        # A keepers change still replaces the password, through Terraform.
        apiserver.apply(
            {
                "apiVersion": f"{RANDOM}/v1alpha1",
                "kind": "Password",
                "metadata": {"name": "db", "namespace": ns},
                "spec": {
                    "forProvider": {"length": 20, "keepers": {"k": "2"}},
                    "writeConnectionSecretToRef": {"name": "db-conn"},
                },
            }
        )
        replaced = wait_for(
            "new password in the Secret",
            lambda: (
                (d := harness.secret_data(apiserver, "db-conn", ns))
                and d["attribute.result"] != data["attribute.result"]
                and d["attribute.result"].decode()
            ),
            timeout=POLL + 15,
        )
        quiet_polls(metrics, 2)
        obj = get(apiserver, "passwords." + RANDOM, "db", ns)
        events = harness.events_text(apiserver, ns)
    logs = ctl.logs()
    for secret in (password, replaced):
        assert secret not in json.dumps(obj)
        assert secret not in events
        assert secret not in logs


def test_cli_poll_driver_plans_every_poll(apiserver, testbed, local_provider, tmp_path):
    ns = apiserver.create_namespace("cli-poll")
    port = free_port()
    metrics = Metrics(port)
    target = tmp_path / "out" / "c.txt"
    ctl = controller(
        apiserver, testbed, local_provider, tmp_path, ns, port,
        "--poll-driver", "cli", "--driver", "cli",  # both with the CLI: a plan every poll
    )  # fmt: skip
    with ctl:
        apiserver.apply(file_mr("c", ns, target, "x\n"))
        wait_for("Ready", lambda: is_ready(get(apiserver, "files." + LOCAL, "c", ns)))
        plans = metrics.terraform_runs().get("plan", 0)
        wait_for(
            "two more plans",
            lambda: metrics.terraform_runs().get("plan", 0) >= plans + 2,
            timeout=2 * POLL + 15,
        )
        assert metrics.polls("unchanged") == 0
        assert metrics.gauge("jetgen_provider_processes") == -1  # no pool at all
