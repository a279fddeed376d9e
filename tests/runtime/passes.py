"""Whole passes in process: the real Reconciler over tests' FakeKube and FakeDriver.

The world of a settled poll as the controller sees it: an MR body as a watch event
carries it (managedFields, annotations, later a status), a namespaced ProviderConfig
with a credentials Secret (read through the runtime's cache, disabled: FakeKube serves
them), real workdirs on disk, and a plugin-protocol poller that answers at once and
records what it was asked.  Used by tests/runtime/test_settled_pass.py and by
benchmarks/settled_pass.py.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

from jetgen.runtime import cache, poll, reconciler, state
from jetgen.runtime.config import Credential
from jetgen.runtime.kinds import Field, Kind, ProviderInfo
from jetgen.runtime.metrics import Metrics
from jetgen.runtime.settings import Settings
from jetgen.runtime.terraform.desired import Desired

from tests.runtime.fakes import FakeDriver, FakeKube
from tests.runtime.kinds import thing

NS = "bench"
CONFIG = f"/apis/x.example.org/v1alpha1/namespaces/{NS}/providerconfigs/cfg"
SECRET = f"/api/v1/namespaces/{NS}/secrets/creds"
TOKEN = "not-a-real-token"


class Poller:
    """The plugin-protocol check answering ``verdict`` at once, recording what it got."""

    def __init__(self, verdict: str = poll.UNCHANGED) -> None:
        self.verdict = verdict
        self.seen: list[tuple[bytes | None, Desired]] = []

    async def check(
        self,
        state_data: Any,
        desired: Any,
        *,
        observe_only: bool = False,
        pure_plan: bool = False,
    ) -> str:
        self.seen.append((state_data, desired))
        return self.verdict


def kind() -> Kind:
    return thing(
        {
            "content": Field(tf_name="content", type="string", optional=True),
            "labels": Field(
                tf_name="labels", type="map", optional=True, item=Field(tf_name="", type="string")
            ),
        }
    )


def secret(token: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "creds", "namespace": NS},
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }


def runtime(root: Path) -> tuple[reconciler.Reconciler, FakeKube, Poller]:
    """A reconciler of the Thing kind whose passes poll with a :class:`Poller`."""
    info = ProviderInfo(
        name="x",
        source="example/x",
        version="1.0.0",
        config_group="x.example.org",
        config_version="v1alpha1",
        scope="Namespaced",
        credentials=[Credential(key="token", env="X_TOKEN")],
        kinds=[kind()],
    )
    kube = FakeKube()
    kube.objects[CONFIG] = {
        "metadata": {"name": "cfg", "namespace": NS},
        "spec": {"credentials": {"source": "Secret", "secretRef": {"name": "creds"}}},
    }
    kube.objects[SECRET] = secret(TOKEN)
    poller = Poller()
    rt = reconciler.Runtime(
        settings=Settings(workdir_root=root),
        info=info,
        kube=kube,  # type: ignore[arg-type]
        cache=cache.Cache(kube, enabled=False),  # type: ignore[arg-type]
        driver=FakeDriver(root, "absent"),  # type: ignore[arg-type]
        store=state.StateStore(kube, "default"),  # type: ignore[arg-type]
        metrics=Metrics(),
        poller=poller,  # type: ignore[arg-type]
    )
    rec = reconciler.Reconciler(rt, rt.info.kinds[0])
    rec._event = lambda *_: None  # type: ignore[method-assign]
    return rec, kube, poller


def body(i: int) -> dict[str, Any]:
    """An MR as a watch event carries it: the fields the apiserver adds included."""
    managed = {
        "manager": "kubectl-client-side-apply",
        "operation": "Update",
        "apiVersion": "x.example.org/v1alpha1",
        "time": "2026-12-07T06:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:annotations": {".": {}, "f:example.org/note": {}}},
            "f:spec": {".": {}, "f:forProvider": {".": {}, "f:content": {}, "f:labels": {}}},
        },
    }
    return {
        "apiVersion": "x.example.org/v1alpha1",
        "kind": "Thing",
        "metadata": {
            "name": f"thing-{i:05d}",
            "namespace": NS,
            "uid": f"uid-{i:05d}",
            "generation": 1,
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-12-07T06:00:00Z",
            "finalizers": ["jetgen.dev/finalizer"],
            "annotations": {"example.org/note": "benchmark"},
            "managedFields": [managed, {**managed, "manager": "jetgen", "subresource": "status"}],
        },
        "spec": {
            "providerConfigRef": {"kind": "ProviderConfig", "name": "cfg"},
            "forProvider": {"content": f"content {i}", "labels": {"team": "a", "tier": "b"}},
        },
    }


async def settle(
    rec: reconciler.Reconciler, b: dict[str, Any], memory: reconciler.Memory
) -> dict[str, Any]:
    """The MR's create, then its first settled pass; returns the body its next watch
    event carries."""
    for _ in range(2):
        await rec.run_pass(b, memory)
        b = advance(b, rec)
    return b


def advance(b: dict[str, Any], rec: reconciler.Reconciler) -> dict[str, Any]:
    """The body the next watch event carries: the annotations and status just patched."""
    fake: FakeKube = rec.rt.kube  # type: ignore[assignment]
    new = copy.deepcopy(b)
    meta = new["metadata"]
    for path, patch in fake.patches:
        if not path.endswith(meta["name"]) and not path.endswith(meta["name"] + "/status"):
            continue
        if isinstance(patch, list):  # the status JSON patch
            new["status"] = copy.deepcopy(patch[0]["value"])
        else:
            annotations = patch.get("metadata", {}).get("annotations", {})
            for key, value in annotations.items():
                meta.setdefault("annotations", {})[key] = value
    fake.patches.clear()
    return new
