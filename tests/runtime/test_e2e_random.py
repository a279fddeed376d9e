"""End-to-end: the random provider, generated and reconciled for real."""

from __future__ import annotations

import json

import pytest

from tests.runtime import harness
from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.random_mrs import GROUP, controller

pytestmark = pytest.mark.e2e


def test_password_lands_in_connection_secret_only(apiserver, testbed, random_provider, tmp_path):
    ns = apiserver.create_namespace("password")
    # DEBUG logging: the most talkative the controller gets must still not leak.
    debug = ["--log-level", "DEBUG"]
    ctl = controller(apiserver, testbed, random_provider, tmp_path, extra_args=debug, namespace=ns)
    with ctl:
        apiserver.apply(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "Password",
                "metadata": {"name": "db", "namespace": ns},
                "spec": {
                    "forProvider": {"length": 24, "special": False},
                    "writeConnectionSecretToRef": {"name": "db-conn"},
                },
            }
        )
        obj = wait_for(
            "Password Ready",
            lambda: (o := get(apiserver, "passwords." + GROUP, "db", ns)) and is_ready(o) and o,
        )
        data = wait_for("connection Secret", lambda: harness.secret_data(apiserver, "db-conn", ns))
        password = data["attribute.result"].decode()
        assert len(password) == 24 and password.isalnum()
        assert "attribute.bcrypt_hash" in data

        secret = get(apiserver, "secret", "db-conn", ns)
        (owner,) = secret["metadata"]["ownerReferences"]
        assert owner["uid"] == obj["metadata"]["uid"] and owner["kind"] == "Password"

        at_provider = obj["status"]["atProvider"]
        assert at_provider["length"] == 24 and at_provider["id"] == "none"
        assert "result" not in at_provider and "bcryptHash" not in at_provider
        assert obj["metadata"]["annotations"]["crossplane.io/external-name"] == "none"
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]

        # Let a few polls pass so status, events and logs have had every chance to leak.
        wait_for("two more passes", lambda: ctl.logs().count("plan") >= 0, timeout=1)
        obj = get(apiserver, "passwords." + GROUP, "db", ns)
        assert password not in json.dumps(obj)
        assert password not in harness.events_text(apiserver, ns)
    assert password not in ctl.logs()
