"""`make lint` fails on a broken layer and on a type error (scripts/lint, docs/architecture.md).

Each test runs the real tool, with the repository's configuration, on a copy of the
packages' link tree holding one deliberate mistake: a configuration that quietly stopped
checking (a contract naming no module, a package mypy no longer finds) would pass
`make lint` and fail here.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def lint_script() -> ModuleType:
    path = REPO / "scripts" / "lint"
    loader = importlib.machinery.SourceFileLoader("jetgen_lint_script", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def link_tree(root: Path) -> Path:
    lint = lint_script()
    lint.build_tree(lint.package_dirs(), root)
    return root


def with_module(tree: Path, package: str, name: str, text: str) -> None:
    """Write a module into a linked package (which becomes a folder of links, so the
    repository is untouched); an existing module's link is replaced."""
    folder = tree / package.replace(".", "/")
    if folder.is_symlink():
        real = folder.resolve()
        folder.unlink()
        folder.mkdir()
        for entry in real.iterdir():
            (folder / entry.name).symlink_to(entry)
    module = folder / f"{name}.py"
    module.unlink(missing_ok=True)
    module.write_text(text)


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "lint-imports"), "--no-logo", "--no-cache", str(REPO / "pyproject.toml")]
    return subprocess.run(argv, cwd=tree, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold_on_the_unchanged_tree(tmp_path: Path) -> None:
    result = lint_imports(link_tree(tmp_path / "tree"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " BROKEN" not in result.stdout
    assert "0 broken" in result.stdout


def test_a_runtime_module_importing_the_generator_breaks_a_contract(tmp_path: Path) -> None:
    tree = link_tree(tmp_path / "tree")
    with_module(tree, "jetgen.runtime", "sneaky", "import jetgen.generator.crds\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout
    assert (
        "the runtime never imports the generator, the templates or their dependencies BROKEN"
        in result.stdout
    )
    assert "jetgen.runtime.sneaky -> jetgen.generator.crds" in result.stdout


def test_an_emitter_importing_another_breaks_the_generator_layers(tmp_path: Path) -> None:
    tree = link_tree(tmp_path / "tree")
    docs = (REPO / "generator" / "docs.py").read_text()
    with_module(
        tree, "jetgen.generator", "docs", docs + "\nfrom jetgen.generator import pymodels\n"
    )
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout
    assert "generator: cli -> pipeline -> emitters" in result.stdout
    assert "jetgen.generator.docs -> jetgen.generator.pymodels" in result.stdout


def test_a_field_of_a_type_no_code_handles_is_a_type_error(tmp_path: Path) -> None:
    tree = link_tree(tmp_path / "tree")
    (tmp_path / "bad.py").write_text(
        "from jetgen.runtime.kinds import Field\n\n"
        'FIELD = Field(tf_name="interface", type="array")\n'
    )
    argv = [str(BIN / "mypy"), "--strict", "--follow-imports=silent", "--no-incremental"]
    result = subprocess.run(
        [*argv, "bad.py"],
        cwd=tmp_path,
        env={"MYPYPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout
    assert 'bad.py:3: error: Argument "type" to "Field" has incompatible type' in result.stdout
    assert "Literal['array']" in result.stdout
