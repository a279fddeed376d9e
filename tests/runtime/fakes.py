"""A fake driver and a fake kube client around the real Reconciler, for the reconcile
decisions' table (test_decisions.py) and the tests that reuse it: ``make`` builds a
Reconciler of one Thing kind on them, ``body`` one Thing MR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jetgen.runtime import cache, reconciler, state
from jetgen.runtime.kinds import Field, Kind, ProviderInfo
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.resource import EXTERNAL_NAME
from jetgen.runtime.settings import Settings
from jetgen.runtime.terraform.diagnostics import IMPORT_NON_EXISTENT, Diagnostic, TerraformError
from jetgen.runtime.terraform.plans import Plan
from jetgen.runtime.terraform.slots import CHANGE
from jetgen.runtime.terraform.tfstate import state_serial
from jetgen.runtime.terraform.workdir import Workdir

from tests.runtime.kinds import thing

ALL = ["*"]
T0, T1 = "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z"


def guard_annotations(guard: str) -> dict[str, str]:
    return {
        "none": {},
        "pending": {state.PENDING: T1, state.SUCCEEDED: T0},
        "succeeded": {state.PENDING: T0, state.SUCCEEDED: T1},
        "failed": {state.PENDING: T0, state.FAILED: T1},
    }[guard]


# --- the fake driver -------------------------------------------------------------------


class FakeDriver:
    """The world outside, as far as the reconciler can see it through a Driver.

    ``external``: absent | present | drifted | replace.  ``in_state``: whether the
    workdir's Terraform state records the resource (a resource that exists but is not in
    the state is found only by import).  ``apply_error``: raised by apply."""

    def __init__(
        self,
        root: Path,
        external: str,
        in_state: bool = True,
        apply_error=None,
        empty_state: bool = False,
        gone: frozenset[str] = frozenset(),
        loses_state: bool = False,
    ):
        self.root = root
        self.external = external
        self.in_state = in_state and external != "absent"
        self.empty_state = empty_state  # a state without the resource (it was deleted)
        self.apply_error = apply_error
        # IDs that name nothing any more: the state may still record one (a replacement
        # cut short after its delete), refresh then finds it gone.
        self.gone = gone
        self.loses_state = loses_state  # apply succeeds, the state records nothing
        self.calls: list[str] = []

    async def prepare(self, source: str, version: str) -> None:
        pass

    def workdir(self, key: str) -> Workdir:
        wd = Workdir(self.root / key)
        if not wd.path.exists():
            wd.ensure()
            if self.in_state:
                self._record(wd, "ext-1")
            elif self.empty_state:
                self._clear(wd)
        return wd

    def _record(self, wd: Workdir, ident: str) -> None:
        doc = {
            "version": 4,
            "serial": 1 + state_serial(wd.read_state())[1],
            "lineage": "l",
            "resources": [
                {
                    "mode": "managed",
                    "type": "x_thing",
                    "name": "this",
                    "instances": [{"attributes": {"id": ident, "content": "c"}}],
                }
            ],
        }
        wd.write_state(json.dumps(doc).encode())

    def _clear(self, wd: Workdir) -> None:
        serial = 1 + state_serial(wd.read_state())[1]
        doc = {"version": 4, "serial": serial, "lineage": "l", "resources": []}
        wd.write_state(json.dumps(doc).encode())

    async def plan(self, wd, env, *, refresh_only=False, priority=CHANGE):
        self.calls.append("plan")
        attributes = wd.resource_attributes()
        if attributes is None:
            return Plan(action="create")
        if attributes["id"] in self.gone:
            return Plan(action="create", drift="delete")
        if refresh_only:
            return Plan()
        action = {"present": "no-op", "drifted": "update", "replace": "replace"}[self.external]
        return Plan(action=action)

    async def apply(self, wd, env, *, saved=True, timeout=None):
        if wd.resource_attributes() is None:
            what = "create"
        elif self.external == "drifted":
            what = "update"
        elif self.external == "replace":
            what = "replace"
        else:
            what = "store"
        self.calls.append(what)
        if self.apply_error is not None:
            raise self.apply_error
        if what in ("create", "replace") and self.loses_state:
            self._clear(wd)
        elif what in ("create", "replace"):
            self._record(wd, "ext-2")
            self.external = "present"
        elif what == "update":
            self.external = "present"

    async def import_resource(self, wd, env, address, import_id):
        self.calls.append(f"import {import_id}")
        if self.external == "absent" or import_id in self.gone:
            diagnostic = Diagnostic("error", IMPORT_NON_EXISTENT)
            raise TerraformError("import", [diagnostic])
        self._record(wd, import_id)

    async def changes(self, wd, env):
        return ["content"], ["content"] if self.external == "replace" else []

    async def destroy(self, wd, env, *, timeout=None):
        self.calls.append("destroy")
        self._clear(wd)
        self.external = "absent"


class FakeKube:
    """Records writes; nothing exists (no ProviderConfig needed: no credentials)."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.patches: list[tuple[str, Any]] = []

    async def get(self, path: str) -> Any:
        return self.objects.get(path)

    async def patch(self, path: str, body: Any, content_type: str | None = None) -> Any:
        self.patches.append((path, body))

    async def replace(self, path: str, body: Any) -> Any:
        from jetgen.runtime import kube

        if path not in self.objects:
            raise kube.NotFound(404, path)
        self.objects[path] = body

    async def create(self, path: str, body: Any) -> Any:
        self.objects[f"{path}/{body['metadata']['name']}"] = body


def thing_kind() -> Kind:
    return thing({"content": Field(tf_name="content", type="string", optional=True)})


def make(tmp_path: Path, driver: FakeDriver) -> tuple[reconciler.Reconciler, list]:
    kind = thing_kind()
    info = ProviderInfo(
        name="x",
        source="example/x",
        version="1.0.0",
        config_group="x.example.org",
        config_version="v1alpha1",
        scope="Namespaced",
        kinds=[kind],
    )
    kube = FakeKube()
    rt = reconciler.Runtime(
        settings=Settings(workdir_root=tmp_path),
        info=info,
        kube=kube,  # type: ignore[arg-type]
        cache=cache.Cache(kube, enabled=False),  # type: ignore[arg-type]
        driver=driver,  # type: ignore[arg-type]
        store=state.StateStore(kube, "default"),  # type: ignore[arg-type]
        metrics=Metrics(),
    )
    rec = reconciler.Reconciler(rt, kind)
    events: list = []
    rec._event = lambda mr, type_, reason, message: events.append((type_, reason, message))
    return rec, events


def body(policies, guard, paused, deleting, external_name=None) -> dict[str, Any]:
    annotations = guard_annotations(guard)
    if paused:
        annotations["crossplane.io/paused"] = "true"
    if external_name:
        annotations[EXTERNAL_NAME] = external_name
    meta: dict[str, Any] = {
        "name": "a",
        "namespace": "ns",
        "uid": "uid-1",
        "generation": 3,
        "annotations": annotations,
    }
    if deleting:
        meta["deletionTimestamp"] = T1
    return {
        "apiVersion": "x.example.org/v1alpha1",
        "kind": "Thing",
        "metadata": meta,
        "spec": {"managementPolicies": policies, "forProvider": {"content": "c"}},
    }
