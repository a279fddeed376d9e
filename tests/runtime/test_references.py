"""Reference policies (jetgen.runtime.references): pure logic."""

from __future__ import annotations

import pytest
from jetgen.runtime import references
from jetgen.runtime.references import Policy
from jetgen.runtime.resource import ReconcileError


def owned(name: str, uid: str | None, controller: bool = True) -> dict:
    refs = [{"uid": uid, "controller": controller, "kind": "X", "name": "x"}] if uid else []
    return {"metadata": {"name": name, "ownerReferences": refs}}


def test_policy_defaults_are_crossplanes():
    assert references.policy("a.fooRef", None) == Policy("IfNotPresent", "Required")
    assert references.policy("a.fooRef", {}) == Policy("IfNotPresent", "Required")
    got = references.policy("a.fooRef", {"resolve": "Always", "resolution": "Optional"})
    assert got.always and got.optional


@pytest.mark.parametrize(
    "given, field",
    [
        ({"resolve": "Never"}, "a.fooRef.policy.resolve"),
        ({"resolution": "optional"}, "a.fooRef.policy.resolution"),
        ("Always", "a.fooRef.policy"),
    ],
)
def test_policy_refuses_values_the_crd_would(given, field):
    with pytest.raises(ReconcileError, match=field.replace(".", r"\.")):
        references.policy("a.fooRef", given)


def test_if_not_present_resolves_only_without_a_value():
    assert references.needs_resolution(Policy(), None)
    assert not references.needs_resolution(Policy(), "abc")
    assert not references.needs_resolution(Policy(), 0)  # a falsy value is still a value
    assert references.needs_resolution(Policy(resolve="Always"), "abc")


def test_a_name_wins_unless_the_selector_always_selects():
    sel = {"matchLabels": {"a": "b"}}
    assert not references.use_selector({"name": "n"}, sel)
    assert references.use_selector({}, sel)
    assert not references.use_selector({"name": "n"}, {})
    assert references.use_selector({"name": "n"}, {**sel, "policy": {"resolve": "Always"}})


def test_select_picks_the_first_name_deterministically():
    items = [owned("c", None), owned("a", None), owned("b", None)]
    assert references.select(items, False, None)["metadata"]["name"] == "a"
    assert references.select(list(reversed(items)), False, None)["metadata"]["name"] == "a"
    assert references.select([], False, None) is None


def test_match_controller_ref_keeps_only_co_controlled_objects():
    items = [owned("a", "other"), owned("b", "mine"), owned("c", "mine", controller=False)]
    assert references.select(items, True, "mine")["metadata"]["name"] == "b"
    assert references.select(items, True, "nobody") is None
    # An MR without a controller matches nothing (not "all objects without one").
    assert references.select([owned("d", None)], True, None) is None


def test_controller_uid_is_the_controller_owner_only():
    assert references.controller_uid(owned("a", "u1")) == "u1"
    assert references.controller_uid(owned("a", "u1", controller=False)) is None
    assert references.controller_uid({"metadata": {}}) is None
