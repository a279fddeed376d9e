import json
import stat

from jetgen.runtime.terraform.credentials import credential_env_name
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock
from jetgen.runtime.terraform.diagnostics import (
    IMPORT_NON_EXISTENT,
    Diagnostic,
    TerraformError,
    apply_outcome_known,
    parse_json_lines,
    parse_text_diagnostics,
)
from jetgen.runtime.terraform.driver import CliDriver
from jetgen.runtime.terraform.plans import plan_changes, summarize_plan
from jetgen.runtime.terraform.slots import CHANGE, FINISH, POLL, RunSlots
from jetgen.runtime.terraform.tfstate import state_serial
from jetgen.runtime.terraform.workdir import CONFIG_FILE, Workdir

ERROR_LINE = json.dumps(
    {
        "@level": "error",
        "@message": "Error: Invalid value",
        "type": "diagnostic",
        "diagnostic": {
            "severity": "error",
            "summary": "Invalid value",
            "detail": "length must be\n  at least 1",
            "address": "random_password.this",
        },
    }
)
WARNING_LINE = json.dumps(
    {"type": "diagnostic", "diagnostic": {"severity": "warning", "summary": "Deprecated"}}
)


def test_main_tf_has_provider_resource_and_lifecycle():
    doc = Desired(
        ProviderSetup(
            source="hashicorp/random",
            version="3.9.0",
            arguments={"region": "x"},
            credentials={"token": "s3cret"},
        ),
        ResourceBlock("random_password", {"length": 16}, ignore_changes=("special", "lower")),
    ).config
    assert doc["terraform"]["required_providers"] == {
        "random": {"source": "hashicorp/random", "version": "3.9.0"}
    }
    assert doc["provider"]["random"] == {"region": "x", "token": "${var.jetgen_credential_token}"}
    assert doc["variable"]["jetgen_credential_token"]["sensitive"] is True
    resource = doc["resource"]["random_password"]["this"]
    assert resource["length"] == 16
    assert resource["lifecycle"] == {
        "prevent_destroy": False,
        "ignore_changes": ["lower", "special"],
    }
    assert credential_env_name("token") == "TF_VAR_jetgen_credential_token"


def test_main_tf_without_credentials_has_no_variables():
    doc = Desired(
        ProviderSetup(source="registry.example.org/acme/thing"), ResourceBlock("thing_x", {})
    ).config
    assert "variable" not in doc
    assert doc["terraform"]["required_providers"] == {
        "thing": {"source": "registry.example.org/acme/thing"}
    }
    assert doc["resource"]["thing_x"]["this"]["lifecycle"] == {"prevent_destroy": False}


def test_json_diagnostics_make_a_short_message():
    output = "\n".join(['{"type":"version"}', "not json", ERROR_LINE, WARNING_LINE])
    messages, diagnostics = parse_json_lines(output)
    assert len(messages) == 3
    assert [d.severity for d in diagnostics] == ["error", "warning"]
    err = TerraformError("apply", diagnostics)
    assert str(err) == "apply: Invalid value: length must be at least 1"


def test_error_without_diagnostics_falls_back_to_stderr():
    assert str(TerraformError("plan", [], "exit 1")) == "plan: exit 1"


def test_text_diagnostics_plain_and_boxed():
    plain = (
        'local_file.this: Importing from ID "/x"...\n\n'
        "Error: Resource Import Not Implemented\n\n"
        "This resource does not support import. Please contact the provider developer\n"
        "for additional information.\n\n"
    )
    (diag,) = parse_text_diagnostics(plain)
    assert diag.summary == "Resource Import Not Implemented"
    assert "does not support import" in diag.detail
    boxed = (
        "╷\n│ Error: Cannot import non-existent remote object\n│ \n"
        '│ While attempting to import an existing object to "x.this", the provider\n'
        "│ detected that no object exists with the given id.\n╵\n"
        "╷\n│ Warning: Something\n╵\n"
    )
    diags = parse_text_diagnostics(boxed)
    assert [d.severity for d in diags] == ["error", "warning"]
    err = TerraformError("import", diags)
    assert err.not_found
    assert "Something" not in str(err)  # warnings are dropped when there are errors


def test_plan_summary_reads_actions_and_drift():
    lines = [
        {"type": "resource_drift", "change": {"action": "delete"}},
        {"type": "planned_change", "change": {"action": "create"}},
    ]
    plan = summarize_plan(lines)
    assert plan.action == "create" and plan.drift == "delete" and plan.has_changes
    replace = summarize_plan([{"type": "planned_change", "change": {"action": "delete_create"}}])
    assert replace.action == "replace"
    assert not summarize_plan([]).has_changes


