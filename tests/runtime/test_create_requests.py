"""The apiserver requests a new MR's create costs: each one is paid a thousand times over
in a burst of a thousand MRs, behind a client-side limit of 50 per second.

* a new MR (no create mark, no external name, no status) does not look for a state
  Secret: none can exist yet;
* its first state Secret is created with one request, not a refused replace and a create;
* ``Ready=False, Creating`` is written only for a create still running after
  ``CREATING_NOTICE`` seconds, and then always before the final status.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from jetgen.runtime import conditions, kube, reconciler, state
from jetgen.runtime.resource import EXTERNAL_NAME, ManagedResource
from jetgen.runtime.terraform.slots import CHANGE, RunSlots

from tests.runtime.fakes import ALL, FakeDriver, body, make

STATE_SECRET = "/api/v1/namespaces/default/secrets/jetgen-tfstate-uid-1"


class CountingKube:
    """Counts the requests a pass makes; knows no object but what it was given."""

    def __init__(
        self, objects: dict[str, Any] | None = None, conflict: bool = False, conflicts: int = 0
    ) -> None:
        self.objects = dict(objects or {})
        self.requests: list[tuple[str, str]] = []
        self.patches: list[tuple[str, str, Any]] = []
        self.status_writes: list[dict[str, Any]] = []
        self.conflict = conflict
        self.conflicts = conflicts  # guarded patches refused before one is taken

    async def get(self, path: str) -> Any:
        self.requests.append(("GET", path))
        return self.objects.get(path)

    async def patch(self, path: str, patch: Any, content_type: str | None = None) -> Any:
        self.requests.append(("PATCH", path))
        self.patches.append(("PATCH", path, patch))
        if path.endswith("/status"):
            self.status_writes.append(patch[0]["value"])
        elif "resourceVersion" in patch.get("metadata", {}) and self.conflicts:
            self.conflicts -= 1
            raise kube.Conflict(409, path)

    async def replace(self, path: str, obj: Any) -> Any:
        self.requests.append(("PUT", path))
        if path not in self.objects:
            raise kube.NotFound(404, path)
        self.objects[path] = obj

    async def create(self, path: str, obj: Any) -> Any:
        self.requests.append(("POST", path))
        name = f"{path}/{obj['metadata']['name']}"
        if self.conflict or name in self.objects:
            raise kube.Conflict(409, name)
        self.objects[name] = obj


def reconcile(tmp_path, b: dict[str, Any], client: CountingKube, driver=None) -> ManagedResource:
    rec, _ = make(tmp_path, driver or FakeDriver(tmp_path / "work", "absent"))
    rec.rt.kube = client  # type: ignore[assignment]
    rec.rt.store = state.StateStore(client, "default")  # type: ignore[arg-type]
    rec.renderer.kube = client  # type: ignore[assignment]
    mr = ManagedResource(b, rec.kind)
    asyncio.run(rec.reconcile(mr, reconciler.Memory()))
    return mr


def secret_requests(client: CountingKube) -> list[tuple[str, str]]:
    return [(verb, path) for verb, path in client.requests if "/secrets" in path]


def test_a_new_mr_creates_its_state_secret_with_one_request_and_reads_none(tmp_path):
    client = CountingKube()
    mr = reconcile(tmp_path, body(ALL, "none", False, False), client)
    assert state.guard(mr.annotations) == "succeeded"
    assert secret_requests(client) == [("POST", "/api/v1/namespaces/default/secrets")]
    assert STATE_SECRET in client.objects


@pytest.mark.parametrize(
    "annotations, status",
    [
        ({state.PENDING: "2026-01-01T00:00:00.000000Z"}, {}),
        ({state.FAILED: "2026-01-01T00:00:00.000000Z"}, {}),
        ({EXTERNAL_NAME: "ext-1"}, {}),
        ({}, {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}),
    ],
    ids=["create-pending", "create-failed", "external-name", "has-status"],
)
def test_an_mr_that_may_have_state_looks_for_its_secret(tmp_path, annotations, status):
    b = body(ALL, "none", False, False)
    b["metadata"]["annotations"].update(annotations)
    b["status"] = status
    client = CountingKube()
    try:
        reconcile(tmp_path, b, client)
    except Exception:  # noqa: BLE001 - the outcome is not what is tested here
        pass
    assert ("GET", STATE_SECRET) in client.requests


def test_a_state_secret_that_exists_after_all_is_replaced(tmp_path):
    client = CountingKube(conflict=True)
    store = state.StateStore(client, "default")  # type: ignore[arg-type]
    client.objects[STATE_SECRET] = {"data": {}}
    b = body(ALL, "none", False, False)
    asyncio.run(store.save(b, b'{"serial": 1}', new=True))
    assert [verb for verb, _ in client.requests] == ["POST", "PUT"]
    packed = base64.b64decode(client.objects[STATE_SECRET]["data"][state.STATE_KEY])
    assert state.decode_state(packed) == b'{"serial": 1}'


class SlowDriver(FakeDriver):
    """Its apply waits ``queued`` seconds for its run slot, then runs ``seconds``."""

    def __init__(self, *args: Any, seconds: float, queued: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds, self.queued = seconds, queued
        self.slots = RunSlots(1)

    async def apply(self, wd, env, *, saved=True, timeout=None):
        await asyncio.sleep(self.queued)  # the slot is busy with other runs meanwhile
        await self.slots.acquire(CHANGE)
        try:
            await asyncio.sleep(self.seconds)
            await super().apply(wd, env, saved=saved, timeout=timeout)
        finally:
            self.slots.release()


def reasons(client: CountingKube) -> list[str]:
    out = []
    for written in client.status_writes:
        ready = conditions.find(written.get("conditions"), conditions.READY)
        out.append(ready["reason"] if ready else "")
    return out


def test_a_quick_create_goes_straight_to_its_final_status(tmp_path, monkeypatch):
    monkeypatch.setattr(reconciler, "CREATING_NOTICE", 0.5)
    client = CountingKube()
    driver = SlowDriver(tmp_path / "work", "absent", seconds=0.0)
    reconcile(tmp_path, body(ALL, "none", False, False), client, driver)
    assert reasons(client) == [conditions.AVAILABLE]


def test_a_slow_create_says_creating_first(tmp_path, monkeypatch):
    monkeypatch.setattr(reconciler, "CREATING_NOTICE", 0.01)
    client = CountingKube()
    driver = SlowDriver(tmp_path / "work", "absent", seconds=0.2)
    reconcile(tmp_path, body(ALL, "none", False, False), client, driver)
    assert reasons(client) == [conditions.CREATING, conditions.AVAILABLE]


def test_a_create_that_only_waited_for_its_slot_goes_straight_to_its_final_status(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(reconciler, "CREATING_NOTICE", 0.05)
    client = CountingKube()
    driver = SlowDriver(tmp_path / "work", "absent", seconds=0.0, queued=0.3)
    reconcile(tmp_path, body(ALL, "none", False, False), client, driver)
    assert reasons(client) == [conditions.AVAILABLE]


def test_a_failed_creating_notice_does_not_stop_the_create(tmp_path, monkeypatch):
    monkeypatch.setattr(reconciler, "CREATING_NOTICE", 0.01)

    class Refusing(CountingKube):
        async def patch(self, path: str, patch: Any, content_type: str | None = None) -> Any:
            if path.endswith("/status") and not self.status_writes:
                self.status_writes.append({})
                raise kube.KubeError(500, "apiserver busy")
            return await super().patch(path, patch, content_type)

    client = Refusing()
    driver = SlowDriver(tmp_path / "work", "absent", seconds=0.2)
    mr = reconcile(tmp_path, body(ALL, "none", False, False), client, driver)
    assert state.guard(mr.annotations) == "succeeded"
    assert reasons(client)[-1] == conditions.AVAILABLE


FINALIZER = "jetgen.dev/finalizer"


# --- the finalizer comes with the first create-pending mark --------------------------------


def mr_patches(client: CountingKube) -> list[dict[str, Any]]:
    return [patch["metadata"] for verb, path, patch in client.patches if "/secrets" not in path
            and not path.endswith("/status")]  # fmt: skip


def test_a_new_mr_gets_its_finalizer_in_the_pending_mark_patch(tmp_path):
    client = CountingKube()
    b = body(ALL, "none", False, False)
    b["metadata"]["resourceVersion"] = "41"
    reconcile(tmp_path, b, client)
    first, *rest = mr_patches(client)
    assert first["finalizers"] == [FINALIZER] and first["resourceVersion"] == "41"
    assert list(first["annotations"]) == [state.PENDING]
    assert all("finalizers" not in patch for patch in rest)
    assert len(rest) == 1  # the succeeded mark


def test_an_mr_with_a_history_gets_its_finalizer_before_anything_else(tmp_path):
    client = CountingKube()
    b = body(ALL, "none", False, False)
    b["metadata"]["finalizers"] = ["someone.else/keep"]
    b["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}
    try:
        reconcile(tmp_path, b, client)
    except Exception:  # noqa: BLE001 - the outcome is not what is tested here
        pass
    verb, path, patch = client.patches[0]
    assert patch["metadata"]["finalizers"] == ["someone.else/keep", FINALIZER]
    assert patch["metadata"]["annotations"] == {}
    assert client.requests.index((verb, path)) == 0


def test_a_conflict_reads_the_object_again_and_keeps_what_it_shows(tmp_path):
    path = "/apis/x.example.org/v1alpha1/namespaces/ns/things/a"
    b = body(ALL, "none", False, False)
    b["metadata"]["resourceVersion"] = "41"
    late = {"resourceVersion": "42", "finalizers": ["late.comer/x"]}
    client = CountingKube(objects={path: {"metadata": {**b["metadata"], **late}}}, conflicts=1)
    mr = reconcile(tmp_path, b, client)
    assert state.guard(mr.annotations) == "succeeded"
    first, second, *_ = mr_patches(client)
    assert first["resourceVersion"] == "41" and first["finalizers"] == [FINALIZER]
    assert second["resourceVersion"] == "42"
    assert second["finalizers"] == ["late.comer/x", FINALIZER]


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.01)
