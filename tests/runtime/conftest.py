"""Fixtures of the runtime's end-to-end tests (see harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime import harness


@pytest.fixture(scope="session")
def schema_file(testbed, tmp_path_factory) -> Path:
    return harness.provider_schema(testbed, tmp_path_factory.mktemp("schema"), ["random", "local"])


@pytest.fixture(scope="session")
def random_provider(testbed, apiserver, schema_file, tmp_path_factory) -> Path:
    """The generated random provider (CRDs installed); random_id decodes b64_std into
    ``decoded``; random_pet's prefix may come from an Id's hex."""
    extra = {
        "resources": {
            "random_id": {
                "connection_details": [
                    {"key": "decoded", "attribute": "b64_std", "transform": "base64decode"}
                ]
            },
            # A reference to exercise prefixRef / prefixSelector.
            "random_pet": {
                "references": [
                    {"field": "prefix", "kind": "Id", "value_from": "status.atProvider.hex"}
                ]
            },
        }
    }
    out = harness.generate(
        schema_file,
        tmp_path_factory.mktemp("random"),
        "random",
        testbed.providers["random"],
        extra,
    )
    harness.install_crds(apiserver, out)
    return out


@pytest.fixture(scope="session")
def local_provider(testbed, apiserver, schema_file, tmp_path_factory) -> Path:
    out = harness.generate(
        schema_file, tmp_path_factory.mktemp("local"), "local", testbed.providers["local"]
    )
    harness.install_crds(apiserver, out)
    return out


@pytest.fixture(scope="session")
def fault_provider(testbed, apiserver, tmp_path_factory) -> Path:
    """The generated provider of the test bed's jetgenfault (objects are files with
    provider-chosen IDs, see tests/testbed/go/provider-jetgenfault), CRDs installed."""
    folder = tmp_path_factory.mktemp("fault-schema")
    schema = harness.provider_schema(testbed, folder, ["jetgenfault"], namespace="jetgen")
    out = harness.generate(
        schema,
        tmp_path_factory.mktemp("jetgenfault"),
        "jetgenfault",
        testbed.providers["jetgenfault"],
        namespace="jetgen",
    )
    harness.install_crds(apiserver, out)
    return out
