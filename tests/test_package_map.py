"""The top-level folders map onto ``jetgen.*`` completely (pyproject.toml).

setuptools installs only the packages ``[tool.setuptools] packages`` lists; an editable
install finds an unlisted subpackage anyway (it maps the whole folder), so a forgotten
one would work in every checkout and be missing from every wheel and image. The check
compares the list with the folders on disk, both ways, and runs on the repository and on
made-up trees that break it each way.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def folder_of(root: Path, package: str, package_dir: dict[str, str]) -> Path:
    """The folder setuptools takes ``package`` from: the longest mapped prefix, then the
    remaining parts as subfolders (setuptools' own rule)."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in package_dir:
            return root / package_dir[prefix] / Path(*parts[cut:])
    return root / Path(*parts)


def packages_on_disk(root: Path, package_dir: dict[str, str]) -> dict[str, Path]:
    """Every folder under a mapped folder that holds Python code, by the import name it
    gets; folders of data only (templates/scaffold) are package data, not packages."""
    found: dict[str, Path] = {}
    for name, folder in package_dir.items():
        base = root / folder
        for code in base.rglob("*.py"):
            relative = code.parent.relative_to(base)
            if "__pycache__" not in relative.parts:
                found[".".join([name, *relative.parts])] = code.parent
    return found


def mapping_problems(root: Path) -> list[str]:
    """What is wrong with the package list of ``root/pyproject.toml``; empty when none."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = setuptools["package-dir"]
    listed: list[str] = setuptools["packages"]
    on_disk = packages_on_disk(root, package_dir)
    problems = [f"{p}: on disk but not in packages" for p in sorted(set(on_disk) - set(listed))]
    for package in listed:
        folder = folder_of(root, package, package_dir)
        if not (folder / "__init__.py").is_file():
            problems.append(
                f"{package}: listed but {folder.relative_to(root)}/__init__.py is missing"
            )
    if len(listed) != len(set(listed)):
        problems.append("packages lists a package twice")
    return problems


def test_every_package_on_disk_is_listed_and_every_listed_one_exists():
    assert mapping_problems(ROOT) == []


def test_the_four_top_level_folders_are_the_mapping():
    """generator/, templates/, runtime/ and jetgen/ are the project's layout (the design
    asked for these folders); each maps onto its jetgen.* name."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {
        "jetgen": "jetgen",
        "jetgen.generator": "generator",
        "jetgen.runtime": "runtime",
        "jetgen.templates": "templates",
    }


@pytest.mark.parametrize(
    ("files", "listed", "problem"),
    [
        (
            ["runtime/__init__.py", "runtime/tfplugin/__init__.py", "runtime/tfplugin/rpc.py"],
            ["jetgen.runtime"],
            "jetgen.runtime.tfplugin: on disk but not in packages",
        ),
        (
            ["runtime/__init__.py", "runtime/tfplugin/client.py"],  # no __init__.py yet
            ["jetgen.runtime"],
            "jetgen.runtime.tfplugin: on disk but not in packages",
        ),
        (
            ["runtime/__init__.py"],
            ["jetgen.runtime", "jetgen.runtime.gone"],
            "jetgen.runtime.gone: listed but runtime/gone/__init__.py is missing",
        ),
        (
            ["runtime/__init__.py"],
            ["jetgen.runtime", "jetgen.runtime"],
            "packages lists a package twice",
        ),
    ],
)
def test_the_check_notices_an_unlisted_or_a_missing_package(tmp_path, files, listed, problem):
    for path in files:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    (tmp_path / "templates" / "scaffold").mkdir(parents=True)
    (tmp_path / "templates" / "scaffold" / "Makefile.j2").write_text("")  # data, not code
    packages = ", ".join(f'"{p}"' for p in listed)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.setuptools]\n"
        'package-dir = {"jetgen.runtime" = "runtime", "jetgen.templates" = "templates"}\n'
        f"packages = [{packages}]\n"
    )
    assert mapping_problems(tmp_path) == [problem]
