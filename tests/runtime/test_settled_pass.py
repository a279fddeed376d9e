"""What a settled pass may skip, and that every change still reaches the next pass.

A settled pass (the MR proven unchanged over the plugin protocol) takes the watch
event's object without a deep copy, parses the workdir's state once, and leaves
``main.tf.json`` alone when this controller wrote that configuration already.  Each
shortcut is checked here against what must undo it: a new spec, a changed ProviderConfig
or credential, a state written by a driver, a lost or foreign file, a restart.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import os
import time
from pathlib import Path

import kopf
from jetgen.runtime import reconciler, resource
from jetgen.runtime.terraform.workdir import Workdir

from tests.runtime import passes
from tests.runtime.kinds import kind as reference_kind


def run(coro):
    return asyncio.run(coro)


def config_of(rec: reconciler.Reconciler, b: dict) -> Path:
    return rec.rt.driver.workdir(b["metadata"]["uid"]).config_file


def signature(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def test_the_snapshot_keeps_one_events_object_when_kopf_replaces_the_body():
    # kopf hands the deletion handler a live Body and swaps its source for each new event's object.
    live = kopf.Body({"metadata": {"name": "a"}, "spec": {"forProvider": {"x": {"y": 1}}}})
    m = resource.ManagedResource(live, reference_kind())
    live._replace_with({"metadata": {"name": "a"}, "spec": {"forProvider": {"x": {"y": 2}}}})
    assert m.for_provider == {"x": {"y": 1}}
    assert dict(live)["spec"]["forProvider"]["x"]["y"] == 2


def test_a_pass_changes_nothing_in_the_events_object(tmp_path):
    rec, kube, _ = passes.runtime(tmp_path)

    async def go():
        memory = reconciler.Memory()
        b = passes.body(1)
        for _ in range(2):  # the create (annotations, status, state) and a settled poll
            before = copy.deepcopy(b)
            await rec.run_pass(b, memory)
            assert b == before
            b = passes.advance(b, rec)
        before = copy.deepcopy(b)
        await rec.run_pass(b, memory)
        assert b == before
        assert memory.failures == 0

    run(go())


def test_settled_polls_leave_main_tf_json_alone_until_it_is_not_ours(tmp_path, monkeypatch):
    rec, kube, poller = passes.runtime(tmp_path)

    async def go():
        memory = reconciler.Memory()
        b = await passes.settle(rec, passes.body(1), memory)
        path = config_of(rec, b)
        written = path.read_text()
        assert json.loads(written) == poller.seen[-1][1].config
        first = signature(path)
        writes = []
        monkeypatch.setattr(Workdir, "write_config", lambda wd, doc: writes.append(doc))
        for _ in range(3):
            await rec.run_pass(b, memory)
        assert writes == []  # not rendered to JSON, not compared with the file
        assert signature(path) == first
        monkeypatch.undo()
        assert rec.rt.driver.calls == ["create"]

        path.unlink()  # lost: the next settled poll writes it again
        await rec.run_pass(b, memory)
        assert path.read_text() == written

        path.write_text("{}")  # someone else's file, and a restart (a new Memory)
        memory = reconciler.Memory()
        await rec.run_pass(b, memory)
        assert path.read_text() == written
        assert rec.rt.driver.calls == ["create"]  # still settled: polls only

    run(go())


def test_a_new_spec_after_settled_polls_is_rendered_and_applied(tmp_path):
    rec, kube, poller = passes.runtime(tmp_path)

    async def go():
        memory = reconciler.Memory()
        b = await passes.settle(rec, passes.body(1), memory)
        await rec.run_pass(b, memory)
        polls = len(poller.seen)
        b["metadata"]["generation"] = 2
        b["spec"]["forProvider"]["content"] = "changed"
        rec.rt.driver.external = "drifted"  # the plan shows the change
        await rec.run_pass(b, memory)
        assert len(poller.seen) == polls  # not a poll: Terraform's plan and apply
        assert rec.rt.driver.calls[-2:] == ["plan", "update"]
        config = json.loads(config_of(rec, b).read_text())
        assert config["resource"]["x_thing"]["this"]["content"] == "changed"

    run(go())


def test_a_changed_provider_config_after_settled_polls_is_rendered_and_applied(tmp_path):
    rec, kube, poller = passes.runtime(tmp_path)

    async def go():
        memory = reconciler.Memory()
        b = await passes.settle(rec, passes.body(1), memory)
        await rec.run_pass(b, memory)
        config = copy.deepcopy(kube.objects[passes.CONFIG])
        config["spec"]["configuration"] = {"endpoint": "https://example.invalid"}
        kube.objects[passes.CONFIG] = config
        await rec.run_pass(b, memory)
        assert rec.rt.driver.calls[-1] == "plan"  # Terraform, not a poll
        written = json.loads(config_of(rec, b).read_text())
        assert written["provider"]["x"] == {"endpoint": "https://example.invalid"}

    run(go())


def test_a_rotated_credential_reaches_the_next_poll(tmp_path):
    rec, kube, poller = passes.runtime(tmp_path)

    async def go():
        memory = reconciler.Memory()
        b = await passes.settle(rec, passes.body(1), memory)
        assert poller.seen[-1][1].env == {"X_TOKEN": passes.TOKEN}
        kube.objects[passes.SECRET] = passes.secret("rotated-token-value")
        await rec.run_pass(b, memory)
        # Proven unchanged by a provider given the new credential; it is never written.
        assert poller.seen[-1][1].env == {"X_TOKEN": "rotated-token-value"}
        assert "rotated-token-value" not in config_of(rec, b).read_text()
        assert rec.rt.driver.calls == ["create"]

    run(go())


def test_a_state_written_by_a_driver_is_what_the_next_poll_and_report_see(tmp_path):
    rec, kube, poller = passes.runtime(tmp_path)

    async def go():
        memory = reconciler.Memory()
        b = await passes.settle(rec, passes.body(1), memory)
        wd = rec.rt.driver.workdir(b["metadata"]["uid"])
        # Rewritten in place with the same size (as Terraform's own state writes are).
        old = wd.state_file.read_bytes()
        new = old.replace(b'"c"', b'"d"')
        assert len(new) == len(old) and new != old
        with open(wd.state_file, "r+b") as f:
            f.write(new)
        await rec.run_pass(b, memory)
        assert poller.seen[-1][0] == new
        status = next(p for path, p in kube.patches if path.endswith("/status"))
        assert status[0]["value"]["atProvider"]["content"] == "d"

    run(go())


def test_the_workdir_parses_each_state_it_reads_once_and_every_new_one_again(tmp_path):
    wd = Workdir(tmp_path)
    assert wd.resource_attributes() is None

    def state(value: str) -> bytes:
        instance = {"attributes": {"id": "x", "content": value}}
        resource = {"mode": "managed", "type": "x_thing", "name": "this", "instances": [instance]}
        return json.dumps({"version": 4, "serial": 1, "resources": [resource]}).encode()

    wd.write_state(state("a"))
    first = wd.resource_attributes()
    assert first == {"id": "x", "content": "a"}
    assert wd.resource_attributes() is first  # the same bytes: not parsed again
    wd.write_state(state("b"))
    assert wd.resource_attributes() == {"id": "x", "content": "b"}
    wd.state_file.unlink()
    assert wd.resource_attributes() is None


def test_a_provider_setup_is_rendered_again_exactly_when_its_inputs_change(tmp_path):
    rec, kube, _ = passes.runtime(tmp_path)
    renderer = rec.renderer

    def snapshot(i: int) -> resource.ManagedResource:
        return resource.ManagedResource(passes.body(i), rec.kind)

    async def go():
        first = await renderer.desire(snapshot(1))
        other = snapshot(2)
        again = await renderer.desire(other)
        assert again.provider is first.provider  # one setup for every MR of the config
        # The MR given the remembered setup still learnt the credential to hide it.
        assert passes.TOKEN in other.secrets.values

        kube.objects[passes.SECRET] = passes.secret("rotated-token-value")
        rotated = await renderer.desire(snapshot(1))
        assert rotated.provider.env() == {"X_TOKEN": "rotated-token-value"}
        assert (await renderer.desire(snapshot(3))).provider is rotated.provider

        config = copy.deepcopy(kube.objects[passes.CONFIG])
        config["spec"]["configuration"] = {"endpoint": "https://example.invalid"}
        kube.objects[passes.CONFIG] = config
        changed = await renderer.desire(snapshot(1))
        assert changed.provider.arguments == {"endpoint": "https://example.invalid"}

        del kube.objects[passes.SECRET]
        try:
            await renderer.desire(snapshot(1))
        except resource.ReconcileError as exc:
            assert "creds" in str(exc) and "not found" in str(exc)
        else:
            raise AssertionError("a setup whose Secret is gone was given out")
        del kube.objects[passes.CONFIG]
        try:
            await renderer.desire(snapshot(1))
        except resource.ReconcileError as exc:
            assert "'cfg' not found" in str(exc)
        else:
            raise AssertionError("a setup whose ProviderConfig is gone was given out")
        assert renderer.setups == {}  # nothing kept for what failed

    run(go())


def test_a_setup_from_the_process_environment_is_never_remembered(tmp_path, monkeypatch):
    rec, kube, _ = passes.runtime(tmp_path)
    rec.renderer.info = dataclasses.replace(rec.renderer.info, scope="Cluster")
    path = "/apis/x.example.org/v1alpha1/providerconfigs/cfg"
    kube.objects[path] = {
        "metadata": {"name": "cfg"},
        "spec": {"credentials": {"source": "InjectedIdentity"}},
    }
    b = passes.body(1)
    del b["metadata"]["namespace"]

    async def go():
        monkeypatch.setenv("JETGEN_TEST_IDENTITY", "one")
        first = await rec.renderer.desire(resource.ManagedResource(b, rec.kind))
        assert first.provider.env()["JETGEN_TEST_IDENTITY"] == "one"
        monkeypatch.setenv("JETGEN_TEST_IDENTITY", "two")
        second = await rec.renderer.desire(resource.ManagedResource(b, rec.kind))
        assert second.provider.env()["JETGEN_TEST_IDENTITY"] == "two"
        assert rec.renderer.setups == {}

    run(go())


def test_the_workdir_reads_a_state_again_whenever_the_file_was_written(tmp_path):
    wd = Workdir(tmp_path)
    assert wd.read_state() is None
    wd.write_state(b'{"serial": 1}')
    assert wd.read_state() == b'{"serial": 1}'
    wd.write_state(b'{"serial": 2}')  # ours: a new file
    assert wd.read_state() == b'{"serial": 2}'
    # Rewritten in place (as Terraform does), same size, its mtime even set back: the
    # change time still tells.
    before = os.stat(wd.state_file)
    time.sleep(0.02)  # a kernel without fine-grained timestamps: one clock tick later
    with open(wd.state_file, "r+b") as f:
        f.write(b'{"serial": 3}')
    os.utime(wd.state_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert wd.read_state() == b'{"serial": 3}'
    other = Workdir(tmp_path)  # someone else's write through another Workdir
    other.write_state(b'{"serial": 4}')
    assert wd.read_state() == b'{"serial": 4}'
    other.state_file.unlink()
    assert wd.read_state() is None
