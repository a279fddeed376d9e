"""The README's install and quick start, run exactly as written, on fresh venvs.

The commands are read from README.md's quick-start block, so this fails when the README
drifts from what works. No package index serves jetgen: the checkout is a copy of this
working tree (as a git repository, so the git-URL install is tried too). The test bed
provides tofu, its provider mirror (linode/linode 2.37.0) and kubectl; PyPI provides
jetgen's dependencies. Then the scaffolded repository's `make generate test`, `make
wheels`, and the Dockerfile's own pip install line, run into a fresh venv as the image
build would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK_START = "## Install and quick start for a provider author"


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """The first ``sh`` block after the quick-start heading, comments and blanks left out."""
    text = readme.read_text()
    section = text[text.index(QUICK_START) :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README.md: no sh block in the quick start"
    commands = []
    for line in block.group(1).splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()  # a comment after two spaces
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def test_readme_block_parses():
    commands = readme_commands()
    assert commands[0].startswith("python3 -m venv")
    assert any(c.startswith("pip install './jetgen[generator]'") for c in commands)
    assert "make test" in commands


def test_getting_started_install_and_generate_are_the_readme_commands():
    """docs/getting-started.md steps 1 and 3 say what the README's tested block runs."""
    text = (ROOT / "docs/getting-started.md").read_text()
    readme = readme_commands()
    for step in ("## 1. ", "## 3. "):
        section = text[text.index(step) :]
        block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
        assert block, step
        for line in block.group(1).splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                assert command in readme, f"getting-started {step}: {command!r} is untested"


def checkout(target: Path) -> Path:
    """The working tree's tracked and new files, as a fresh git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (name.decode() for name in listed)):
        source = ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run([*git, *args], cwd=target, check=True, capture_output=True)
    return target


def sh(script: str, cwd: Path, env: dict[str, str], timeout: int = 900):
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def bed_env(testbed) -> dict[str, str]:
    """tofu, terraform and kubectl of the test bed on PATH; providers from its mirror."""
    env = testbed.tf_env()
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "JETGEN_TERRAFORM"):
        env.pop(name, None)
    path = [p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix)]
    env["PATH"] = os.pathsep.join([str(testbed.tofu.parent), *path])
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.e2e
def test_readme_quick_start_then_the_image_install_step(tmp_path, bed_env):
    checkout(tmp_path / "jetgen")
    commands = readme_commands()
    done = sh("set -x\n" + "\n".join(commands), tmp_path, bed_env)
    assert done.returncode == 0, done.stderr[-4000:]
    repo = tmp_path / "provider-linode"
    out = done.stdout
    assert "created provider-linode" in out
    assert re.search(r"^\.: \d+ kinds, \d+ files$", out, re.MULTILINE), out
    # The credentials came from the schema tofu obtained through the mirror.
    assert "key: token" in (repo / "jetgen.yaml").read_text()
    assert (repo / "schema.json").is_file() and "/schema.json" in (repo / ".gitignore").read_text()
    wheels = list((repo / "build/wheels").glob("jetgen-*-py3-none-any.whl"))
    assert len(wheels) == 1, out

    # Offline afterwards: the stored schema serves every later command.
    offline = dict(bed_env, JETGEN_TERRAFORM="/nonexistent/tofu")
    again = sh(". ../.venv/bin/activate && make generate test", repo, offline)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "up to date" in again.stdout

    # The image's Python install step, as the generated Dockerfile runs it in /src.
    dockerfile = (repo / "Dockerfile").read_text()
    joined = dockerfile.replace("\\\n", " ")  # continuation lines, as the builder reads them
    install = re.search(r"^RUN (/opt/venv/bin/pip install .*)$", joined, re.MULTILINE)
    assert install, "Dockerfile: no pip install step"
    assert "--no-index" in install.group(1)  # offline: everything from build/wheels
    assert "COPY build/wheels build/wheels" in dockerfile
    image_venv = tmp_path / "opt-venv"
    venv.create(image_venv, with_pip=True)
    step = install.group(1).replace("/opt/venv", str(image_venv))
    built = sh(step, repo, bed_env)
    assert built.returncode == 0, built.stderr[-3000:]
    check = (
        "import jetgen.runtime.cli, linode_provider;"
        "from jetgen.runtime.cli import load; load(linode_provider.KINDS_FILE)"
    )
    loaded = sh(f"{image_venv}/bin/python -c '{check}'", tmp_path, bed_env)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    # The runtime alone: the image has no generator extra, and its jetgen says so.
    runtime_only = sh(f"{image_venv}/bin/jetgen --help", tmp_path, bed_env)
    assert runtime_only.returncode == 1 and runtime_only.stderr.count("\n") == 1
    assert "generator extra is not installed" in runtime_only.stderr
    assert "Traceback" not in runtime_only.stderr


@pytest.mark.e2e
def test_git_url_install_is_runtime_only_and_says_which_extra(tmp_path, bed_env):
    jetgen = checkout(tmp_path / "jetgen")
    place = tmp_path / "venv"
    venv.create(place, with_pip=True)
    url = f"git+file://{jetgen}"
    # pip before 24 refuses a git+file:// requirement (a git+https:// one works).
    pip = f"{place}/bin/pip install --quiet"
    done = sh(f"{pip} --upgrade pip && {pip} 'jetgen @ {url}'", tmp_path, bed_env)
    assert done.returncode == 0, done.stderr[-3000:]
    for args in ("--help", "generate"):
        shown = sh(f"{place}/bin/jetgen {args} || echo status=$?", tmp_path, bed_env)
        assert shown.stdout == "status=1\n" and shown.stderr.count("\n") == 1, shown
        assert f"pip install 'jetgen[generator] @ {url}@" in shown.stderr
    # A wheel of it, repacked from the installed files (no source, no network needed).
    wheel = sh(f"{place}/bin/jetgen wheel wheels", tmp_path, bed_env)
    assert wheel.returncode == 0, wheel.stderr
    target = tmp_path / "target"
    unpacked = sh(
        f"{place}/bin/pip install --quiet --no-deps --target {target} wheels/jetgen-*.whl",
        tmp_path,
        bed_env,
    )
    assert unpacked.returncode == 0, unpacked.stderr
    assert (target / "jetgen/generator/cli.py").is_file()
    assert (target / "jetgen/templates/Dockerfile.j2").is_file()
