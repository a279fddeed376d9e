"""Fields named like the contract's own keys survive generate -> kinds.json -> runtime.

kinds.json once dropped every key named ``description`` (so a Terraform argument called
``description`` vanished while the CRD still offered it); the contract now drops
descriptions by attribute, never by key name.
"""

from __future__ import annotations

import json
from pathlib import Path

from jetgen.generator import pipeline
from jetgen.runtime import fields
from jetgen.runtime.config import ProviderConfiguration
from jetgen.runtime.contract import kindsfile
from jetgen.runtime.kinds import KINDS_FILE, ProviderInfo
from jetgen.runtime.terraform.desired import ResourceBlock

# Every key kinds.json itself uses for a field, a kind or the provider.
CONTRACT_WORDS = [
    "description", "name", "type", "fields", "kind", "item", "items", "tf_name", "required",
    "optional", "computed", "sensitive", "mode", "single", "ref", "selector", "group",
    "version", "plural", "scope", "references", "timeouts", "deprecated",
]  # fmt: skip


def _schema() -> dict:
    attributes = {
        word: {"type": "string", "optional": True, "description": f"the {word} argument"}
        for word in CONTRACT_WORDS
    }
    nested = {
        "nesting_mode": "list",
        "block": {"attributes": dict(attributes), "description": "a block named fields"},
    }
    # At the top, "fields" is the nested block (a block and an attribute cannot share a name).
    top = {k: v for k, v in attributes.items() if k != "fields"}
    block = {"attributes": top, "block_types": {"fields": nested}}
    return {
        "format_version": "1.0",
        "provider_schemas": {
            "registry.terraform.io/acme/words": {
                "provider": {"version": 0, "block": {}},
                "resource_schemas": {"words_thing": {"version": 0, "block": block}},
            }
        },
    }


def test_fields_named_like_contract_keys_reach_terraform(tmp_path: Path):
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(_schema()))
    out = tmp_path / "out"
    config = ProviderConfiguration(name="words", version="1.0.0")
    pipeline.generate(out, schema_file, config, models=False, dockerfile=False)

    kinds_file = next(out.rglob(KINDS_FILE))
    info = kindsfile.load(kinds_file)
    (kind,) = info.kinds
    tf_names = {f.tf_name for f in kind.fields.values()}
    assert set(CONTRACT_WORDS) <= tf_names
    nested = next(f for f in kind.fields.values() if f.tf_name == "fields")
    assert set(CONTRACT_WORDS) <= {f.tf_name for f in nested.object_fields().values()}
    assert "the description argument" not in kinds_file.read_text()  # descriptions dropped

    by_tf = {f.tf_name: json_name for json_name, f in kind.fields.items()}
    nested_by_tf = {f.tf_name: json_name for json_name, f in nested.object_fields().items()}
    value = {by_tf[w]: f"v-{w}" for w in CONTRACT_WORDS if w != "fields"}
    item = {nested_by_tf[w]: f"n-{w}" for w in CONTRACT_WORDS}
    value[by_tf["fields"]] = item if nested.single else [item]
    arguments = fields.to_terraform(kind.fields, value)
    doc: dict = {}
    ResourceBlock("words_thing", arguments).write(doc)
    resource = doc["resource"]["words_thing"]["this"]
    for word in CONTRACT_WORDS:
        if word != "fields":
            assert resource[word] == f"v-{word}"
        assert resource["fields"][0][word] == f"n-{word}"


def test_kinds_json_keeps_descriptions_when_asked(tmp_path: Path):
    info = ProviderInfo(
        name="p", source="acme/p", version="1", config_group="p.example.org",
        config_version="v1beta1", scope="Namespaced",
    )  # fmt: skip
    assert kindsfile.loads(kindsfile.dumps(info, descriptions=True)) == info
