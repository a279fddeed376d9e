"""The plugin-protocol poll's pure parts and the reconciler's decision to use it.

The RPC sequence itself runs against real providers in tests/plugin/test_e2e_poll.py.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
from types import SimpleNamespace

import pytest
from jetgen.runtime import poll, reconciler, state
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.poll import PollUnsupported
from jetgen.runtime.resource import ManagedResource
from jetgen.runtime.settings import Settings
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock
from jetgen.runtime.terraform.workdir import Workdir
from jetgen.runtime.tfplugin.memo import DigestMemo

from tests.runtime.kinds import kind


def tfstate(attributes: dict, private: bytes = b"", schema_version: int = 0) -> bytes:
    """A state file shaped as tofu writes it."""
    instance = {"schema_version": schema_version, "attributes": attributes}
    if private:
        instance["private"] = base64.b64encode(private).decode()
    doc = {
        "version": 4,
        "serial": 3,
        "lineage": "l",
        "resources": [
            {"mode": "data", "type": "x_data", "name": "d", "instances": [{"attributes": {}}]},
            {"mode": "managed", "type": "x_thing", "name": "this", "instances": [instance]},
        ],
    }
    return json.dumps(doc).encode()


def make_desired(env: dict[str, str] | None = None, type_name: str = "x_thing") -> Desired:
    return Desired(
        ProviderSetup(source="example/x", version="1.0.0", environment=env or {}),
        ResourceBlock(type_name, {"name": "a", "size": 3}),
    )


# --- reading the workdir ---------------------------------------------------------------


def test_stored_resource_takes_the_managed_instance():
    found = poll.stored_resource(tfstate({"id": "1"}, b'{"k":1}', schema_version=2))
    assert found == poll.StoredResource("x_thing", 2, {"id": "1"}, b'{"k":1}')


def test_stored_resource_of_nothing():
    assert poll.stored_resource(None) is None
    assert poll.stored_resource(b"{broken") is None
    assert poll.stored_resource(b'{"version": 4, "resources": []}') is None


def test_ignore_changes_plans_with_the_prior_value():
    config = {"name": "new", "size": 9}
    assert poll.ignore_changes(config, {"name": "old", "size": 3}, ["size"]) == {
        "name": "new",
        "size": 3,
    }
    with pytest.raises(PollUnsupported):
        poll.ignore_changes(config, {}, ["tags.a"])


BLOCK = {
    "attributes": {"name": {"type": "string"}},
    "block_types": {
        "settings": {
            "nesting_mode": "single",
            "block": {
                "attributes": {"x": {"type": "string"}},
                "block_types": {
                    "rule": {"nesting_mode": "list", "block": {"attributes": {}}},
                },
            },
        },
        "tags": {"nesting_mode": "set", "block": {"attributes": {"k": {"type": "string"}}}},
    },
}


def test_json_blocks_in_both_spellings():
    written = {"name": "a", "settings": [{"x": "1", "rule": {"y": 1}}], "tags": {"k": "v"}}
    assert poll.json_blocks(BLOCK, written) == {
        "name": "a",
        "settings": {"x": "1", "rule": [{"y": 1}]},
        "tags": [{"k": "v"}],
    }
    assert poll.json_blocks(BLOCK, {"settings": []})["settings"] is None
    with pytest.raises(PollUnsupported):
        poll.json_blocks(BLOCK, {"settings": [{"x": "1"}, {"x": "2"}]})


def test_a_state_of_another_resource_type_is_left_to_the_cli():
    poller = poll.Poller(poll.ProviderPool(None), lambda: None, dict)
    with pytest.raises(PollUnsupported, match="x_thing, not a y_thing"):
        asyncio.run(poller.check(tfstate({"id": "1"}), make_desired(type_name="y_thing")))


class ComparingProvider:
    """A provider's answers to the three RPCs of a check (Poller._compare): a read that
    returns ``refreshed``, a plan that changes nothing, on the legacy SDK or not."""

    def __init__(self, refreshed: dict, *, legacy: bool, action: str = "noop"):
        self.refreshed, self.legacy, self.action = refreshed, legacy, action
        self.planned = False
        self.plans = 0
        self.memo = DigestMemo()  # the binary's no-op plans (pure-plan kinds)

    async def upgrade_state(self, type_name, version, attributes):
        return attributes

    async def read(self, type_name, state, private):
        return self.refreshed, private

    async def resource_type(self, type_name):
        return ["object", {"id": "string", "ips": ["set", "string"]}]

    async def get_schema(self):
        block = {"attributes": {"id": {"type": "string"}, "ips": {"type": ["set", "string"]}}}
        return {"resource_schemas": {"x_thing": {"block": block}}}

    async def plan(self, type_name, prior, config, private):
        self.planned = True
        self.plans += 1
        return SimpleNamespace(action=self.action, legacy_type_system=self.legacy)

    async def noop_plans(self):
        return self.memo


@pytest.mark.parametrize(
    "refreshed, legacy, observe_only, verdict",
    [
        ({"id": "1", "ips": None}, False, False, poll.UNCHANGED),
        # Null came back empty: the same value to a legacy-SDK provider only.
        ({"id": "1", "ips": []}, True, False, poll.UNCHANGED),
        ({"id": "1", "ips": []}, False, False, poll.DRIFT),
        # Observe-only MRs do not plan: any difference is recorded by the CLI path.
        ({"id": "1", "ips": []}, True, True, poll.DRIFT),
        ({"id": "1", "ips": ["10.0.0.1"]}, True, False, poll.DRIFT),
    ],
)
def test_a_null_collection_read_back_empty_is_no_drift_on_the_legacy_sdk(
    refreshed, legacy, observe_only, verdict
):
    stored = poll.StoredResource("x_thing", 0, {"id": "1", "ips": None}, b"")
    provider = ComparingProvider(refreshed, legacy=legacy)
    found = asyncio.run(poll.Poller._compare(provider, stored, {"id": "1"}, (), observe_only))
    assert found == verdict


def test_a_pure_plan_is_asked_once_per_inputs_and_never_for_a_changed_one():
    """``setup`` (a pure-plan kind's provider configuration) lets a no-op plan of the same
    inputs be skipped; any other input is planned, and so is a refresh that is not
    exactly the state (its verdict needs the plan's legacy_type_system)."""
    provider = ComparingProvider({"id": "1", "ips": []}, legacy=False)
    state = poll.StoredResource("x_thing", 0, {"id": "1", "ips": []}, b"")

    def check(stored=state, arguments=None, setup="a"):
        before = provider.plans
        found = asyncio.run(
            poll.Poller._compare(provider, stored, arguments or {"id": "1"}, (), False, setup)
        )
        return found, provider.plans - before

    assert check() == (poll.UNCHANGED, 1)
    assert check() == (poll.UNCHANGED, 0)
    assert check(setup=None) == (poll.UNCHANGED, 1)  # not declared pure: always planned
    assert check(setup="b") == (poll.UNCHANGED, 1)  # another provider configuration
    assert check(dataclasses.replace(state, private=b"p")) == (poll.UNCHANGED, 1)
    assert check(arguments={"id": "1", "ips": ["a"]}) == (poll.UNCHANGED, 1)
    # The same refresh, but the state holds null where it said empty (a write by either
    # driver): planned, and drift (never remembered) for a provider that tells null from
    # empty; unchanged, then remembered, on the legacy SDK.
    nulls = dataclasses.replace(state, attributes={"id": "1", "ips": None})
    assert check(nulls) == (poll.DRIFT, 1)
    assert check(nulls) == (poll.DRIFT, 1)
    assert check() == (poll.UNCHANGED, 0)
    provider.legacy = True
    assert check(nulls, setup="legacy") == (poll.UNCHANGED, 1)
    assert check(nulls, setup="legacy") == (poll.UNCHANGED, 0)
    # A plan that changes something is never remembered.
    provider.action = "update"
    assert check(setup="c") == (poll.DRIFT, 1)
    assert check(setup="c") == (poll.DRIFT, 1)


def test_provider_binary_is_the_one_init_installed(tmp_path):
    root = tmp_path / "providers"
    folder = root / "registry.opentofu.org" / "hashicorp" / "local" / "2.5.3" / "linux_amd64"
    folder.mkdir(parents=True)
    binary = folder / "terraform-provider-local_v2.5.3"
    binary.write_text("")
    assert poll.provider_binary(root, "hashicorp/local") == binary.resolve()
    full = "registry.opentofu.org/hashicorp/local"
    assert poll.provider_binary(root, full) == binary.resolve()
    with pytest.raises(PollUnsupported):
        poll.provider_binary(root, "hashicorp/random")
    other = root / "registry.opentofu.org" / "hashicorp" / "local" / "2.6.0" / "linux_amd64"
    other.mkdir(parents=True)
    (other / "terraform-provider-local_v2.6.0").write_text("")
    with pytest.raises(PollUnsupported):  # which one would tofu run? Let tofu decide.
        poll.provider_binary(root, "hashicorp/local")


# --- the reconciler's decision -----------------------------------------------------------


def test_fast_poll_only_after_a_cli_pass_with_the_same_configuration():
    assert reconciler.fast_poll_allowed("abc", "abc", {})
    assert not reconciler.fast_poll_allowed(None, "abc", {})  # no CLI success yet
    assert not reconciler.fast_poll_allowed("abc", "abd", {})  # config changed since
    pending = state.mark(state.PENDING, "2026-01-01T00:00:00Z")
    assert not reconciler.fast_poll_allowed("abc", "abc", pending)  # a create in doubt
    done = {**pending, **state.mark(state.SUCCEEDED, "2026-01-01T00:00:01Z")}
    assert reconciler.fast_poll_allowed("abc", "abc", done)


class ScriptedPoller:
    """Stands in for poll.Poller inside the controller process: returns a verdict
    or raises, and records what it was asked."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = []
        self.pure_plans = []

    async def check(self, state_data, desired, *, observe_only=False, pure_plan=False):
        self.calls.append((state_data, desired, observe_only))
        self.pure_plans.append(pure_plan)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def rig(tmp_path, outcome, settled="f"):
    runtime = reconciler.Runtime(
        settings=Settings(),
        info=None,
        kube=None,
        cache=None,
        driver=None,
        store=None,
        metrics=Metrics(),
        poller=ScriptedPoller(outcome),
    )
    rec = reconciler.Reconciler.__new__(reconciler.Reconciler)
    rec.rt, rec.kind = runtime, kind()
    body = {"metadata": {"name": "a", "namespace": "ns", "uid": "u"}, "spec": {}}
    wd = Workdir(tmp_path)
    wd.write_state(tfstate({"id": "1"}))
    memory = reconciler.Memory(settled=settled)
    desired = make_desired(env={"TOKEN": "hunter2hunter2"})
    return rec, ManagedResource(body, rec.kind), memory, wd, desired


def unchanged(rec, mr, memory, wd, desired, wanted="f"):
    return asyncio.run(rec._unchanged(mr, memory, wd, desired, wanted))


def polls(rec) -> dict:
    return rec.rt.metrics.plugin_polls.series


@pytest.mark.parametrize(
    "verdict, skip",
    [(poll.UNCHANGED, True), (poll.GONE, False), (poll.DRIFT, False)],
)
def test_only_unchanged_skips_the_cli(tmp_path, verdict, skip):
    rec, mr, memory, wd, desired = rig(tmp_path, verdict)
    assert unchanged(rec, mr, memory, wd, desired) is skip
    (call,) = rec.rt.poller.calls
    assert call == (wd.read_state(), desired, False)
    assert polls(rec) == {("Thing", verdict): 1}


def test_the_kinds_pure_plan_reaches_the_poller(tmp_path):
    rec, mr, memory, wd, desired = rig(tmp_path, poll.UNCHANGED)
    assert unchanged(rec, mr, memory, wd, desired)
    rec.kind = dataclasses.replace(rec.kind, pure_plan=True)
    assert unchanged(rec, mr, memory, wd, desired)
    assert rec.rt.poller.pure_plans == [False, True]


def test_unsettled_objects_are_not_polled_over_the_plugin_protocol(tmp_path):
    rec, mr, memory, wd, desired = rig(tmp_path, poll.UNCHANGED, settled=None)
    assert not unchanged(rec, mr, memory, wd, desired)
    assert not unchanged(rec, mr, reconciler.Memory(settled="old"), wd, desired)
    assert rec.rt.poller.calls == []


def test_cli_poll_driver_never_asks(tmp_path):
    rec, mr, memory, wd, desired = rig(tmp_path, poll.UNCHANGED)
    rec.rt.poller = None
    assert not unchanged(rec, mr, memory, wd, desired)


def test_a_failing_poll_falls_back_and_logs_once_without_secrets(tmp_path, caplog):
    error = RuntimeError("ReadResource: bad token hunter2hunter2")
    rec, mr, memory, wd, desired = rig(tmp_path, error)
    mr.secrets.add("hunter2hunter2")  # as rendering does with credentials
    caplog.set_level(logging.DEBUG, logger="jetgen.runtime.reconciler")
    assert not unchanged(rec, mr, memory, wd, desired)
    assert not unchanged(rec, mr, memory, wd, desired)
    assert polls(rec) == {("Thing", "error"): 2}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the repeat goes to DEBUG
    assert "bad token [redacted]" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text
    # A success clears it: the same failure later is news again.
    rec.rt.poller.outcome = poll.UNCHANGED
    assert unchanged(rec, mr, memory, wd, desired)
    assert memory.poll_error is None


# --- a hung provider holds no poll for long ---------------------------------------------


class HangingProvider:
    """Configures, then never answers (a stuck provider)."""

    pid = 4242
    alive = True

    def __init__(self) -> None:
        self.stopped = False

    async def configure(self, config) -> None:
        pass

    async def upgrade_state(self, *args):
        await asyncio.sleep(3600)

    async def stop(self, grace: float = 5.0) -> None:
        self.stopped = True


def test_a_timed_out_call_retires_the_provider_process(tmp_path):
    started: list[HangingProvider] = []

    async def start(binary, env):
        started.append(HangingProvider())
        return started[-1]

    async def scenario() -> None:
        pool = poll.ProviderPool(start, limit=2)
        with pytest.raises(TimeoutError):
            async with pool.use(tmp_path / "p", {}, {}) as provider:
                await asyncio.wait_for(provider.upgrade_state(), 0.05)  # an RPC timeout
        assert len(pool) == 0  # the next poll starts a fresh process
        await asyncio.sleep(0)
        assert started[0].stopped
        async with pool.use(tmp_path / "p", {}, {}) as provider:
            assert provider is started[1]

    asyncio.run(scenario())


def test_a_check_is_bounded_by_its_deadline_and_shares_no_slot_forever(tmp_path):
    async def start(binary, env):
        return HangingProvider()

    providers = tmp_path / "providers"
    binary = providers / "registry.opentofu.org/example/x/1.0.0/linux_amd64/terraform-provider-x"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    binary.chmod(0o755)
    pool = poll.ProviderPool(start)
    poller = poll.Poller(pool, lambda: providers, dict, concurrency=1, deadline=0.2)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        began = loop.time()
        checks = [poller.check(tfstate({"name": "a"}), make_desired()) for _ in range(3)]
        results = await asyncio.gather(*checks, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        return loop.time() - began

    # Three polls through one slot, all ended by the deadline, none held for an hour.
    assert asyncio.run(scenario()) < 2.0
