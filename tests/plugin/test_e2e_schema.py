"""GetProviderSchema through our client == what `tofu providers schema -json` prints."""

from __future__ import annotations

import json
import subprocess

import pytest
from jetgen.runtime.tfplugin.client import ProviderProcess

from .conftest import run

PROVIDERS = ["random", "local", "tls", "time", "http"]


@pytest.fixture(scope="session")
def tofu_schemas(testbed, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("tofu-schema")
    required = {p: {"source": f"hashicorp/{p}"} for p in PROVIDERS}
    (folder / "main.tf.json").write_text(
        json.dumps({"terraform": {"required_providers": required}})
    )
    env = testbed.tf_env()
    for args in (["init", "-input=false", "-no-color"], ["providers", "schema", "-json"]):
        done = subprocess.run(
            [str(testbed.tofu), *args], cwd=folder, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    schemas = json.loads(done.stdout)["provider_schemas"]
    return {address.rsplit("/", 1)[1]: schema for address, schema in schemas.items()}


@pytest.mark.e2e
@pytest.mark.parametrize("name", PROVIDERS)
def test_schema_matches_tofu(name, provider_binary, tofu_schemas):
    async def scenario():
        async with await ProviderProcess.start(provider_binary(name)) as provider:
            return await provider.get_schema()

    ours = run(scenario())
    theirs = tofu_schemas[name]
    # The one deliberate difference: we report `write_only` (as Terraform >= 1.11 does);
    # OpenTofu 1.10 leaves it out. tls has such attributes, all named *_wo.
    write_only = _pop_write_only(ours)
    assert all(path.endswith("_wo") for path in write_only), write_only
    if name == "tls":
        assert "tls_cert_request.private_key_pem_wo" in write_only
    # tofu also lists provider functions, which this client does not fetch.
    for key in ("provider", "resource_schemas", "data_source_schemas"):
        assert ours.get(key) == theirs.get(key), f"{name}: {key} differs"
    if name == "random":
        for type_name in ("random_password", "random_id"):
            assert ours["resource_schemas"][type_name] == theirs["resource_schemas"][type_name]


def _pop_write_only(schema: dict) -> list[str]:
    """Remove every `write_only` flag from resource schemas; return where they were."""
    found = []
    for type_name, resource in schema.get("resource_schemas", {}).items():
        for attr_name, attr in resource["block"].get("attributes", {}).items():
            if attr.pop("write_only", False):
                found.append(f"{type_name}.{attr_name}")
    return found
