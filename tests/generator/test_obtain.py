"""Obtaining a schema with the real tofu/terraform and the test bed's provider mirror."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jetgen.generator import obtain
from jetgen.runtime.contract import kindsfile
from jetgen.runtime.provider_requirements import install_config

from tests.generator.crds import dry_run_examples, install_crds, remove_crds

JETGEN = [sys.executable, "-m", "jetgen.generator.cli"]


def test_main_tf_pins_source_and_version():
    assert install_config("hashicorp/random", "3.9.0") == {
        "terraform": {
            "required_providers": {"random": {"source": "hashicorp/random", "version": "3.9.0"}}
        }
    }
    assert "version" not in install_config("x/y", "")["terraform"]["required_providers"]["y"]


def test_missing_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(obtain.BINARY_ENV, raising=False)
    with pytest.raises(obtain.ObtainError, match="no Terraform binary.*--terraform-binary"):
        obtain.find_binary(str(tmp_path / "nope"))
    monkeypatch.setenv(obtain.BINARY_ENV, str(tmp_path / "also-nope"))
    with pytest.raises(obtain.ObtainError, match="also-nope"):
        obtain.find_binary()


def new_repo(tmp_path: Path, name: str, source: str, version: str) -> Path:
    done = subprocess.run(
        [*JETGEN, "new", name, "--source", source, "--version", version],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return tmp_path / f"provider-{name}"


def generate(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JETGEN, "generate", "--no-models", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.e2e
@pytest.mark.parametrize("binary", ["tofu", "terraform"])
def test_generate_obtains_and_caches_the_schema(testbed, tmp_path, binary):
    version = testbed.providers["random"]
    repo = new_repo(tmp_path, "random", "hashicorp/random", version)
    env = testbed.tf_env({obtain.BINARY_ENV: str(testbed.bin(binary))})
    done = generate(repo, env)
    assert done.returncode == 0, done.stderr
    schema = json.loads((repo / "schema.json").read_text())
    assert any(s.endswith("hashicorp/random") for s in schema["provider_schemas"])
    info = kindsfile.load(repo / "random_provider/kinds.json")
    kinds = {k.terraform_type: k for k in info.kinds}
    assert kinds["random_password"].group == "random.m.jetgen.dev"
    assert kinds["random_password"].kind == "Password"
    # Offline: no binary at all, the cached schema is reused and nothing changes.
    offline = dict(env, **{obtain.BINARY_ENV: str(tmp_path / "no-such-binary")})
    done = generate(repo, offline)
    assert done.returncode == 0 and "up to date" in done.stdout, done.stderr


@pytest.mark.e2e
def test_obtain_failure_leaves_no_schema(testbed, tmp_path):
    repo = new_repo(tmp_path, "nosuch", "hashicorp/nosuch", "1.0.0")
    env = testbed.tf_env({obtain.BINARY_ENV: str(testbed.tofu)})
    done = generate(repo, env)
    assert done.returncode == 1
    assert "init" in done.stderr and "hashicorp/nosuch" in done.stderr
    assert not (repo / "schema.json").exists()
    assert sorted(os.listdir(repo / "config")) == ["__init__.py"]


@pytest.mark.e2e
@pytest.mark.parametrize("provider", ["random", "local", "tls", "time", "http"])
def test_test_bed_providers_end_to_end(testbed, apiserver, tmp_path, provider):
    """Schemas produced by real provider binaries: obtained, generated, installed."""
    repo = new_repo(tmp_path, provider, f"hashicorp/{provider}", testbed.providers[provider])
    done = generate(repo, testbed.tf_env({obtain.BINARY_ENV: str(testbed.tofu)}))
    assert done.returncode == 0, done.stderr
    info = kindsfile.load(repo / f"{provider}_provider/kinds.json")
    names = install_crds(apiserver, repo)
    try:
        assert len(names) == len(info.kinds) + 2  # + ProviderConfig, ClusterProviderConfig
        if not info.kinds:  # hashicorp/http has data sources only
            assert provider == "http" and not (repo / "examples").exists()
            return
        namespace = apiserver.create_namespace(f"gen-{provider}")
        done = dry_run_examples(apiserver, repo, namespace)
        assert done.returncode == 0, done.stderr
    finally:
        remove_crds(apiserver, names)
