"""The schema is fetched once per provider binary and shared by all its processes.

Counted on real provider binaries at our side of the wire (every RPC the client makes
goes through PluginRpc.call): two provider configurations, a recycle and a crash of the
linode (2.37.0, against the Linode API stand-in) and random providers make one
GetProviderSchema call per binary in all.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from jetgen.runtime import poll
from jetgen.runtime.tfplugin.client import ProviderProcess
from jetgen.runtime.tfplugin.rpc import PluginRpc
from jetgen.runtime.tfplugin.schemacache import SchemaCache, binary_key

from tests.linode_standin import StandIn

from .conftest import run

pytestmark = pytest.mark.e2e


def _pool(tmp_path: Path, schemas: SchemaCache, started: list, **kw) -> poll.ProviderPool:
    async def start(binary, env):
        provider = await poll.start_provider(
            binary, env, cwd=tmp_path / "cwd", rpc_timeout=60, schemas=schemas
        )
        started.append(provider)
        return provider

    return poll.ProviderPool(start, rss_interval=0, **kw)


async def _recycle(pool: poll.ProviderPool, binary: Path, config: dict, env: dict) -> None:
    """Force a recycle of the process of (config, env): with ``rss_growth=0`` any growth
    counts; RPCs grow the process until the pool hands out another one."""
    async with pool.use(binary, config, env) as old:
        pass
    for _ in range(400):
        async with pool.use(binary, config, env) as provider:
            if provider is not old:
                return
            await provider.rpc.call("get_metadata")
        await asyncio.sleep(0.01)
    raise AssertionError("the process was never recycled")


async def _crash(pool: poll.ProviderPool, binary: Path, config: dict, env: dict) -> None:
    """SIGKILL the process of (config, env); the next use starts a new one."""
    async with pool.use(binary, config, env) as old:
        os.kill(old.pid, signal.SIGKILL)
        await old.plugin.process.wait()
    async with pool.use(binary, config, env) as provider:
        assert provider is not old and provider.alive


def test_linode_two_accounts_a_recycle_and_a_crash_fetch_one_schema(testbed, tmp_path):
    binary = testbed.provider_binary("linode-v2")
    schemas = SchemaCache()
    started: list[ProviderProcess] = []
    with StandIn("token-a") as a, StandIn("token-b") as b:
        configs = [{"token": "token-a", "url": a.url}, {"token": "token-b", "url": b.url}]

        env = {"HOME": str(tmp_path)}  # the provider reads its config file from there

        async def scenario() -> None:
            pool = _pool(tmp_path, schemas, started, rss_growth=0)
            before = PluginRpc.calls["get_schema"]
            try:
                for config in configs:  # each configured against its own account
                    async with pool.use(binary, config, env) as provider:
                        schema = await provider.get_schema()
                        assert "linode_lke_cluster" in schema["resource_schemas"]
                await _recycle(pool, binary, configs[0], env)
                await _crash(pool, binary, configs[1], env)
                assert len(started) >= 4
                assert PluginRpc.calls["get_schema"] - before == 1
                assert schemas.fetches == 1
                # Every process really holds the one shared schema object.
                shared = {id(await p.get_schema()) for p in started if p.alive}
                assert len(shared) == 1
            finally:
                await pool.close()

        run(scenario())
        # Each account's provider called its own stand-in when it configured itself.
        assert a.calls() and b.calls()


def test_random_two_credentials_and_a_recycle_fetch_one_schema(testbed, tmp_path):
    binary = testbed.provider_binary("random")
    schemas = SchemaCache()
    started: list[ProviderProcess] = []

    async def scenario() -> None:
        pool = _pool(tmp_path, schemas, started, rss_growth=0)
        before = PluginRpc.calls["get_schema"]
        try:
            for env in ({"A": "1"}, {"A": "2"}):
                async with pool.use(binary, {}, env) as provider:
                    plan = await provider.plan("random_id", None, {"byte_length": 4})
                    assert plan.action == "create"
            await _recycle(pool, binary, {}, {"A": "1"})
            assert len(started) == 3
            assert PluginRpc.calls["get_schema"] - before == 1
            assert schemas.fetches == 1
        finally:
            await pool.close()

    run(scenario())


def test_a_provider_without_the_capability_gets_its_own_call(testbed, tmp_path):
    """A binary that does not announce get_provider_schema_optional gets one
    GetProviderSchema call per process (older SDKs set up their types in it), while the
    converted schema is still shared.  Every test-bed provider announces it, so the
    cached answer of a real one is changed to say otherwise."""
    binary = testbed.provider_binary("random")
    schemas = SchemaCache()

    async def scenario() -> None:
        env = {"PATH": os.environ["PATH"]}
        first = await ProviderProcess.start(binary, env=env, cwd=tmp_path, schemas=schemas)
        second = None
        try:
            before = PluginRpc.calls["get_schema"]
            shared = await first.get_schema()
            assert PluginRpc.calls["get_schema"] - before == 1
            cached = schemas.cached(binary_key(binary))
            assert cached is not None and cached.optional  # what random 3.9.0 announces
            cached.capabilities["get_provider_schema_optional"] = False
            second = await ProviderProcess.start(binary, env=env, cwd=tmp_path, schemas=schemas)
            await second.configure({})
            assert await second.get_schema() is shared
            assert PluginRpc.calls["get_schema"] - before == 2  # its own call, once
            await second.plan("random_id", None, {"byte_length": 4})
            assert PluginRpc.calls["get_schema"] - before == 2
            assert schemas.fetches == 1
        finally:
            await first.stop()
            if second is not None:
                await second.stop()

    run(scenario())


def test_a_binary_replaced_in_place_is_fetched_again(testbed, tmp_path):
    """Same path, new file (an upgrade): another binary as far as the cache goes."""
    path = tmp_path / "terraform-provider-random"
    path.write_bytes(testbed.provider_binary("random").read_bytes())
    path.chmod(0o755)
    schemas = SchemaCache()

    async def fetch_once() -> None:
        provider = await ProviderProcess.start(path, cwd=tmp_path, schemas=schemas)
        try:
            await provider.get_schema()
        finally:
            await provider.stop()

    run(fetch_once())
    run(fetch_once())
    assert schemas.fetches == 1
    replacement = tmp_path / "new"
    replacement.write_bytes(path.read_bytes() + b"\0")
    replacement.chmod(0o755)
    replacement.replace(path)
    run(fetch_once())
    assert schemas.fetches == 2
