"""The jetgen command as a newcomer meets it: usage, help, progress, the stored schema,
and what `jetgen new` proposes. Fast: no test bed (test_install_e2e.py installs for real)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jetgen.generator import origin, progress, scaffold

from tests.generator.paths import EVERY_SHAPE, LINODE

JETGEN = [sys.executable, "-m", "jetgen.generator.cli"]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [*JETGEN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# --- usage and help --------------------------------------------------------------------


def test_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout == f"jetgen, version {origin.version()}\n"


def test_unknown_option_prints_the_commands_usage_with_status_2():
    done = run("generate", "--bogus")
    assert done.returncode == 2
    assert done.stderr.startswith("Usage: jetgen generate [OPTIONS]")
    assert "No such option '--bogus'" in done.stderr
    done = run("new")
    assert done.returncode == 2 and done.stderr.startswith("Usage: jetgen new [OPTIONS] NAME")


@pytest.mark.parametrize("args", [["--help"], ["new", "--help"], ["generate", "--help"]])
def test_help_is_for_a_terminal_and_documents_exit_codes(args):
    done = run(*args)
    assert done.returncode == 0
    assert "``" not in done.stdout and ":mod:" not in done.stdout  # no reStructuredText
    assert "Exit status:" in done.stdout and "2  usage error" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 100


def test_missing_generator_extra_is_one_line_naming_the_install(tmp_path):
    """A runtime-only install: the extra's modules are hidden by a shadowing stub path."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    # A meta path finder that refuses jinja2, as if it were not installed.
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'jinja2':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(blocker))
    for args in (["--help"], ["generate"]):
        done = run(*args, env=env)
        assert done.returncode == 1, done
        assert done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1
        assert "generator extra is not installed" in done.stderr
        assert f"pip install '{origin.install_hint().split(chr(39))[1]}'" in done.stderr
    assert run("--version", env=env).returncode == 0


def test_install_hint_follows_the_origin():
    assert origin.Origin(url="file:///src/jetgen").requirement("generator") == (
        "/src/jetgen[generator]"
    )
    git = origin.Origin(url="git+https://example.com/jetgen.git", commit="abc123")
    assert git.requirement("generator") == (
        "jetgen[generator] @ git+https://example.com/jetgen.git@abc123"
    )
    assert origin.Origin(url=None).requirement() == "jetgen"


def test_install_hint_without_an_origin_names_both_forms(monkeypatch):
    monkeypatch.setattr(origin, "origin", lambda: origin.Origin(url=None))
    hint = origin.install_hint()
    assert "jetgen[generator] @ git+" in hint and "pip install './jetgen[generator]'" in hint


def test_unknown_key_hint_names_camel_case_keys(tmp_path):
    (tmp_path / "jetgen.yaml").write_text("name: shapes\nhooks_modul: x\n")
    done = run("generate", "--schema", str(EVERY_SHAPE), cwd=tmp_path)
    assert done.returncode == 1
    assert "hooksModule" in done.stderr and "groupSuffix" in done.stderr
    assert "hooks_module" not in done.stderr and "group_suffix" not in done.stderr


# --- progress --------------------------------------------------------------------------


def test_progress_line_counts_kinds_and_is_throttled():
    class Tty:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    out = Tty()
    line = progress.Line(out, interval=3600)
    line("parse schema")
    for done in range(1, 101):
        line("CRDs", done, 100)
    line.clear()
    updates = out.text.split(progress.CLEAR)
    assert "parse schema" in updates[1] and "CRDs 1/100 kinds" in updates[2]
    assert "CRDs 100/100 kinds" in updates[3] and updates[-1] == ""
    assert len(updates) == 5  # throttled: 2..99 are skipped within the interval


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run jetgen with stdout on a pseudo-terminal; returns (status, what it showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*JETGEN, *args], cwd=cwd, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(timeout=60), shown.decode()