def test_workdir_is_private_and_config_writes_are_idempotent(tmp_path):
    wd = Workdir(tmp_path / "mr")
    wd.ensure()
    assert stat.S_IMODE(wd.path.stat().st_mode) == 0o700
    assert wd.write_config({"a": 1}) is True
    assert wd.write_config({"a": 1}) is False
    assert stat.S_IMODE((wd.path / CONFIG_FILE).stat().st_mode) == 0o600
    assert wd.resource_attributes() is None
    state = {
        "lineage": "l",
        "serial": 3,
        "resources": [
            {"mode": "data", "instances": [{"attributes": {"id": "data"}}]},
            {"mode": "managed", "instances": [{"attributes": {"id": "42"}}]},
        ],
    }
    wd.write_state(json.dumps(state).encode())
    assert wd.resource_attributes() == {"id": "42"}
    assert state_serial(wd.read_state()) == ("l", 3)
    assert state_serial(None) == ("", -1)


def test_run_slots_serve_by_priority_then_arrival():
    import asyncio

    async def scenario() -> list[str]:
        slots = RunSlots(1)
        order: list[str] = []
        await slots.acquire(POLL)  # the only slot is busy

        async def run(name: str, priority: int) -> None:
            await slots.acquire(priority)
            order.append(name)
            slots.release()

        tasks = [
            asyncio.create_task(run("poll-1", POLL)),
            asyncio.create_task(run("change-1", CHANGE)),
            asyncio.create_task(run("finish", FINISH)),
            asyncio.create_task(run("change-2", CHANGE)),
        ]
        cancelled = asyncio.create_task(run("cancelled", FINISH))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        assert slots.waiting == 4
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.busy == 0 and slots.waiting == 0
        return order

    assert asyncio.run(scenario()) == ["finish", "change-1", "change-2", "poll-1"]


def test_a_run_over_its_timeout_is_interrupted_and_reported(tmp_path):
    import asyncio

    slow = tmp_path / "slow-tf"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")  # SIGINT ends it, as it ends tofu
    slow.chmod(0o755)
    driver = CliDriver(binary=str(slow), root=tmp_path / "root")
    wd = Workdir(tmp_path / "wd")
    wd.ensure()

    async def run() -> str:
        try:
            await driver.apply(wd, {}, timeout=0.5)
        except TerraformError as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(run()) == "apply: timed out after 0.5s"
    assert driver.slots.busy == 0


def test_a_failed_apply_shows_nothing_created_only_when_terraform_says_so():
    error = Diagnostic("error", "creating thing: 400 bad request")
    crash = Diagnostic("error", "Plugin did not respond", "The plugin crashed.")
    start = {"type": "apply_start", "hook": {"resource": {"addr": "x_thing.this"}}}
    errored = {"type": "apply_errored", "hook": {"resource": {"addr": "x_thing.this"}}}
    known = apply_outcome_known
    assert known(1, [], [error])  # failed before the resource was touched (plan, config)
    assert known(1, [start, errored], [error])  # the provider refused the create
    assert not known(1, [start], [error])  # started, never reported back
    assert not known(1, [start, errored], [crash])  # the provider died mid-call
    assert not known(-9, [], [error])  # killed
    assert not known(1, [], [])  # no diagnostics: nothing tells what happened
    assert not known(2, [start, errored], [error])


def test_import_not_found_only_from_terraforms_own_verdict():
    own = Diagnostic("error", IMPORT_NON_EXISTENT, "no object exists")
    provider = Diagnostic("error", "Error: endpoint not found", "does not exist")
    assert TerraformError("import", [own]).not_found
    assert not TerraformError("import", [provider]).not_found
    assert not TerraformError("import", [own, provider]).not_found
    assert not TerraformError("import", []).not_found


def test_plan_changes_names_changed_and_forcing_attributes():
    shown = {
        "resource_changes": [
            {
                "mode": "managed",
                "change": {
                    "before": {"content": "a", "id": "1", "mode": "0644"},
                    "after": {"content": "b", "mode": "0644"},
                    "after_unknown": {"id": True},
                    "replace_paths": [["content"]],
                },
            }
        ]
    }
    assert plan_changes(shown) == (["content", "id"], ["content"])
