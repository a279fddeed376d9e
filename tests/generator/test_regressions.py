"""Every input that ever broke the generator, kept under ``regressions/`` and checked.

Cases named ``error-*.json`` must fail with one line naming the file and the JSON path,
exit status 1, and nothing on disk; every other case must generate CRDs that pass the
offline apiserver rules (:mod:`tests.generator.apiserver_rules`), and the e2e test
applies all of them to the test bed's real apiserver and checks they are Established and
that required arguments CEL cannot see are still enforced.  Where a case came from (the
issue's list or a property run) is in docs/generator.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.generator import apiserver_rules
from tests.generator.crds import create, dry_run_examples, install_crds, remove_crds
from tests.generator.inprocess import generate_file

CASES = Path(__file__).resolve().parent / "regressions"
ERRORS = {
    "error-empty-type.json": 'resource_schemas[""]: resource type "" has no letters',
    "error-underscore-type.json": 'resource_schemas._: resource type "_" has no letters',
    "error-json-1200-deep.json": "$: JSON nested too deeply to read",
    "error-min-items-huge.json": "resource_schemas.x_thing.block.block_types.rule: min_items",
    "error-min-over-max.json": "block_types.rule: min_items 3 is greater than max_items 2",
    "error-surrogate-name.json": 'attributes["bad\\ud800"]: name holds a lone surrogate',
    # Found by the long property run: a source address "\ud800" reached the docs index.
    "error-surrogate-source.json": '$.provider_schemas["\\ud800"]: not a provider source address',
    "error-type-400-deep.json": "attributes.name.type[1][1]",
}
VALID = sorted(p.name for p in CASES.glob("*.json") if p.name not in ERRORS)
# Cases whose pydantic models are generated and imported too (they once broke them).
WITH_MODELS = [
    "group-starting-with-digit.json",
    "max-items-int64.json",
    "odd-required-names.json",
    "provider-digit.json",
    "provider-non-ascii.json",
]


def generate(case: str, out: Path, *extra: str, repo: Path | None = None) -> tuple[int, str]:
    if repo is not None:
        extra = (*extra, "--repo", str(repo))
    return generate_file(CASES / case, out, *extra)


def crds_of(out: Path) -> list[dict]:
    found = []
    for path in sorted((out / "install" / "crds").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        (crd,) = yaml.safe_load_all(text)
        assert apiserver_rules.YAML_UNSAFE.search(text) is None, path
        assert apiserver_rules.problems(crd) == [], path
        found.append(crd)
    assert apiserver_rules.group_problems(found) == []
    return found


def test_every_issue_finding_has_a_case():
    assert set(ERRORS) <= {p.name for p in CASES.glob("*.json")}
    assert len(VALID) >= 15


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_case_is_one_clean_line_and_leaves_nothing(tmp_path, case):
    out = tmp_path / "out" / "provider"
    status, stderr = generate(case, out, "--no-models")
    assert status == 1
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"jetgen: error: {CASES / case}: $"), stderr
    assert ERRORS[case] in stderr, stderr
    assert list(tmp_path.iterdir()) == []  # not even an empty output directory


@pytest.mark.parametrize("case", VALID)
def test_valid_case_generates_crds_the_apiserver_accepts(tmp_path, case):
    status, stderr = generate(case, tmp_path / "out", "--no-models")
    assert status == 0, stderr
    assert crds_of(tmp_path / "out")


@pytest.mark.parametrize("case", WITH_MODELS)
def test_models_of_case_import(tmp_path, case):
    out = tmp_path / "out"
    status, stderr = generate(case, out)
    assert status == 0, stderr
    package = next(p for p in out.iterdir() if p.name.endswith("_provider"))
    modules = sorted((package / "models").glob("*.py"))
    code = "import importlib\n" + "".join(
        f"importlib.import_module('{package.name}.models.{m.stem}')\n" for m in modules
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_names_are_valid_and_distinct(tmp_path):
    """Long, odd and clashing type names: valid, distinct kinds; the docs say why."""
    assert generate("long-and-odd-type-names.json", tmp_path / "a", "--no-models")[0] == 0
    kinds = [c["spec"]["names"]["kind"] for c in crds_of(tmp_path / "a")]
    assert len(kinds) == len(set(kinds)) == 8  # 6 resources + 2 ProviderConfig kinds
    pages = "".join(p.read_text() for p in (tmp_path / "a" / "docs").rglob("*.md"))
    assert "Kubernetes allows at most 59 characters" in pages
    assert generate("kind-listkind-clash.json", tmp_path / "b", "--no-models")[0] == 0
    names = {
        (c["spec"]["group"], c["spec"]["names"]["kind"], c["spec"]["names"]["listKind"])
        for c in crds_of(tmp_path / "b")
    }
    assert len(names) == 6
    assert generate("case-and-underscore-clash.json", tmp_path / "c", "--no-models")[0] == 0
    assert len(crds_of(tmp_path / "c")) == 2 + 4
    assert generate("example-path-collision.json", tmp_path / "d", "--no-models")[0] == 0
    assert len(list((tmp_path / "d" / "examples").rglob("*.yaml"))) == 2


def test_provider_names_become_dns_labels(tmp_path):
    for case, name in [
        ("provider-uppercase.json", "prov"),
        ("provider-underscore.json", "p-q"),
        ("provider-digit.json", "p9prov"),
        ("provider-non-ascii.json", "n"),
    ]:
        out = tmp_path / case
        assert generate(case, out, "--no-models")[0] == 0
        crds = crds_of(out)
        assert {c["metadata"]["labels"]["jetgen.dev/provider"] for c in crds} == {name}, case


def test_bounds_are_int64(tmp_path):
    assert generate("max-items-int64.json", tmp_path, "--no-models")[0] == 0
    (crd,) = [c for c in crds_of(tmp_path) if c["spec"]["names"]["kind"] == "Thing"]
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    rule = props["spec"]["properties"]["forProvider"]["properties"]["rule"]
    assert rule["maxItems"] == 2**63 - 1


def test_control_characters_are_escaped_and_read_back(tmp_path):
    assert generate("control-characters.json", tmp_path, "--no-models")[0] == 0
    (crd,) = [c for c in crds_of(tmp_path) if c["spec"]["names"]["kind"] == "Thing"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["description"].startswith("DEL\x7f C1\x80\x9f NEL\x85 LS\u2028 PS\u2029")
    name = schema["properties"]["spec"]["properties"]["forProvider"]["properties"]["name"]
    assert name["description"] == "a\x7fb\x85c\u2028d\u2029e\r\nf\x00"


def test_required_arguments_cel_cannot_see_use_openapi_alternatives(tmp_path):
    assert generate("required-dynamic-and-tuple.json", tmp_path, "--no-models")[0] == 0
    (crd,) = [c for c in crds_of(tmp_path) if c["spec"]["names"]["kind"] == "Setting"]
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = " ".join(r["rule"] for r in spec["x-kubernetes-validations"])
    assert "self.forProvider.label" in rules and "value" not in rules and "pair" not in rules
    required = json.dumps(spec["allOf"])
    for name in ("value", "pair", "anything", "bag"):
        assert f'"required": ["{name}"]' in required


def test_output_naming_a_file_is_a_clean_error(tmp_path):
    schema = "example-path-collision.json"
    existing = tmp_path / "file"
    existing.write_text("keep")
    for out in (existing, existing / "below"):
        status, stderr = generate(schema, out, "--no-models")
        assert status == 1 and len(stderr.splitlines()) == 1, stderr
        assert f"jetgen: error: {out}: {existing} exists and is not a directory" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert existing.read_text() == "keep"


# --- on the real apiserver -----------------------------------------------------------


@pytest.mark.e2e
def test_every_regression_case_is_established_on_the_apiserver(apiserver, tmp_path):
    outs = []
    for i, case in enumerate(VALID):
        repo = tmp_path / f"repo{i}"
        repo.mkdir()
        (repo / "jetgen.yaml").write_text(f"name: ''\ngroupSuffix: r{i}.regressions.test\n")
        out = tmp_path / f"out{i}"
        status, stderr = generate(case, out, "--no-models", repo=repo)
        assert status == 0, f"{case}: {stderr}"
        outs.append((case, out))
    merged = tmp_path / "all"
    (merged / "install" / "crds").mkdir(parents=True)
    for _, out in outs:
        for path in (out / "install" / "crds").glob("*.yaml"):
            (merged / "install" / "crds" / path.name).write_bytes(path.read_bytes())
    names = install_crds(apiserver, merged)
    try:
        namespace = apiserver.create_namespace("regressions")
        for case, out in outs:
            done = dry_run_examples(apiserver, out, namespace)
            assert done.returncode == 0, f"{case}: {done.stderr[-2000:]}"
        index = VALID.index("required-dynamic-and-tuple.json")
        setting = {
            "apiVersion": f"x.m.r{index}.regressions.test/v1alpha1",
            "kind": "Setting",
            "metadata": {"name": "s"},
            "spec": {"forProvider": {"label": "l", "pair": ["a", 1], "anything": [1, "x"]}},
        }
        done = create(apiserver, namespace, setting, check=False)
        assert done.returncode != 0 and "value" in done.stderr  # "value" and "bag" missing
        setting["spec"]["forProvider"].update({"value": {"any": ["json"]}, "bag": {"k": [True]}})
        create(apiserver, namespace, setting)
        setting["metadata"]["name"] = "from-init"
        setting["spec"]["initProvider"] = {"value": 1}
        del setting["spec"]["forProvider"]["value"]
        create(apiserver, namespace, setting)
    finally:
        remove_crds(apiserver, names)
