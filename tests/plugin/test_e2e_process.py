"""Process hygiene with real binaries: start failures, clean stop, no orphan when we die."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from jetgen.runtime.tfplugin.client import ProviderProcess, ProviderUnavailable
from jetgen.runtime.tfplugin.process import PluginProcess, PluginStartError

from tests.linode_standin import StandIn

from .conftest import provider_descendants, run

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_ends_the_process_and_is_idempotent(provider_binary):
    async def scenario():
        provider = await ProviderProcess.start(provider_binary("random"))
        pid = provider.pid
        assert _alive(pid)
        await provider.stop()
        await provider.stop()
        return pid, provider.plugin.process.returncode

    pid, code = run(scenario())
    assert not _alive(pid)
    assert code == 0  # exited by itself after GRPCController.Shutdown, not killed


def test_stop_after_the_provider_was_killed(provider_binary):
    async def scenario():
        provider = await ProviderProcess.start(provider_binary("random"))
        os.kill(provider.pid, signal.SIGKILL)
        await provider.stop(grace=1)
        return provider.plugin.process.returncode

    assert run(scenario()) == -signal.SIGKILL


def test_a_crashed_provider_raises_provider_unavailable(provider_binary):
    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            await provider.configure({})
            config = {"length": 12}
            plan = await provider.plan("random_password", None, config)
            state, private = await provider.apply("random_password", None, plan, config)
            os.kill(provider.pid, signal.SIGKILL)
            await provider.plugin.process.wait()
            assert not provider.alive
            with pytest.raises(ProviderUnavailable, match="ReadResource"):
                await provider.read("random_password", state, private)

    run(scenario())


def test_a_binary_that_is_not_a_plugin_fails_to_start_with_its_output(tmp_path):
    script = tmp_path / "not-a-plugin"
    script.write_text("#!/bin/sh\necho 'no plugin here' >&2\nexit 3\n")
    script.chmod(0o755)
    with pytest.raises(PluginStartError, match=r"exited with 3 before the handshake.*no plugin"):
        run(PluginProcess.start(script))


def test_a_silent_binary_times_out(tmp_path):
    script = tmp_path / "silent"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(PluginStartError, match="no handshake within"):
        run(PluginProcess.start(script, handshake_timeout=0.5))
    assert time.monotonic() - started < 10
    assert provider_descendants("sleep") == []


def test_provider_dies_with_a_killed_controller(provider_binary):
    # A controller process that starts a provider, reports its pid, and is then SIGKILLed:
    # no finalizer runs, only PR_SET_PDEATHSIG can take the provider down.
    code = (
        "import asyncio, sys\n"
        "from jetgen.runtime.tfplugin.process import PluginProcess\n"
        "async def main():\n"
        "    p = await PluginProcess.start(sys.argv[1])\n"
        "    print(p.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    controller = subprocess.Popen(
        [sys.executable, "-c", code, str(provider_binary("random"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        provider_pid = int(controller.stdout.readline())
        assert _alive(provider_pid)
        controller.kill()
        controller.wait()
        deadline = time.monotonic() + 5
        while _alive(provider_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(provider_pid)
    finally:
        controller.kill()
        controller.wait()


@pytest.mark.parametrize("tf_log", [None, "DEBUG"])
def test_provider_logs_reach_python_logging_and_sdk_chatter_is_off_by_default(
    provider_binary, caplog, tf_log
):
    env = dict(os.environ)
    env.pop("TF_LOG", None)
    if tf_log:
        env["TF_LOG"] = tf_log

    async def scenario():
        async with await ProviderProcess.start(provider_binary("random"), env=env) as provider:
            await provider.configure({})
            config = {"byte_length": 4}
            plan = await provider.plan("random_id", None, config)
            state, private = await provider.apply("random_id", None, plan, config)
            caplog.clear()
            for _ in range(20):
                await provider.read("random_id", state, private)
            await asyncio.sleep(0.2)  # let the stderr reader catch up

    with caplog.at_level("DEBUG", logger="jetgen.runtime.tfplugin.process.random"):
        run(scenario())
    lines = [r for r in caplog.records if r.name == "jetgen.runtime.tfplugin.process.random"]
    if tf_log:
        assert len(lines) >= 20, "TF_LOG=DEBUG should bring the SDK's per-RPC lines"
        assert any("Resource Read" in r.getMessage() for r in lines)
    else:
        assert len(lines) < 5, [r.getMessage() for r in lines]


@pytest.mark.parametrize("tf_log", [None, "DEBUG"])
def test_a_named_provider_logger_is_quiet_by_default_too(testbed, tmp_path, caplog, tf_log):
    """linode 2.37.0 logs through terraform-plugin-go's provider logger, whose level comes
    from TF_LOG_PROVIDER_LINODE alone: left unset, it wrote a debug line per ReadResource
    ("Read linode_domain") for the controller to read, parse and drop on every poll."""
    env = {"HOME": str(tmp_path)}  # the provider reads its config file from there
    if tf_log:
        env["TF_LOG"] = tf_log
    logger = "jetgen.runtime.tfplugin.process.linode"

    async def scenario(url: str) -> None:
        binary = testbed.provider_binary("linode-v2")
        async with await ProviderProcess.start(binary, env=env) as provider:
            await provider.configure({"token": "token-a", "url": url})
            config = {"domain": "quiet.example", "type": "master", "soa_email": "ops@example.com"}
            plan = await provider.plan("linode_domain", None, config)
            state, private = await provider.apply("linode_domain", None, plan, config)
            caplog.clear()
            for _ in range(20):
                await provider.read("linode_domain", state, private)
            await asyncio.sleep(0.2)  # let the stderr reader catch up

    with StandIn("token-a") as api, caplog.at_level("DEBUG", logger=logger):
        run(scenario(api.url))
    reads = [r for r in caplog.records if r.name == logger and "Read linode_domain" in r.message]
    if tf_log:
        assert len(reads) >= 20, "TF_LOG=DEBUG should bring the provider's own per-read lines"
    else:
        assert reads == []
