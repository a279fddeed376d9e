"""One MR through its whole life while its driver changes under it (runtime/drivers.py).

The provider is the test bed's jetgenfault: each object is a file under a provider-chosen
random ID, so a blind second create shows as a second file, and the provider journals
every create, update and delete.  Each step restarts the controller (a new pod: a fresh
workdir, the state read back from its Secret) with the other driver:

1. plugin protocol: create;
2. CLI (``--driver cli``): update in place, then the object deleted out of band is
   recreated;
3. plugin protocol, chosen by kinds.json this time (no override): update in place, then a
   replacement;
4. CLI, chosen by kinds.json (``driver: cli``, as jetgen.yaml's ``resources.<type>.driver``
   writes it): delete.

Throughout, the object is the same one where it should be (same ID after an update),
exactly one exists while the MR does, none after, the journal has no operation too many,
and each step's writes are logged as done by the driver that step chose.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready

pytestmark = pytest.mark.e2e

POLL = 2.0


class Life:
    """The MR, its objects directory and the controllers that take turns."""

    def __init__(self, apiserver, testbed, provider: Path, tmp: Path):
        self.api, self.testbed, self.tmp = apiserver, testbed, tmp
        info = json.loads(harness.kinds_file(provider).read_text())
        (kind,) = info["kinds"]
        self.info, self.kind = info, kind
        self.resource = f"{kind['plural']}.{kind['group']}"
        self.root = tmp / "objects"
        self.root.mkdir()
        self.ns = apiserver.create_namespace("drivers")
        self.name = "obj"
        self.steps = 0
        apiserver.apply(
            {
                "apiVersion": f"{info['config_group']}/{info['config_version']}",
                "kind": "ProviderConfig",
                "metadata": {"name": "default", "namespace": self.ns},
                "spec": {"configuration": {"root": str(self.root)}},
            }
        )

    def kinds(self, driver: str | None) -> Path:
        """kinds.json with the kind's driver set as jetgen.yaml would (None: the default,
        left out)."""
        info = json.loads(json.dumps(self.info))
        info["kinds"][0].pop("driver", None)
        if driver is not None:
            info["kinds"][0]["driver"] = driver
        path = self.tmp / f"kinds-{self.steps}.json"
        path.write_text(json.dumps(info))
        return path

    def controller(self, *, override: str = "", kinds_driver: str | None = None) -> Controller:
        """A new controller (fresh workdir) choosing its driver by ``--driver`` or, with
        no override, by kinds.json."""
        self.steps += 1
        return Controller(
            kinds=self.kinds(kinds_driver),
            apiserver=self.api,
            testbed=self.testbed,
            workdir_root=self.tmp / f"work-{self.steps}",
            log=self.tmp / f"controller-{self.steps}.log",
            poll=POLL,
            namespace=self.ns,
            extra_args=["--driver", override] if override else [],
            env={"JETGEN_DRIVER": ""},  # the suite's --driver must not decide here
        ).start()

    def apply(self, content: str, shape: str = "a") -> None:
        self.api.apply(
            {
                "apiVersion": f"{self.kind['group']}/{self.kind['version']}",
                "kind": self.kind["kind"],
                "metadata": {"name": self.name, "namespace": self.ns},
                "spec": {
                    "forProvider": {"content": content, "shape": shape},
                    "providerConfigRef": {"kind": "ProviderConfig", "name": "default"},
                },
            }
        )

    def get(self) -> dict | None:
        return get(self.api, self.resource, self.name, self.ns)

    def objects(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith("."))

    def journal(self) -> list[str]:
        path = self.root / ".journal"
        return path.read_text().splitlines() if path.exists() else []

    def content(self, object_id: str) -> dict:
        return json.loads((self.root / object_id).read_text())

    def settled(self, what: str, check) -> dict:
        """Wait until the MR is Ready and Synced and ``check(mr)`` holds."""

        def done():
            mr = self.get()
            return mr if is_ready(mr) and check(mr) else None

        return harness.wait_for(what, done, timeout=90)

    def wrote(self, ctl: Controller, operation: str, driver: str) -> bool:
        line = f"{self.kind['kind']} {self.ns}/{self.name}: {operation} by the {driver} driver"
        return line in ctl.logs()


def observed(generation: int):
    return lambda mr: (mr.get("status") or {}).get("observedGeneration") == generation


def test_one_mr_switches_drivers_through_its_whole_life(
    apiserver, testbed, fault_provider, tmp_path
):
    life = Life(apiserver, testbed, fault_provider, tmp_path)
    uid = None

    # 1. Created over the plugin protocol.
    ctl = life.controller(override="plugin")
    try:
        assert "writes: the plugin protocol for 1 kinds" in harness.wait_for(
            "the start-up line", lambda: "writes:" in ctl.logs() and ctl.logs()
        )
        life.apply("v1")
        mr = life.settled("created", observed(1))
        uid = mr["metadata"]["uid"]
        (first,) = life.objects()
        assert mr["metadata"]["annotations"]["crossplane.io/external-name"] == first
        assert life.wrote(ctl, "apply", "plugin") and not life.wrote(ctl, "apply", "cli")
    finally:
        ctl.stop()

    # 2. The CLI takes over the plugin protocol's state: an update in place, then a recreate.
    ctl = life.controller(override="cli")
    try:
        life.apply("v2")
        life.settled("updated by the CLI", observed(2))
        harness.wait_for("v2 written", lambda: life.content(first)["content"] == "v2")
        assert life.objects() == [first]  # the same object, no second one
        (life.root / first).unlink()  # gone out of band
        second = harness.wait_for(
            "the object recreated", lambda: [o for o in life.objects() if o != first]
        )
        life.settled("Ready after the recreate", observed(2))
        assert life.objects() == second and life.content(second[0])["content"] == "v2"
        assert life.wrote(ctl, "apply", "cli") and not life.wrote(ctl, "apply", "plugin")
    finally:
        ctl.stop()
    (second,) = second

    # 3. Back to the plugin protocol, this time as kinds.json's default: the CLI's state
    #    is planned from as is: an update in place, then a replacement.
    ctl = life.controller(kinds_driver=None)
    try:
        life.apply("v3")
        life.settled("updated over the plugin protocol", observed(3))
        harness.wait_for("v3 written", lambda: life.content(second)["content"] == "v3")
        assert life.objects() == [second]
        life.apply("v3", shape="b")
        life.settled("replaced", lambda mr: observed(4)(mr) and life.objects() != [second])
        (third,) = life.objects()
        assert life.content(third) == {"content": "v3", "shape": "b"}
        assert life.get()["metadata"]["annotations"]["crossplane.io/external-name"] == third
        assert life.wrote(ctl, "apply", "plugin") and not life.wrote(ctl, "apply", "cli")
    finally:
        ctl.stop()

    # 4. Deleted by the CLI, chosen in kinds.json (driver: cli).
    ctl = life.controller(kinds_driver="cli")
    try:
        assert "writes: the CLI for all 1 kinds (kinds.json)" in harness.wait_for(
            "the start-up line", lambda: "writes:" in ctl.logs() and ctl.logs()
        )
        life.settled("seen by the CLI", observed(4))
        apiserver.kubectl("delete", life.resource, life.name, "-n", life.ns, "--wait=false")
        harness.wait_for("the MR gone", lambda: life.get() is None, timeout=90)
        assert life.objects() == []
        assert life.wrote(ctl, "destroy", "cli")
    finally:
        ctl.stop()

    # One create per object, each object deleted once, nothing else made or removed.
    ops = [line.split()[0] for line in life.journal()]
    assert ops.count("create") == 3, life.journal()
    assert [line for line in life.journal() if line.startswith("delete")] == [
        f"delete {second}",
        f"delete {third}",
    ], life.journal()
    assert uid is not None
