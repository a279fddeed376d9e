"""The plugin client and the tofu CLI agree: same state, same plans, on the same resource.

tofu creates the resource; the client takes its state over exactly as a driver switching
from the CLI would (UpgradeResourceState on the stored JSON, then ReadResource), and its
plans are compared with `tofu show -json` of tofu's own plan for the same change.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from jetgen.runtime.tfplugin.client import ProviderProcess

from .conftest import run

pytestmark = pytest.mark.e2e


class Workdir:
    def __init__(self, testbed, folder: Path, provider: str, type_name: str):
        self.testbed, self.folder, self.type_name = testbed, folder, type_name
        self.provider = provider

    def tofu(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.testbed.tofu), *args],
            cwd=self.folder,
            env=self.testbed.tf_env(),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def write_config(self, config: dict) -> None:
        required = {self.provider: {"source": f"hashicorp/{self.provider}"}}
        body = {
            "terraform": {"required_providers": required},
            "resource": {self.type_name: {"this": config}},
        }
        (self.folder / "main.tf.json").write_text(json.dumps(body))

    def stored_instance(self) -> dict:
        state = json.loads((self.folder / "terraform.tfstate").read_text())
        [resource] = state["resources"]
        [instance] = resource["instances"]
        return instance

    def planned_change(self) -> dict:
        self.tofu("plan", "-input=false", "-out=plan.bin")
        shown = json.loads(self.tofu("show", "-json", "plan.bin"))
        [change] = shown["resource_changes"]
        return change["change"]


def adopt(provider: ProviderProcess, type_name: str, instance: dict):
    """A state tofu stored, as the client's (state, private)."""

    async def go():
        state = await provider.upgrade_state(
            type_name, instance["schema_version"], instance["attributes"]
        )
        private = base64.b64decode(instance.get("private", ""))
        return await provider.read(type_name, state, private)

    return go()


def test_time_rotating_in_place_update_matches_tofu(testbed, provider_binary, tmp_path):
    work = Workdir(testbed, tmp_path, "time", "time_rotating")
    before = {"rotation_days": 30, "triggers": {"a": "1"}}
    after = {"rotation_days": 60, "triggers": {"a": "1"}}
    work.write_config(before)
    work.tofu("init", "-input=false")
    work.tofu("apply", "-input=false", "-auto-approve")
    instance = work.stored_instance()
    work.write_config(after)
    tofu_change = work.planned_change()
    assert tofu_change["actions"] == ["update"]

    async def scenario():
        async with await ProviderProcess.start(provider_binary("time")) as provider:
            await provider.configure({})
            state, private = await adopt(provider, "time_rotating", instance)
            same = await provider.plan("time_rotating", state, before, private)
            changed = await provider.plan("time_rotating", state, after, private)
            return state, same, changed

    state, same, changed = run(scenario())
    assert state == instance["attributes"]
    assert same.action == "noop"
    assert changed.requires_replace == [], (changed.requires_replace, changed.planned_state, state)
    assert changed.action == "update"
    assert tofu_change["after_unknown"] == {}
    assert changed.planned_state == tofu_change["after"]


def test_random_password_replacement_matches_tofu(testbed, provider_binary, tmp_path):
    work = Workdir(testbed, tmp_path, "random", "random_password")
    work.write_config({"length": 12, "keepers": {"k": "1"}})
    work.tofu("init", "-input=false")
    work.tofu("apply", "-input=false", "-auto-approve")
    instance = work.stored_instance()
    after = {"length": 12, "keepers": {"k": "2"}}
    work.write_config(after)
    tofu_change = work.planned_change()
    assert tofu_change["actions"] == ["delete", "create"]

    async def scenario():
        async with await ProviderProcess.start(provider_binary("random")) as provider:
            await provider.configure({})
            state, private = await adopt(provider, "random_password", instance)
            return state, await provider.plan("random_password", state, after, private)

    state, plan = run(scenario())
    assert state["result"] == instance["attributes"]["result"]
    assert plan.action == "replace"
    assert sorted(list(p) for p in plan.requires_replace) == sorted(tofu_change["replace_paths"])
