"""The runtime hooks one private part of kopf (operator.finalizer_from_passes): it must
work on the kopf installed, and refuse to start, with a message, on one that changed it."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from jetgen.runtime import operator
from jetgen.runtime.kinds import Kind
from kopf._core.intents.causes import ChangingCause

FINALIZER = "example.jetgen.io/finalizer"
SERVED = cast(Kind, SimpleNamespace(group="random.example.org", plural="ids"))


def changing_cause(resource: kopf.Resource, body: dict[str, Any]) -> ChangingCause:
    """The cause kopf's processing hands requires_finalizer: kopf's own class."""
    return ChangingCause(
        logger=logging.getLogger("test"),
        indices=cast(Any, {}),
        memo=kopf.Memo(),
        resource=resource,
        patch=kopf.Patch(),
        body=kopf.Body(body),
        initial=False,
        reason=kopf.Reason.NOOP,
    )


def cause(group: str, plural: str, finalizers: list[str]) -> ChangingCause:
    body = {"metadata": {"name": "a", "finalizers": finalizers}}
    return changing_cause(kopf.Resource(group, "v1", plural), body)


def test_a_served_kind_requires_the_finalizer_exactly_when_it_has_it() -> None:
    registry = kopf.OperatorRegistry()
    operator.finalizer_from_passes(registry, [SERVED], FINALIZER)
    asks = registry._changing.requires_finalizer
    assert asks(cause("random.example.org", "ids", [FINALIZER]))
    assert not asks(cause("random.example.org", "ids", []))
    assert not asks(cause("random.example.org", "ids", ["someone.else/finalizer"]))


def test_other_kinds_keep_kopfs_answer() -> None:
    registry = kopf.OperatorRegistry()

    @kopf.on.delete("example.org", "v1", "configs", registry=registry)
    def deleted(**_: Any) -> None:
        return None

    operator.finalizer_from_passes(registry, [SERVED], FINALIZER)
    asks = registry._changing.requires_finalizer
    body = {"metadata": {"name": "a"}, "apiVersion": "example.org/v1", "kind": "Config"}
    # kopf's own answer: a deletion handler matches, so the finalizer is needed.
    assert asks(changing_cause(kopf.Resource("example.org", "v1", "configs"), body))


def test_a_kopf_without_the_private_registry_is_refused_at_start() -> None:
    with pytest.raises(RuntimeError, match=r"kopf .*requires_finalizer.*tested with kopf 1\.45"):
        operator.finalizer_from_passes(cast(Any, SimpleNamespace()), [SERVED], FINALIZER)


def test_a_kopf_whose_private_method_changed_signature_is_refused_at_start() -> None:
    def requires_finalizer(cause: Any) -> bool:
        return False

    changed = SimpleNamespace(_changing=SimpleNamespace(requires_finalizer=requires_finalizer))
    with pytest.raises(RuntimeError, match="requires_finalizer"):
        operator.finalizer_from_passes(cast(Any, changed), [SERVED], FINALIZER)
