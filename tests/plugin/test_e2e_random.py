"""Full resource lifecycle against the real hashicorp/random binary (plugin protocol 5)."""

from __future__ import annotations

import asyncio

import pytest
from jetgen.runtime.tfplugin.client import ProviderError, ProviderProcess
from jetgen.runtime.tfplugin.cty import UNKNOWN

from .conftest import run

pytestmark = pytest.mark.e2e


def test_random_password_lifecycle(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            assert provider.protocol_version == 5
            await provider.configure({})
            config = {"length": 20, "special": False}

            plan = await provider.plan("random_password", None, config)
            assert plan.action == "create"
            assert plan.planned_state["result"] is UNKNOWN
            # optional+computed attribute filled in by the provider's default
            assert plan.planned_state["upper"] is True

            state, private = await provider.apply("random_password", None, plan, config)
            assert len(state["result"]) == 20 and state["result"].isalnum()
            assert state["bcrypt_hash"].startswith("$2a$")

            read, read_private = await provider.read("random_password", state, private)
            assert read == state

            unchanged = await provider.plan("random_password", read, config, read_private)
            assert unchanged.action == "noop", unchanged.planned_state
            assert unchanged.requires_replace == []

            longer = dict(config, length=24)
            replace = await provider.plan("random_password", read, longer, read_private)
            assert replace.action == "replace"
            assert ("length",) in replace.requires_replace

            delete = await provider.plan("random_password", read, None, read_private)
            assert delete.action == "delete" and delete.planned_state is None
            gone, _ = await provider.apply("random_password", read, delete, None)
            assert gone is None

    run(scenario())


def test_random_id_import(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            await provider.configure({})
            # random_id imports from the base64url text of the bytes.
            imported = await provider.import_state("random_id", "p-9hUg")
            assert len(imported) == 1
            type_name, state, _private = imported[0]
            assert type_name == "random_id"
            assert state["hex"] == "a7ef6152" and state["dec"] == "2817483090"
            assert state["byte_length"] == 4
            # Imported state plans as unchanged against the matching config.
            plan = await provider.plan("random_id", state, {"byte_length": 4})
            assert plan.action == "noop", plan.planned_state

    run(scenario())


def test_upgrade_state_from_stored_json(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            schema = await provider.get_schema()
            version = schema["resource_schemas"]["random_password"]["version"]
            # A state as an older provider stored it (schema version 0, no bcrypt_hash).
            upgraded = await provider.upgrade_state(
                "random_password", 0, {"id": "none", "length": 3, "result": "abc"}
            )
            assert version > 0
            assert upgraded["result"] == "abc" and upgraded["bcrypt_hash"].startswith("$2a$")
            assert upgraded["numeric"] is True  # filled in by the upgrader

    run(scenario())


def test_configure_is_once_per_process(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            await provider.configure({})
            with pytest.raises(RuntimeError, match="one process per configuration"):
                await provider.configure({})

    run(scenario())


def test_error_diagnostics_raise_with_attribute_path(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            await provider.configure({})
            with pytest.raises(ProviderError) as caught:
                await provider.validate("random_password", {"length": 0})
            return caught.value

    error = run(scenario())
    assert error.operation == "ValidateResourceConfig"
    assert error.diagnostics[0].path == ("length",)
    assert "length" in str(error)


def test_many_concurrent_reads_share_one_provider(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            await provider.configure({})
            config = {"byte_length": 8}
            plan = await provider.plan("random_id", None, config)
            state, private = await provider.apply("random_id", None, plan, config)
            results = await asyncio.gather(
                *(provider.read("random_id", state, private) for _ in range(300))
            )
            assert provider.alive
            return state, results

    state, results = run(scenario())
    assert all(read == (state, b"") for read in results)
