"""End-to-end: a connection-detail hook (base64decode) on random_id."""

from __future__ import annotations

import pytest

from tests.runtime import harness
from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.random_mrs import GROUP, controller

pytestmark = pytest.mark.e2e


def test_random_id_b64_std_is_decoded_into_secret_key(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("random-id")
    with controller(apiserver, testbed, random_provider, tmp_path, namespace=ns):
        apiserver.apply(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "Id",
                "metadata": {"name": "key", "namespace": ns},
                "spec": {
                    "forProvider": {"byteLength": 32},
                    "writeConnectionSecretToRef": {"name": "key-conn"},
                },
            }
        )
        obj = wait_for(
            "Id Ready",
            lambda: (o := get(apiserver, "ids." + GROUP, "key", ns)) and is_ready(o) and o,
        )
        data = wait_for(
            "decoded key",
            lambda: (d := harness.secret_data(apiserver, "key-conn", ns)) and "decoded" in d and d,
        )
    at_provider = obj["status"]["atProvider"]
    decoded = data["decoded"]
    assert len(decoded) == 32
    # The hook's output must be the very bytes random_id reports in hex.
    assert decoded.hex() == at_provider["hex"]
    assert decoded != at_provider["b64Std"].encode()
