"""Name fields of generated CRDs carry the runtime's own rules (jetgen.runtime.names)."""

from __future__ import annotations

import re

from jetgen.generator import openapi
from jetgen.runtime import names


def test_secret_refs_references_and_selectors_carry_the_rules():
    ref = openapi.secret_ref_schema("d", with_key=True, with_namespace=True)["properties"]
    assert ref["name"]["pattern"] == names.OBJECT_NAME.pattern
    assert ref["name"]["maxLength"] == 253
    assert ref["key"]["pattern"] == names.SECRET_KEY.pattern
    assert ref["namespace"]["maxLength"] == 63
    assert (
        openapi.reference_schema("d")["properties"]["name"]["pattern"] == names.OBJECT_NAME.pattern
    )
    for namespaced in (True, False):
        config_ref = openapi.provider_config_ref(namespaced)["properties"]["name"]
        assert config_ref["pattern"] == names.OBJECT_NAME.pattern


def test_selector_keys_by_cel_except_below_lists():
    labels = openapi.selector_schema("d")["properties"]["matchLabels"]
    assert labels["additionalProperties"]["pattern"] == names.LABEL_VALUE.pattern
    (rule,) = labels["x-kubernetes-validations"]
    # The CEL literal holds the same pattern, backslashes escaped for CEL.
    literal = re.search(r"matches\('(.*)'\)\)$", rule["rule"]).group(1)
    assert literal.replace("\\\\", "\\") == names.LABEL_KEY.pattern
    # Below a list the rule's estimated cost is unbounded: the runtime checks keys there.
    below = openapi.selector_schema("d", key_rule=False)["properties"]["matchLabels"]
    assert "x-kubernetes-validations" not in below
    assert below["additionalProperties"]["pattern"] == names.LABEL_VALUE.pattern
