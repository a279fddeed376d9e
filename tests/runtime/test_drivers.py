"""The choice of driver per kind and the CLI taking over from the plugin protocol
(jetgen.runtime.drivers): pure logic, on recording stand-in drivers.  The real drivers are
run by the e2e tests (test_e2e_drivers.py and the suite under ``--driver``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from jetgen.runtime import drivers
from jetgen.runtime.kinds import Kind
from jetgen.runtime.terraform.plans import Plan
from jetgen.runtime.terraform.workdir import Workdir


class CannotProve(Exception):
    pass


class Recording:
    """A driver that records its calls; ``refuse`` names operations it cannot prove."""

    def __init__(self, name: str, log: list[str], action: str = "update", refuse=()):
        self.name, self.log, self.action, self.refuse = name, log, action, set(refuse)

    async def _do(self, op: str) -> None:
        self.log.append(f"{self.name} {op}")
        if op in self.refuse:
            raise CannotProve(f"{op} not here")

    async def prepare(self, source, version):
        await self._do("prepare")

    def workdir(self, key):
        return Workdir(Path("/nonexistent") / key)

    async def plan(self, wd, env, *, refresh_only=False, priority=1):
        await self._do("plan")
        return Plan(action=self.action)

    async def apply(self, wd, env, *, saved=True, timeout=None):
        await self._do("apply" if saved else "apply-unsaved")

    async def import_resource(self, wd, env, address, import_id):
        await self._do("import")

    async def changes(self, wd, env):
        await self._do("changes")
        return [self.name], []

    async def destroy(self, wd, env, *, timeout=None):
        await self._do("destroy")


def kind(driver: str = "plugin") -> Kind:
    return Kind("Thing", "g.x", "v1", "things", "Namespaced", "x_thing", {}, driver=driver)


def pair(refuse=(), cli_action="update", plugin_action="update"):
    log: list[str] = []
    records: list[tuple[str, str, str]] = []
    cli = Recording("cli", log, cli_action)
    plugin = Recording("plugin", log, plugin_action, refuse)
    driver = drivers.for_kind(kind(), "", cli, plugin, (CannotProve,), lambda *r: records.append(r))
    return driver, log, records


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("kind_driver", "override", "expected"),
    [
        ("plugin", "", "plugin"),
        ("cli", "", "cli"),
        ("plugin", "cli", "cli"),
        ("cli", "plugin", "plugin"),
    ],
)
def test_the_override_wins_over_the_kind(kind_driver, override, expected):
    assert drivers.chosen(kind(kind_driver), override) == expected
    log: list[str] = []
    chosen = drivers.for_kind(
        kind(kind_driver), override, Recording("cli", log), Recording("plugin", log), ()
    )
    assert chosen.name == expected


def test_without_a_plugin_driver_every_kind_uses_the_cli():
    log: list[str] = []
    driver = drivers.for_kind(kind("plugin"), "plugin", Recording("cli", log), None, ())
    assert driver.name == "cli"
    wd = Workdir(Path("/nonexistent"))
    run(driver.plan(wd, {}))
    run(driver.apply(wd, {}))
    assert log == ["cli plan", "cli apply"]


def test_plugin_does_what_it_can_and_each_call_is_recorded():
    driver, log, records = pair()
    wd = Workdir(Path("/nonexistent"))
    run(driver.plan(wd, {}))
    assert run(driver.changes(wd, {})) == (["plugin"], [])
    run(driver.apply(wd, {}))
    run(driver.import_resource(wd, {}, "x_thing.this", "id"))
    run(driver.destroy(wd, {}))
    assert log == [
        "plugin plan",
        "plugin changes",
        "plugin apply",
        "plugin import",
        "plugin destroy",
    ]
    assert records == [
        ("Thing", op, "plugin") for op in ("plan", "changes", "apply", "import", "destroy")
    ]


@pytest.mark.parametrize("op", ["import", "destroy", "apply-unsaved"])
def test_what_the_plugin_cannot_prove_the_cli_does(op):
    driver, log, records = pair(refuse=[op])
    wd = Workdir(Path("/nonexistent"))
    call = {
        "import": lambda: driver.import_resource(wd, {}, "x_thing.this", "id"),
        "destroy": lambda: driver.destroy(wd, {}),
        "apply-unsaved": lambda: driver.apply(wd, {}, saved=False),
    }[op]
    run(call())
    assert log == [f"plugin {op}", f"cli {op}"]
    assert records == [("Thing", op.removesuffix("-unsaved"), "cli")]


def test_a_plan_the_cli_made_is_applied_and_shown_by_the_cli():
    driver, log, records = pair(refuse=["plan"])
    wd = Workdir(Path("/nonexistent"))
    run(driver.plan(wd, {}))
    run(driver.changes(wd, {}))
    run(driver.apply(wd, {}))
    assert log == ["plugin plan", "cli plan", "cli changes", "cli apply"]
    assert [r[2] for r in records] == ["cli", "cli", "cli"]


def test_an_apply_the_plugin_refuses_is_replanned_by_the_cli_and_applied_if_the_same():
    driver, log, _ = pair(refuse=["apply"])
    wd = Workdir(Path("/nonexistent"))
    run(driver.plan(wd, {}))
    run(driver.apply(wd, {}))
    assert log == ["plugin plan", "plugin apply", "cli plan", "cli apply"]


def test_an_apply_the_cli_would_plan_differently_is_not_applied():
    driver, log, _ = pair(refuse=["apply"], cli_action="replace", plugin_action="update")
    wd = Workdir(Path("/nonexistent"))
    run(driver.plan(wd, {}))
    with pytest.raises(drivers.CannotApply, match="the CLI plans replace where the plugin"):
        run(driver.apply(wd, {}))
    assert log == ["plugin plan", "plugin apply", "cli plan"]


def test_changes_the_plugin_cannot_show_come_from_a_cli_plan():
    driver, log, _ = pair(refuse=["changes"])
    wd = Workdir(Path("/nonexistent"))
    run(driver.plan(wd, {}))
    assert run(driver.changes(wd, {})) == (["cli"], [])
    run(driver.apply(wd, {}))  # the CLI owns the plan now
    assert log == ["plugin plan", "plugin changes", "cli plan", "cli changes", "cli apply"]


def test_plans_are_kept_per_workdir_object_and_not_beyond_it():
    driver, log, _ = pair()
    first, second = Workdir(Path("/a")), Workdir(Path("/b"))
    run(driver.plan(first, {}))
    run(driver.apply(second, {}))  # no plan of this pass for /b: the CLI's saved one
    run(driver.apply(first, {}))
    assert log == ["plugin plan", "cli apply", "plugin apply"]
    del first
    assert len(driver._planned) == 0


def test_other_errors_are_not_taken_over(caplog):
    log: list[str] = []

    class Broken(Recording):
        async def destroy(self, wd, env, *, timeout=None):
            raise RuntimeError("provider said no")

    driver = drivers.for_kind(
        kind(), "", Recording("cli", log), Broken("plugin", log), (CannotProve,)
    )
    with pytest.raises(RuntimeError, match="provider said no"):
        run(driver.destroy(Workdir(Path("/x")), {}))
    assert log == []


def test_writes_and_fallbacks_are_logged_once_per_reason(caplog):
    driver, _, _ = pair(refuse=["import"])
    caplog.set_level(logging.DEBUG, logger="jetgen.runtime.drivers")

    async def passes() -> None:
        for name in ("a", "b"):
            drivers.subject.set(f"Thing ns/{name}")
            await driver.import_resource(Workdir(Path("/x")), {}, "x_thing.this", "id")

    run(passes())
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [
        "Thing ns/a: import by the CLI: the plugin protocol cannot prove it (import not here)",
        "Thing ns/a: import by the cli driver",
        "Thing ns/b: import by the cli driver",
    ]


def test_the_start_up_line_says_which_kinds_write_with_which_driver():
    kinds = [kind("plugin"), kind("cli"), kind("plugin")]
    kinds[1].kind = "Password"
    assert drivers.summary(kinds, "", True) == (
        "writes: the plugin protocol for 2 kinds (the CLI where it cannot prove),"
        " the CLI for 1: Password"
    )
    assert drivers.summary(kinds, "cli", True) == "writes: the CLI for all 3 kinds (--driver cli)"
    assert drivers.summary(kinds, "plugin", True) == (
        "writes: the plugin protocol for 3 kinds (the CLI where it cannot prove) (--driver plugin)"
    )
    assert drivers.summary(kinds, "", False) == (
        "writes: the CLI for all 3 kinds (no plugin-protocol driver)"
    )
    on_cli = [kind("cli"), kind("cli")]
    assert drivers.summary(on_cli, "", False) == "writes: the CLI for all 2 kinds (kinds.json)"
