"""Plugin protocol 6 end to end, against tests/plugin/provider6 built from source.

None of the test bed's providers serves protocol 6, so this test builds a small
terraform-plugin-framework provider that does (Go toolchain + module cache, as the test bed
itself needs). It covers what only protocol 6 has (nested attribute types) plus dynamic
values, a set of nested blocks with computed attributes, and the schema JSON of all of it
compared with `tofu providers schema -json`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from jetgen.runtime.tfplugin.client import ProviderProcess
from jetgen.runtime.tfplugin.cty import UNKNOWN

from .conftest import run, same_plan

pytestmark = pytest.mark.e2e

SOURCE = Path(__file__).parent / "provider6"
TYPE = "jetgentest_thing"


@pytest.fixture(scope="session")
def provider6(tmp_path_factory) -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.access(go, os.X_OK):
        pytest.fail("the Go toolchain is needed to build the protocol 6 test provider")
    out = tmp_path_factory.mktemp("provider6") / "terraform-provider-jetgentest_v0.1.0"
    env = dict(os.environ, GOFLAGS="-mod=readonly -buildvcs=false", CGO_ENABLED="0")
    done = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_protocol6_schema_matches_tofu(provider6, testbed, tmp_path):
    async def scenario():
        async with await ProviderProcess.start(provider6) as provider:
            assert provider.protocol_version == 6
            return await provider.get_schema()

    ours = run(scenario())
    # dev_overrides makes tofu load the binary from its folder, no registry or init needed.
    override = f'dev_overrides {{ "jetgen/jetgentest" = "{provider6.parent}" }}'
    (tmp_path / "rc").write_text(f"provider_installation {{\n  {override}\n  direct {{}}\n}}\n")
    required = {"jetgentest": {"source": "jetgen/jetgentest"}}
    (tmp_path / "main.tf.json").write_text(
        json.dumps({"terraform": {"required_providers": required}})
    )
    done = subprocess.run(
        [str(testbed.tofu), "providers", "schema", "-json"],
        cwd=tmp_path,
        env=testbed.tf_env({"TF_CLI_CONFIG_FILE": str(tmp_path / "rc")}),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)["provider_schemas"]["registry.opentofu.org/jetgen/jetgentest"]
    assert ours["provider"] == theirs["provider"]
    assert ours["resource_schemas"] == theirs["resource_schemas"]
    endpoint = ours["resource_schemas"][TYPE]["block"]["attributes"]["endpoint"]
    assert endpoint["nested_type"]["nesting_mode"] == "single"


def test_protocol6_lifecycle_with_nested_attributes_and_dynamic_values(provider6):
    config = {
        "name": "a",
        "labels": {"team": "infra"},
        "extra": {"n": 1, "tags": ["x", "y"]},  # dynamic: an object holding a tuple
        "rules": [{"port": 80}, {"port": 443}],  # list nested attribute
        "tag": [{"key": "b"}, {"key": "a"}],  # set nested block
    }

    async def scenario():
        async with await ProviderProcess.start(provider6) as provider:
            await provider.configure({"prefix": "t-"})

            plan = await provider.plan(TYPE, None, config)
            planned = plan.planned_state
            assert plan.action == "create"
            assert planned["endpoint"] is UNKNOWN and planned["size"] == 3
            assert planned["rules"] == [
                {"port": 80, "rule_id": UNKNOWN},
                {"port": 443, "rule_id": UNKNOWN},
            ]

            state, private = await provider.apply(TYPE, None, plan, config)
            assert state["id"] == "t-a" and state["revision"] == 1
            assert state["endpoint"] == {"host": None, "port": 8080}
            assert state["rules"][1] == {"port": 443, "rule_id": "rule-443"}
            assert state["extra"] == {"n": 1, "tags": ["x", "y"]}
            assert sorted(t["etag"] for t in state["tag"]) == ["etag-a", "etag-b"]

            state, private = await provider.read(TYPE, state, private)
            # Set elements and nested computed values pair with their prior: no diff.
            same = await provider.plan(TYPE, state, config, private)
            assert same.action == "noop", same.planned_state

            renamed = dict(config, name="b")
            update = await provider.plan(TYPE, state, renamed, private)
            assert update.action == "update" and update.requires_replace == []
            assert update.planned_state["revision"] is UNKNOWN
            assert update.planned_state["id"] == "t-a"
            state, private = await provider.apply(TYPE, state, update, renamed)
            assert state["revision"] == 2 and state["name"] == "b"

            bigger = dict(renamed, size=5)
            replace = await provider.plan(TYPE, state, bigger, private)
            assert replace.action == "replace" and replace.requires_replace == [("size",)]

            delete = await provider.plan(TYPE, state, None, private)
            assert delete.action == "delete"
            assert (await provider.apply(TYPE, state, delete, None)) == (None, b"")

            [(type_name, imported, _)] = await provider.import_state(TYPE, "t-old")
            assert type_name == TYPE and imported["id"] == "t-old"

    run(scenario())


def test_protocol6_update_plans_match_tofu(provider6, testbed, tmp_path):
    """tofu creates; the client adopts tofu's state; both plan the same updates."""
    override = f'dev_overrides {{ "jetgen/jetgentest" = "{provider6.parent}" }}'
    (tmp_path / "rc").write_text(f"provider_installation {{\n  {override}\n  direct {{}}\n}}\n")
    env = testbed.tf_env({"TF_CLI_CONFIG_FILE": str(tmp_path / "rc")})

    def tofu(*args: str) -> str:
        done = subprocess.run(
            [str(testbed.tofu), *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def write(config: dict) -> None:
        body = {
            "terraform": {"required_providers": {"jetgentest": {"source": "jetgen/jetgentest"}}},
            "provider": {"jetgentest": {"prefix": "t-"}},
            "resource": {TYPE: {"this": config}},
        }
        (tmp_path / "main.tf.json").write_text(json.dumps(body))

    before = {
        "name": "a",
        "rules": [{"port": 80}, {"port": 443}],
        "tag": [{"key": "b"}, {"key": "a"}],
        "labels": {"team": "infra"},
    }
    write(before)
    tofu("apply", "-input=false", "-auto-approve")
    [instance] = json.loads((tmp_path / "terraform.tfstate").read_text())["resources"][0][
        "instances"
    ]
    changes = {
        "unchanged": before,
        "rename, add a rule, swap a tag": dict(
            before,
            name="b",
            rules=[{"port": 80}, {"port": 443}, {"port": 8443}],
            tag=[{"key": "a"}, {"key": "c"}],
        ),
        "set a nested optional attribute": dict(before, endpoint={"host": "example.org"}),
        "size (requires replace)": dict(before, size=5),
    }
    tofu_plans = {}
    for what, config in changes.items():
        write(config)
        tofu("plan", "-input=false", "-out=plan.bin")
        [change] = json.loads(tofu("show", "-json", "plan.bin"))["resource_changes"]
        tofu_plans[what] = change["change"]

    async def scenario():
        async with await ProviderProcess.start(provider6) as provider:
            await provider.configure({"prefix": "t-"})
            state = await provider.upgrade_state(
                TYPE, instance["schema_version"], instance["attributes"]
            )
            state, private = await provider.read(TYPE, state, b"")
            plans = {
                what: await provider.plan(TYPE, state, config, private)
                for what, config in changes.items()
            }
            return state, plans, await provider.resource_type(TYPE)

    state, plans, ty = run(scenario())
    assert state["id"] == "t-a" and state["rules"][0]["rule_id"] == "rule-80"
    actions = {"no-op": "noop", "update": "update", "delete,create": "replace"}
    for what, plan in plans.items():
        change = tofu_plans[what]
        assert plan.action == actions[",".join(change["actions"])], what
        if plan.action != "replace":  # tofu shows a replacement's create half instead
            same_plan(plan.planned_state, change, what, ty)
