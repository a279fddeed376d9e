"""End-to-end: bad input never wedges the controller, heals when fixed, never leaks."""

from __future__ import annotations

import json

import pytest

from tests.runtime import harness
from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr, local_controller

pytestmark = pytest.mark.e2e

SECRET_VALUE = "s3cr3t-content-do-not-leak"


def synced_message(apiserver, name, ns, needle):
    return wait_for(
        f"Synced=False on {name} mentioning {needle!r}",
        lambda: (
            (o := get(apiserver, "files." + GROUP, name, ns))
            and harness.condition(o, "Synced").get("status") == "False"
            and needle in harness.condition(o, "Synced").get("message", "")
            and o
        ),
    )


def test_missing_secret_and_failing_provider_recover_when_fixed(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("errors")
    out = tmp_path / "out"
    secret_file = out / "secret.txt"
    bad_target = tmp_path / "not-a-dir"
    bad_target.write_text("a file where the provider needs a directory\n")
    fixed_target = out / "fixed.txt"

    debug = ["--log-level", "DEBUG"]
    with local_controller(
        apiserver, testbed, local_provider, tmp_path, extra_args=debug, namespace=ns
    ) as ctl:
        # 1. A SecretRef to a Secret that does not exist (yet).
        with_secret = file_mr("with-secret", ns, secret_file, "")
        del with_secret["spec"]["forProvider"]["content"]
        with_secret["spec"]["forProvider"]["sensitiveContentSecretRef"] = {
            "name": "file-content",
            "key": "text",
        }
        apiserver.apply(with_secret)
        # 2. A spec the provider rejects: the parent "directory" is a regular file.
        apiserver.apply(file_mr("bad-path", ns, bad_target / "x.txt", "x\n"))
        # 3. A healthy neighbour must not wait behind the broken ones.
        apiserver.apply(file_mr("healthy", ns, out / "healthy.txt", "ok\n"))

        wait_for(
            "healthy Ready",
            lambda: is_ready(get(apiserver, "files." + GROUP, "healthy", ns)),
        )
        synced_message(apiserver, "with-secret", ns, "not found")
        bad = synced_message(apiserver, "bad-path", ns, "apply")
        assert len(harness.condition(bad, "Synced")["message"]) <= 1000
        assert "Warning" in harness.events_text(apiserver, ns)

        # 4. An MR that never got created (its Secret is missing) can still be deleted.
        never = file_mr("never", ns, out / "never.txt", "")
        never["spec"]["forProvider"]["sensitiveContentSecretRef"] = {"name": "nope", "key": "k"}
        apiserver.apply(never)
        synced_message(apiserver, "never", ns, "not found")
        apiserver.kubectl("delete", "files." + GROUP, "never", "-n", ns, "--timeout=30s")
        assert get(apiserver, "files." + GROUP, "never", ns) is None

        # Fix both: create the Secret, point the file somewhere sensible.
        apiserver.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "file-content", "namespace": ns},
                "stringData": {"text": SECRET_VALUE},
            }
        )
        apiserver.apply(file_mr("bad-path", ns, fixed_target, "fixed\n"))
        for name in ("with-secret", "bad-path"):
            wait_for(
                f"{name} healed",
                lambda n=name: is_ready(get(apiserver, "files." + GROUP, n, ns)),
                timeout=90,
            )
        assert secret_file.read_text() == SECRET_VALUE
        assert fixed_target.read_text() == "fixed\n"

        obj = get(apiserver, "files." + GROUP, "with-secret", ns)
        assert SECRET_VALUE not in json.dumps(obj)
        assert SECRET_VALUE not in harness.events_text(apiserver, ns)
    assert SECRET_VALUE not in ctl.logs()
    assert ctl.proc.returncode == 0  # stopped by SIGTERM, never crashed


def provider_config(local_provider, ns: str) -> tuple[dict, str]:
    info = json.loads(harness.kinds_file(local_provider).read_text())
    config = {
        "apiVersion": f"{info['config_group']}/{info['config_version']}",
        "kind": "ProviderConfig",
        "metadata": {"name": "files", "namespace": ns},
        "spec": {"credentials": {"source": "None"}},
    }
    return config, "providerconfigs." + info["config_group"]


def test_provider_config_in_use_waits_for_its_managed_resources(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("config-in-use")
    config, plural = provider_config(local_provider, ns)
    target = tmp_path / "out" / "f.txt"
    mr = file_mr("f", ns, target, "x\n")
    mr["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "files"}
    apiserver.apply(config)
    with local_controller(apiserver, testbed, local_provider, tmp_path, namespace=ns):
        apiserver.apply(mr)
        wait_for("Ready", lambda: is_ready(get(apiserver, "files." + GROUP, "f", ns)))

        # The config is in use: its deletion waits (finalizer), the MR keeps working.
        apiserver.kubectl("delete", plural, "files", "-n", ns, "--wait=false")
        held = wait_for(
            "config deletion held",
            lambda: (
                (c := get(apiserver, plural, "files", ns))
                and c["metadata"].get("deletionTimestamp")
                and c
            ),
        )
        assert held["metadata"]["finalizers"]
        events = wait_for(
            "an event naming the user",
            lambda: (t := harness.events_text(apiserver, ns)) and f"File {ns}/f" in t and t,
        )
        assert "deletion waits" in events
        assert is_ready(get(apiserver, "files." + GROUP, "f", ns))

        # Deleting the MR still finds its config; then the config goes too.
        apiserver.kubectl("delete", "files." + GROUP, "f", "-n", ns, "--wait=false")
        wait_for("MR gone", lambda: get(apiserver, "files." + GROUP, "f", ns) is None, timeout=60)
        wait_for("config gone", lambda: get(apiserver, plural, "files", ns) is None, timeout=60)
    assert not target.exists()


def test_namespace_with_mrs_config_and_secrets_is_deleted_completely(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("ns-delete")
    config, plural = provider_config(local_provider, ns)
    out = tmp_path / "out"
    apiserver.apply(config)
    apiserver.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "content", "namespace": ns},
            "stringData": {"text": SECRET_VALUE},
        }
    )
    plain = file_mr("plain", ns, out / "plain.txt", "p\n")
    plain["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "files"}
    secret = file_mr("secret", ns, out / "secret.txt", "")
    del secret["spec"]["forProvider"]["content"]
    secret["spec"]["forProvider"]["sensitiveContentSecretRef"] = {"name": "content", "key": "text"}
    secret["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "files"}
    with local_controller(apiserver, testbed, local_provider, tmp_path, namespace=ns):
        apiserver.apply(plain)
        apiserver.apply(secret)
        for name in ("plain", "secret"):
            wait_for(name, lambda n=name: is_ready(get(apiserver, "files." + GROUP, n, ns)))
        assert (out / "secret.txt").read_text() == SECRET_VALUE

        # Everything goes at once: the Secrets first (they have no finalizer), the MRs
        # are destroyed with the configuration they last rendered, then the config goes.
        apiserver.kubectl("delete", "namespace", ns, "--wait=false")
        wait_for(
            "namespace gone",
            lambda: apiserver.kubectl("get", "namespace", ns, check=False).returncode != 0,
            timeout=90,
        )
    assert not (out / "plain.txt").exists()
    assert not (out / "secret.txt").exists()
