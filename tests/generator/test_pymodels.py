"""Model generation: schema sharing, naming, and output independent of parallelism."""

from __future__ import annotations

import hashlib

from jetgen.generator import crds, model, pymodels, schema
from jetgen.runtime.config import ProviderConfiguration

from tests.generator.paths import EVERY_SHAPE


def test_output_does_not_depend_on_the_number_of_processes(tmp_path):
    info = model.build(schema.load(EVERY_SHAPE), ProviderConfiguration(name=""))
    crd_of = {k.terraform_type: crds.managed_crd(k, info) for k in info.kinds}
    results = []
    for jobs in (1, 3):
        out = tmp_path / str(jobs)
        pymodels.ModelRun(info, crd_of, jobs=jobs).finish(out)
        results.append({p.name: hashlib.sha256(p.read_bytes()).digest() for p in out.iterdir()})
    assert results[0] == results[1]
    assert sorted(results[0]) == [
        "__init__.py",
        "_common.py",
        "legacy.py",
        "lke.py",
        "net.py",
        "shapes.py",
    ]


def test_equal_shapes_share_one_class_and_kinds_keep_their_names():
    spec = {"type": "object", "properties": {"a": {"type": "string"}}, "description": "x"}
    kind_a = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "forProvider": {
                        "type": "object",
                        "properties": {"one": spec, "two": dict(spec, description="y")},
                    }
                },
            },
        },
    }
    kind_b = kind_a  # identical schema: both kinds still get their own classes
    out = pymodels.group_schema("Net", {"A": kind_a, "B": kind_b}, common={})
    defs = out["$defs"]
    assert {"A", "ASpec", "AParameters", "B", "BSpec", "BParameters", "OneParameters"} <= set(defs)
    assert "TwoParameters" not in defs  # same shape as "one": shared, descriptions kept
    props = defs["AParameters"]["properties"]
    assert props["two"] == {"$ref": "#/$defs/OneParameters", "description": "y"}
    assert out["title"] == "NetGroup"
