"""The jetgen command: preview and repository flows, determinism, errors without output."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jetgen.generator import cli, writer
from jetgen.runtime.contract import kindsfile

from tests.generator.paths import EVERY_SHAPE, LINODE

JETGEN = [sys.executable, "-m", "jetgen.generator.cli"]


def tree(root: Path) -> dict[str, str]:
    """Every file below root with its sha256 (the stamp excluded)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def stat_times(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below root with its inode and modification time: what a rewrite changes."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JETGEN, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def shapes_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shapes") / "out"
    assert cli.main(["generate", "--schema", str(EVERY_SHAPE), "--output", str(out)]) == 0
    return out


def test_preview_layout(shapes_out):
    files = tree(shapes_out)
    crds = [f for f in files if f.startswith("install/crds/")]
    assert sorted(crds) == [
        "install/crds/legacy.shapes.m.jetgen.dev_things.yaml",
        "install/crds/lke.shapes.m.jetgen.dev_clusters.yaml",
        "install/crds/net.shapes.m.jetgen.dev_policies.yaml",
        "install/crds/shapes.m.jetgen.dev_clusterproviderconfigs.yaml",
        "install/crds/shapes.m.jetgen.dev_providerconfigs.yaml",
        "install/crds/shapes.m.jetgen.dev_widgets.yaml",
    ]
    for name in (
        "__init__.py",
        "__main__.py",
        "kinds.json",
        "models/_common.py",
        "models/shapes.py",
        "models/lke.py",
    ):
        assert f"shapes_provider/{name}" in files
    assert "examples/shapes/widget.yaml" in files and "docs/kinds/shapes/widget.md" in files
    assert "docs/kinds/index.md" in files
    for crd in crds:  # one CRD per file, valid YAML
        assert yaml.safe_load((shapes_out / crd).read_text())["kind"] == "CustomResourceDefinition"


def test_kinds_json_loads_in_the_runtime_without_descriptions(shapes_out):
    info = kindsfile.load(shapes_out / "shapes_provider" / "kinds.json")
    assert [k.kind for k in info.kinds] == ["Thing", "Cluster", "Policy", "Widget"]
    assert "description" not in (shapes_out / "shapes_provider" / "kinds.json").read_text()
    widget = info.kinds[-1]
    assert widget.fields["settings"].single and widget.fields["settings"].mode == "set"