def test_terminal_shows_phases_and_kinds_piped_prints_one_line(tmp_path):
    args = ["generate", "--schema", str(LINODE), "--no-models", "--output", "out"]
    status, shown = _on_a_terminal(args, tmp_path)
    assert status == 0
    assert "parse schema" in shown and "build kinds" in shown
    assert "CRDs 1/" in shown and "examples and docs" in shown
    assert shown.rstrip().endswith("files")  # the line is cleared before the summary
    done = run(*args, "--force", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.count("\n") == 1
    assert done.stdout.startswith("out: ") and "kinds" in done.stdout
    quiet = run(*args, "--force", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == ""


# --- the stored schema -----------------------------------------------------------------


def _repo(tmp_path: Path, *extra: str) -> Path:
    done = run("new", "shapes", "--directory", "repo", *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "repo"


def test_schema_option_is_stored_and_later_runs_use_it_offline(tmp_path):
    repo = _repo(tmp_path, "--version", "1.0.0", "--terraform-binary", "/nonexistent/tofu")
    assert not (repo / "schema.json").exists()
    done = run("generate", "--no-models", "--schema", str(EVERY_SHAPE), cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "schema.json").read_bytes() == EVERY_SHAPE.read_bytes()
    offline = dict(os.environ, JETGEN_TERRAFORM="/nonexistent/tofu", PATH="/nonexistent")
    again = run("generate", "--no-models", cwd=repo, env=offline)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    assert "/schema.json" in (repo / ".gitignore").read_text().splitlines()


def test_missing_schema_without_tofu_says_both_ways_out(tmp_path):
    repo = _repo(tmp_path, "--version", "1.0.0", "--terraform-binary", "/nonexistent/tofu")
    offline = dict(os.environ, JETGEN_TERRAFORM="/nonexistent/tofu")
    done = run("generate", cwd=repo, env=offline)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "schema.json: no schema" in done.stderr
    assert "TF_CLI_CONFIG_FILE" in done.stderr and "--schema FILE" in done.stderr
    assert not (repo / "schema.json").exists()


def test_bad_schema_option_is_not_stored(tmp_path):
    repo = _repo(tmp_path, "--version", "1.0.0", "--terraform-binary", "/nonexistent/tofu")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = run("generate", "--schema", str(bad), cwd=repo)
    assert done.returncode == 1 and not (repo / "schema.json").exists()


# --- jetgen new ------------------------------------------------------------------------


def test_new_without_version_warns_loudly(tmp_path):
    done = run("new", "x", "--directory", "r", "--terraform-binary", "/nonexistent", cwd=tmp_path)
    assert done.returncode == 0
    assert "warning: no --version" in done.stderr and "newest" in done.stderr


def test_new_proposes_credentials_from_the_schema(tmp_path):
    done = run("new", "linode", "--version", "2.37.0", "--schema", str(LINODE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "provider-linode/jetgen.yaml").read_text())
    assert config["credentials"] == [
        {"key": "obj_access_key", "argument": "obj_access_key", "optional": True},
        {"key": "obj_secret_key", "argument": "obj_secret_key", "optional": True},
        {"key": "token", "argument": "token", "optional": True},
    ]


def _schema(attributes: dict) -> str:
    block = {"block": {"attributes": attributes}}
    return json.dumps({"provider_schemas": {"registry.example/acme/acme": {"provider": block}}})


def test_credentials_by_name_and_sensitivity_with_documented_env_names():
    text = _schema(
        {
            "api_token": {"type": "string", "optional": True},  # not marked sensitive
            "api_key": {
                "type": "string",
                "description": "Can also be specified with the `ACME_API_KEY` shell"
                " environment variable.",
            },
            "spaces_secret_key": {
                "type": "string",
                "description": "This can also be set with the `$SPACES_SECRET`"
                " environment variable.",
            },
            "password": {"type": "string", "sensitive": True},
            "signing": {"type": "string", "sensitive": True},  # sensitive, any name
            "client_secret_file_path": {"type": "string"},  # where a secret is
            "use_temp_keys": {"type": "bool"},
            "endpoint": {"type": "string", "description": "the `ACME_URL` environment variable"},
        }
    )
    assert scaffold.propose_credentials(text, "acme/acme", "s.json") == [
        {"key": "api_key", "env": "ACME_API_KEY", "optional": True},
        {"key": "api_token", "argument": "api_token", "optional": True},
        {"key": "password", "argument": "password", "optional": True},
        {"key": "signing", "argument": "signing", "optional": True},
        {"key": "spaces_secret_key", "env": "SPACES_SECRET", "optional": True},
    ]


def test_documented_env_phrasings():
    aws = "Can also be configured using the `AWS_CA_BUNDLE` environment variable."
    assert scaffold.documented_env(aws) == "AWS_CA_BUNDLE"
    assert scaffold.documented_env("The token (see `Token`) of the account.") is None
    assert scaffold.documented_env("") is None


def test_a_schema_without_the_source_is_a_clear_error():
    two = json.dumps({"provider_schemas": {"a/x": {}, "b/y": {}}})
    with pytest.raises(scaffold.ScaffoldError, match="s.json: provider_schemas: no c/z"):
        scaffold.propose_credentials(two, "c/z", "s.json")


def test_scaffolded_ci_installs_jetgen_from_its_origin_and_has_tofu():
    git = origin.Origin(url="git+https://example.com/jetgen.git", commit="abc")
    steps = scaffold.ci_workflow("x_provider", git)["jobs"]["generate"]["steps"]
    assert any(s.get("uses", "").startswith("opentofu/setup-opentofu") for s in steps)
    install = next(s for s in steps if "JETGEN" in s.get("env", {}))
    assert install["env"]["JETGEN"] == "jetgen[generator] @ git+https://example.com/jetgen.git@abc"
    assert {"run": "make test"} in steps
    local = scaffold.ci_workflow("x_provider", origin.Origin(url="file:///src/jetgen"))
    install = next(s for s in local["jobs"]["generate"]["steps"] if "env" in s)
    assert install["env"]["JETGEN"] == "${{ vars.JETGEN_REQUIREMENT }}"
