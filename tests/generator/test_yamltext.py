"""The YAML writer: everything it writes reads back identically with PyYAML."""

from __future__ import annotations

import pytest
import yaml
from jetgen.generator import crds, examples, model, schema, yamltext
from jetgen.runtime.config import ProviderConfiguration

from tests.generator.paths import EVERY_SHAPE, LINODE

TRICKY = [
    "",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "~",
    "1",
    "1.5",
    "0x1",
    "1e3",
    "-",
    "- a",
    "a b",
    "a: b",
    "a:b",
    "#x",
    "x #y",
    "*",
    "&a",
    "!x",
    "%x",
    "@x",
    "`x",
    "'q'",
    'q"x',
    "é ünï",
    "multi\nline",
    "  lead",
    "trail ",
    " ",
    "2021-01-01",
    "<<",
    "=",
    "x-kubernetes-preserve-unknown-fields",
    "/path",
    ".5",
    "_a",
    "a/b",
    "[x]",
    "{x}",
    "?",
    "tab\there",
    "\u0007bell",
]


@pytest.mark.parametrize("text", TRICKY)
def test_strings_round_trip(text):
    data = {text: [text, {text: text}]} if text else {"k": [text]}
    assert yaml.safe_load(yamltext.dumps(data)) == data


def test_structures_round_trip():
    data = {
        "a": [{"x": 1, "y": [{}, []]}, [1, [2, {"k": None}]], True, 1.5, -3, 1e100, 0.1],
        "b": {},
        "c": [],
        "d": [{"e": {"f": [1]}}],
        "g": [[[]]],
    }
    assert yaml.safe_load(yamltext.dumps(data)) == data


def test_block_style_output():
    assert yamltext.dumps({"a": {"b": [1, {"c": "d", "e": "f"}]}}) == (
        "a:\n  b:\n    - 1\n    - c: d\n      e: f\n"
    )


@pytest.mark.parametrize("path", [EVERY_SHAPE, LINODE], ids=["every-shape", "linode"])
def test_generated_documents_round_trip(path):
    info = model.build(schema.load(path), ProviderConfiguration(name=""))
    documents = [crds.managed_crd(k, info) for k in info.kinds]
    documents += crds.provider_config_crds(info) + [examples.example(k) for k in info.kinds]
    for document in documents:
        assert yaml.load(yamltext.dumps(document), Loader=yaml.CSafeLoader) == document
