"""The empty diff base: kopf stores no copy of the spec, and removes an old one."""

from __future__ import annotations

import kopf
from jetgen.runtime.diffbase import EmptyDiffBase

OLD = "jetgen.dev/last-handled-configuration"


def body(annotations: dict[str, str] | None = None) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "x.example/v1",
            "kind": "Thing",
            "metadata": {"name": "a", "annotations": annotations or {}},
            "spec": {"forProvider": {"content": "x" * 10_000}},
        }
    )


def test_the_essence_is_empty_whatever_the_object_holds() -> None:
    storage = EmptyDiffBase(prefix="jetgen.dev")
    obj = body({"crossplane.io/paused": "true"})
    assert storage.build(body=obj) == {}
    assert storage.fetch(body=obj) == {}  # so kopf sees no change and stores nothing


def test_store_writes_nothing_on_a_clean_object() -> None:
    storage = EmptyDiffBase(prefix="jetgen.dev")
    patch = kopf.Patch()
    storage.store(body=body(), patch=patch, essence=storage.build(body=body()))
    assert dict(patch) == {}


def test_an_old_diff_base_is_reported_missing_then_removed_by_the_patch() -> None:
    storage = EmptyDiffBase(prefix="jetgen.dev")
    obj = body({OLD: '{"spec":{}}', "other": "kept"})
    assert storage.fetch(body=obj) is None  # kopf then calls store()
    patch = kopf.Patch()
    storage.store(body=obj, patch=patch, essence=storage.build(body=obj))
    assert dict(patch) == {"metadata": {"annotations": {OLD: None}}}


def test_another_prefix_is_left_alone() -> None:
    storage = EmptyDiffBase(prefix="jetgen.dev")
    obj = body({"kopf.zalando.org/last-handled-configuration": "{}"})
    assert storage.fetch(body=obj) == {}
