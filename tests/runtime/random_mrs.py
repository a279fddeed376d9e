"""The random provider in the end-to-end tests and benchmarks: its group, MRs and a
controller that reconciles them (the ``random_provider`` fixture generates the provider)."""

from __future__ import annotations

from tests.runtime import harness
from tests.runtime.harness import Controller

GROUP = "random.m.jetgen.dev"


def controller(apiserver, testbed, provider, tmp_path, **kw) -> Controller:
    return harness.provider_controller(apiserver, testbed, provider, tmp_path, **kw)


IDS = "ids." + GROUP


def id_mr(name: str, ns: str, byte_length: int = 8) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Id",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": {"byteLength": byte_length}},
    }


# The cache's test and benchmark: Ids and Pets that read everything a pass can.
PAIRS = 4  # Ids (with a connection Secret) and Pets whose prefix references one
FIRST = "cache-token-1111"


def manifests(ns: str, config_api: str, pairs: int = PAIRS) -> list[dict]:
    objects: list[dict] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns},
            "stringData": {"token": FIRST},
        },
        {
            "apiVersion": config_api,
            "kind": "ProviderConfig",
            "metadata": {"name": "cfg", "namespace": ns},
            "spec": {"credentials": {"source": "Secret", "secretRef": {"name": "creds"}}},
        },
    ]
    for i in range(pairs):
        spec = {"providerConfigRef": {"kind": "ProviderConfig", "name": "cfg"}}
        objects.append(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "Id",
                "metadata": {"name": f"id{i}", "namespace": ns},
                "spec": {
                    **spec,
                    "forProvider": {"byteLength": 4},
                    "writeConnectionSecretToRef": {"name": f"id{i}-conn"},
                },
            }
        )
        objects.append(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "Pet",
                "metadata": {"name": f"pet{i}", "namespace": ns},
                # resolve Always: the reference is resolved on every pass, not only once.
                "spec": {
                    **spec,
                    "forProvider": {
                        "length": 2,
                        "prefixRef": {"name": f"id{i}", "policy": {"resolve": "Always"}},
                    },
                },
            }
        )
    return objects