def test_generated_models_validate_the_examples(shapes_out):
    code = (
        "import sys, yaml; sys.path.insert(0, sys.argv[1]);"
        "from shapes_provider.models.shapes import Widget;"
        "from shapes_provider.models.lke import Cluster;"
        "w = Widget.model_validate(yaml.safe_load(open(sys.argv[2])));"
        "print(w.spec.forProvider.settings.mode, w.spec.forProvider.in_)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(shapes_out),
            str(shapes_out / "examples/shapes/widget.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["example", "None"]


def test_generated_python_is_ruff_clean(shapes_out):
    package = str(shapes_out / "shapes_provider")
    ruff = [sys.executable, "-m", "ruff"]
    for command in (
        [*ruff, "format", "--check", "--isolated", "--line-length", "100", package],
        # Imports sorted, no unused names (long description strings are allowed).
        [*ruff, "check", "--isolated", "--select", "F,I", package],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_doc_page_lists_fields_and_secret_keys(shapes_out):
    page = (shapes_out / "docs/kinds/shapes/widget.md").read_text()
    assert "| `passwordSecretRef` | Secret key reference | yes |" in page
    assert "`attribute.token`" in page
    assert (
        "`attribute.deep.level2.<index>.level3.<index>.level4.<key>.level5.level6.<index>.secret`"
        in page
    )
    assert "| `rule[].action` | string | yes |" in page
    assert "*write-only*" in page and "Deprecated. Use name." in page


def test_deterministic_byte_identical_output(tmp_path, shapes_out):
    again = tmp_path / "again"
    assert cli.main(["generate", "--schema", str(EVERY_SHAPE), "--output", str(again)]) == 0
    assert tree(again) == tree(shapes_out)


def test_rerun_is_a_no_op_and_repairs_tampering(tmp_path):
    """On the small every-shape schema: what is checked (the stamp, the outputs' hashes)
    does not depend on the schema's size, and linode took three full generations."""
    out = tmp_path / "out"
    assert run("generate", "--schema", str(EVERY_SHAPE), "--output", str(out)).returncode == 0
    before = tree(out)
    written = stat_times(out)
    done = run("generate", "--schema", str(EVERY_SHAPE), "--output", str(out), "--timings")
    assert done.returncode == 0 and "up to date" in done.stdout
    # A no-op: no phase ran (--timings lists none: the schema was not even parsed) and no
    # file was written again. (Not a wall-clock bound: that failed under load.)
    assert done.stdout.strip() == f"{out}: up to date"
    assert stat_times(out) == written
    victim = out / "install/crds/lke.shapes.m.jetgen.dev_clusters.yaml"
    victim.write_text("tampered")
    done = run("generate", "--schema", str(EVERY_SHAPE), "--output", str(out))
    assert "up to date" not in done.stdout
    assert tree(out) == before


def test_no_temporary_directories_left(shapes_out):
    assert not list(shapes_out.glob(".jetgen-tmp-*"))


# --- errors ---------------------------------------------------------------------------


def bad_schema(tmp_path: Path) -> Path:
    doc = json.loads(EVERY_SHAPE.read_text())
    resources = doc["provider_schemas"]["registry.terraform.io/example/shapes"]["resource_schemas"]
    resources["shapes_widget"]["block"]["attributes"]["name"]["type"] = "foo"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(doc))
    return path


def test_unknown_type_error_names_file_and_path_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    done = run("generate", "--schema", str(bad_schema(tmp_path)), "--output", str(out))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f'jetgen: error: {tmp_path}/schema.json: $.provider_schemas["registry.terraform.io/'
        'example/shapes"].resource_schemas.shapes_widget.block.attributes.name.type:'
        ' unknown type "foo"'
    )
    assert not out.exists() or not any(out.iterdir())


def test_failed_regeneration_keeps_previous_output(tmp_path, shapes_out):
    out = tmp_path / "out"
    assert cli.main(["generate", "--schema", str(EVERY_SHAPE), "--output", str(out)]) == 0
    before = tree(out)
    done = run("generate", "--schema", str(bad_schema(tmp_path)), "--output", str(out))
    assert done.returncode == 1
    assert tree(out) == before and not list(out.glob(".jetgen-tmp-*"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format_version": "2.0", "provider_schemas": {}}', "$.format_version: unsupported"),
        ('{"format_version": "1.0", "provider_schemas": {}}', "expected exactly one provider"),
    ],
)
def test_bad_schema_files(tmp_path, content, message):
    path = tmp_path / "s.json"
    path.write_text(content)
    done = run("generate", "--schema", str(path), "--output", str(tmp_path / "out"))
    assert done.returncode == 1
    assert str(path) in done.stderr and message in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_config_naming_missing_resource(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "jetgen.yaml").write_text("name: shapes\nresources:\n  shapes_nope: {}\n")
    done = run("generate", "--schema", str(EVERY_SHAPE), cwd=repo)
    assert done.returncode == 1
    assert "jetgen.yaml: resources.shapes_nope: no such resource" in done.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["jetgen.yaml"]


def test_config_unknown_field(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "jetgen.yaml").write_text("name: shapes\nresources:\n  shapes_widget: {colour: x}\n")
    done = run("generate", "--schema", str(EVERY_SHAPE), cwd=repo)
    assert done.returncode == 1 and "resources.shapes_widget.colour: unknown field" in done.stderr


@pytest.mark.parametrize("value", ['"true"', "1", "[true]", "{on: true}", '"x\\ny"'])
def test_config_pure_plan_not_a_bool(tmp_path, value):
    repo = tmp_path / "repo"
    repo.mkdir()
    text = f"name: shapes\nresources:\n  shapes_widget: {{purePlan: {value}}}\n"
    (repo / "jetgen.yaml").write_text(text)
    done = run("generate", "--schema", str(EVERY_SHAPE), cwd=repo)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "jetgen.yaml: resources.shapes_widget.purePlan: " in line, line
    assert line.endswith("is not true or false")
    assert sorted(p.name for p in repo.iterdir()) == ["jetgen.yaml"]


def test_a_pure_plan_kind_says_so_on_its_page_and_only_it(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "jetgen.yaml").write_text(
        "name: shapes\nresources:\n  shapes_widget: {purePlan: true}\n"
    )
    done = run("generate", "--schema", str(EVERY_SHAPE), cwd=repo)
    assert done.returncode == 0, done.stderr
    pages = {
        p.relative_to(repo / "docs/kinds").as_posix(): p.read_text()
        for p in (repo / "docs/kinds").rglob("*.md")
    }
    saying = sorted(name for name, text in pages.items() if "(`purePlan`)" in text)
    assert saying == ["shapes/widget.md"]


def test_no_repository_and_no_schema(tmp_path):
    done = run("generate", cwd=tmp_path)
    assert done.returncode == 1 and "jetgen.yaml: not found" in done.stderr


# --- provider repository --------------------------------------------------------------


def test_new_then_generate_linode(tmp_path):
    # The linode provider binary is not obtainable here: its schema comes as a file.
    done = run("new", "linode", "--version", "2.37.0", "--schema", str(LINODE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    repo = tmp_path / "provider-linode"
    assert (repo / "schema.json").read_bytes() == LINODE.read_bytes()
    config = yaml.safe_load((repo / "jetgen.yaml").read_text())
    assert config["source"] == "linode/linode" and config["version"] == "2.37.0"
    assert config["hooksModule"] == "config"
    for name in (
        "README.md",
        ".gitignore",
        "pyproject.toml",
        "Makefile",
        "config/__init__.py",
        ".github/workflows/ci.yml",
    ):
        assert (repo / name).is_file(), name
    # A hook adds a connection detail; the generated docs and kinds.json must show it.
    (repo / "config/__init__.py").write_text(
        "from jetgen.runtime.config import ConnectionDetail\n\n\n"
        "def configure(config):\n"
        "    config.resource('linode_lke_cluster').connection_details.append(\n"
        "        ConnectionDetail(key='kubeconfig', attribute='kubeconfig',"
        " transform='base64decode'))\n"
    )
    done = run("generate", "--no-models", cwd=repo)
    assert done.returncode == 0, done.stderr
    info = kindsfile.load(repo / "linode_provider/kinds.json")
    cluster = next(k for k in info.kinds if k.terraform_type == "linode_lke_cluster")
    assert cluster.connection_details[0].key == "kubeconfig"
    assert info.hooks_module == "config" and info.credentials[-1].argument == "token"
    assert info.source == "linode/linode" and info.version == "2.37.0"
    # The image recipe belongs to the repository's generated files.
    assert "linode/linode" in (repo / "Dockerfile").read_text()
    page = (repo / "docs/kinds/lke/cluster.md").read_text()
    assert "| `kubeconfig` | attribute `kubeconfig` (base64decode) |" in page
    assert "| `attribute.kubeconfig` |" in page
    assert "up to date" in run("generate", "--no-models", cwd=repo).stdout
    # Changing the hooks is a change of input.
    hooks = repo / "config/__init__.py"
    hooks.write_text(hooks.read_text().replace("'kubeconfig',", "'kc',", 1))
    assert "up to date" not in run("generate", "--no-models", cwd=repo).stdout


def test_new_refuses_existing_directory(tmp_path):
    (tmp_path / "provider-x").mkdir()
    done = run("new", "x", cwd=tmp_path)
    assert done.returncode == 1 and "already exists" in done.stderr


def test_stamp_lists_outputs(tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(["generate", "--schema", str(EVERY_SHAPE), "--output", str(out), "--no-models"])
        == 0
    )
    stamp = json.loads((out / writer.STAMP_FILE).read_text())
    assert set(stamp["outputs"]) == set(tree(out)) - {writer.STAMP_FILE}
    assert os.path.exists(out / "shapes_provider" / "kinds.json")


def test_every_linode_example_validates_against_its_model(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["generate", "--schema", str(LINODE), "--output", str(out)]) == 0
    code = """
import importlib, sys, yaml
from pathlib import Path
from jetgen.generator.pymodels import module_names
from jetgen.runtime.contract import kindsfile
root = Path(sys.argv[1])
sys.path.insert(0, str(root))
info = kindsfile.load(root / "linode_provider" / "kinds.json")
modules = module_names(info)
for kind in info.kinds:
    module = importlib.import_module("linode_provider.models." + modules[kind.group])
    path = root / "examples" / kind.group.split(".")[0]
    matches = [p for p in path.glob("*.yaml") if yaml.safe_load(p.read_text())["kind"] == kind.kind]
    assert len(matches) == 1, kind.kind
    getattr(module, kind.kind).model_validate(yaml.safe_load(matches[0].read_text()))
print(len(info.kinds))
"""
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "38"


def big_schema(tmp_path: Path, count: int, description: str, name_length: int = 8) -> Path:
    attributes = {
        f"attr_{i}".ljust(name_length, "x"): {
            "type": "string",
            "optional": True,
            "description": description,
        }
        for i in range(count)
    }
    doc = {
        "format_version": "1.0",
        "provider_schemas": {
            "registry.terraform.io/example/big": {
                "resource_schemas": {"big_thing": {"block": {"attributes": attributes}}}
            }
        },
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    return path


def test_crd_over_the_size_limit_is_shrunk_and_reported(tmp_path):
    """Regression: a CRD over the apiserver's limit only warned (and was written whole)."""
    path = big_schema(tmp_path, 600, "x" * 1000)  # 1.8 MB of descriptions
    done = run("generate", "--schema", str(path), "--output", str(tmp_path / "a"), "--no-models")
    assert done.returncode == 0, done.stderr
    assert "things.big.m.jetgen.dev: the CRD was 1.80 MiB" in done.stderr
    assert "descriptions were left out" in done.stderr
    crd = tmp_path / "a/install/crds/big.m.jetgen.dev_things.yaml"
    assert crd.stat().st_size < 300_000 and "x" * 1000 not in crd.read_text()
    page = (tmp_path / "a/docs/kinds/big/thing.md").read_text()
    assert "descriptions were left out" in page
    done = run(
        "generate",
        "--schema",
        str(path),
        "--output",
        str(tmp_path / "b"),
        "--no-models",
        "--trim-descriptions",
    )
    assert done.returncode == 0 and "warning" not in done.stderr


def test_crd_over_the_size_limit_fails_by_option(tmp_path):
    path = big_schema(tmp_path, 600, "x" * 1000)
    out = tmp_path / "out"
    done = run("generate", "--schema", str(path), "--output", str(out), "--oversize", "fail")
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert f"{path}: $.provider_schemas" in done.stderr
    assert "resource_schemas.big_thing: the CRD things.big.m.jetgen.dev is 1.80 MiB" in done.stderr
    assert not out.exists()


def test_crd_too_large_even_without_descriptions_fails(tmp_path):
    path = big_schema(tmp_path, 2500, "", name_length=200)
    out = tmp_path / "out"
    done = run("generate", "--schema", str(path), "--output", str(out), "--no-models")
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert "even without descriptions" in done.stderr
    assert not out.exists()


def test_failing_hook_is_reported_with_the_file(tmp_path):
    repo = tmp_path / "repo"
    (repo / "hooks_x").mkdir(parents=True)
    (repo / "jetgen.yaml").write_text("name: shapes\nhooksModule: hooks_x\n")
    (repo / "hooks_x/__init__.py").write_text("def configure(config):\n    raise KeyError('k')\n")
    done = run("generate", "--schema", str(EVERY_SHAPE), cwd=repo)
    assert done.returncode == 1
    assert "jetgen.yaml: hooks_module 'hooks_x': configure() failed: KeyError: 'k'" in done.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["hooks_x", "jetgen.yaml"]


def test_selecting_nothing_warns(tmp_path):
    out = tmp_path / "out"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "jetgen.yaml").write_text("name: shapes\ninclude: [nothing_*]\n")
    done = run("generate", "--schema", str(EVERY_SHAPE), "--output", str(out), cwd=repo)
    assert done.returncode == 0
    assert "select no resource type" in done.stderr
    assert sorted(p.name for p in (out / "install/crds").iterdir()) == [
        "shapes.m.jetgen.dev_clusterproviderconfigs.yaml",
        "shapes.m.jetgen.dev_providerconfigs.yaml",
    ]
