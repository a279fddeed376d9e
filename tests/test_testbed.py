"""The test bed is real: each piece is exercised end to end on the installed binaries.

The unit tests at the top cover the installer's pure logic; everything marked e2e runs
against the real etcd/kube-apiserver/kube-controller-manager, tofu, terraform, provider
binaries and PostgreSQL (one control plane for the whole session).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.testbed import gobuild, install, pgserver, pins, processes
from tests.testbed.bed import NotInstalled, Testbed
from tests.testbed.layout import REGISTRY_HOSTS, Layout

REPO = Path(__file__).resolve().parents[1]
# Any attempt to download goes to a port nothing listens on, so it fails loudly.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


# --- installer logic -------------------------------------------------------------------


def test_pins_are_consistent_with_wrapper_modules():
    loaded = pins.load()
    assert set(loaded.tools) == {
        *("kubernetes", "etcd", "tofu", "terraform"),
        *("kubernetes-node", "crictl", "pause", "kubeprobe"),
        *("crossplane", "crossplane-core", "registry"),
    }
    assert set(loaded.providers) == {
        *("random", "local", "tls", "time", "http"),
        *("linode", "linode-v2", "postgresql", "null", "jetgenfault"),
    }
    for build in [*loaded.tools.values(), *(p.build for p in loaded.providers.values())]:
        if build.module is not None and not build.own_code:
            assert build.version in (build.module / "go.mod").read_text(), build.name
    assert loaded.labels("linode", "linode") == {"3.13.0", "2.37.0"}


def test_every_source_archive_is_where_the_pins_say_with_their_checksum(tmp_path):
    # The real archives, checked and unpacked as the installer does (no build).
    roots = {}
    for key in ("linode", "linode-v2", "postgresql", "null"):
        source = pins.load().providers[key].build.source
        archive = pins.archives_dir() / source.file
        roots[key] = gobuild.unpack(archive, source.sha256, tmp_path / key)
        assert (roots[key] / "main.go").is_file(), key
    # Crossplane's release sources, for its CLI and core, from the shared tools-src/.
    for key, package in (("crossplane", "cmd/crank"), ("crossplane-core", "cmd/crossplane")):
        source = pins.load().tools[key].source
        assert source.path().parent.name == "tools-src"
        root = gobuild.unpack(source.path(), source.sha256, tmp_path / key)
        assert (root / package / "main.go").is_file(), key
    # The edit the pin applies is needed: the archive's go.mod still asks for the refused one.
    assert "github.com/linode/linodego v1.69.0" in (roots["linode"] / "go.mod").read_text()


def test_archives_folder_is_found_next_to_the_repository_or_from_the_env(monkeypatch, tmp_path):
    monkeypatch.delenv(pins.ARCHIVES_ENV, raising=False)
    monkeypatch.delenv(pins.SHARED_ENV, raising=False)
    found = pins.archives_dir()
    assert found.name == "providers-src"
    assert found.parent.name == "shared"
    assert pins.REPO_ROOT.is_relative_to(found.parents[1])
    monkeypatch.setenv(pins.SHARED_ENV, str(tmp_path))
    assert pins.archives_dir() == tmp_path / "providers-src"
    monkeypatch.setenv(pins.ARCHIVES_ENV, str(tmp_path / "elsewhere"))
    assert pins.archives_dir() == tmp_path / "elsewhere"


def _archived(tmp_path: Path, content: bytes) -> tuple[Path, str]:
    """A one-folder source archive as the shared ones are; returns it and its sha256."""
    tree = tmp_path / "tree" / "terraform-provider-x-1.0.0"
    tree.mkdir(parents=True)
    (tree / "go.mod").write_bytes(content)
    archive = tmp_path / "archives" / "x-v1.0.0.tar.gz"
    archive.parent.mkdir()
    subprocess.run(["tar", "czf", archive, "-C", tree.parent, tree.name], check=True)
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def _archive_pins(sha256: str) -> pins.Pins:
    source = pins.Archive("x-v1.0.0.tar.gz", sha256)
    build = pins.GoBuild(
        "terraform-provider-x_v1.0.0", "1.0.0", None, None, {".": "terraform-provider-x"},
        "-s -w", source,
    )  # fmt: skip
    provider = pins.Provider("x", "example", "1.0.0", build)
    return pins.Pins({}, {"x": provider}, pins.load().debian_packages)


def test_archive_with_a_wrong_checksum_is_refused_by_name(tmp_path, monkeypatch):
    archive, digest = _archived(tmp_path, b"module example.com/x\n")
    monkeypatch.setenv(pins.ARCHIVES_ENV, str(archive.parent))
    layout = Layout(tmp_path / "cache")
    out = io.StringIO()

    status = install.run(layout, _archive_pins("0" * 64), out=out)

    assert status == 1
    report = out.getvalue()
    assert f"FAILED: provider example/x 1.0.0: {archive}: sha256 is {digest}, " in report
    assert f"versions.toml pins {'0' * 64}" in report
    assert not (layout.sources / "terraform-provider-x_v1.0.0").exists()
    assert not (layout.stamps / "terraform-provider-x_v1.0.0").exists()


def test_missing_archive_names_the_folder_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(pins.ARCHIVES_ENV, str(tmp_path / "nowhere"))
    out = io.StringIO()
    status = install.run(Layout(tmp_path / "cache"), _archive_pins("0" * 64), out=out)
    assert status == 1
    assert f"source archive {tmp_path}/nowhere/x-v1.0.0.tar.gz not found" in out.getvalue()
    assert "JETGEN_PROVIDERS_SRC" in out.getvalue()


def test_failed_source_build_is_loud_and_leaves_nothing_in_the_mirror(tmp_path, monkeypatch):
    # A real `go build` of a module with no Go files; GOPROXY=off keeps it offline.
    monkeypatch.setenv("GOPROXY", "off")
    archive, digest = _archived(tmp_path, b"module example.com/x\n\ngo 1.24\n")
    monkeypatch.setenv(pins.ARCHIVES_ENV, str(archive.parent))
    layout = Layout(tmp_path / "cache")
    out = io.StringIO()

    status = install.run(layout, _archive_pins(digest), out=out)

    assert status == 1
    report = out.getvalue()
    assert "FAILED: provider example/x 1.0.0: terraform-provider-x_v1.0.0 1.0.0 could" in report
    assert "no Go files" in report  # go's own reason, from the log tail
    assert layout.installed_providers() == set()
    assert not (layout.stamps / "terraform-provider-x_v1.0.0").exists()


def test_stamp_key_of_an_archive_build_changes_with_its_checksum_and_edits():
    build = pins.load().providers["linode"].build
    other_sha = dataclasses.replace(build, source=pins.Archive(build.source.file, "1" * 64))
    no_edit = dataclasses.replace(
        build, source=pins.Archive(build.source.file, build.source.sha256)
    )
    assert len({build.stamp_key(), other_sha.stamp_key(), no_edit.stamp_key()}) == 3


def test_stamp_key_of_own_code_covers_the_code(tmp_path):
    build = pins.load().providers["jetgenfault"].build
    assert build.own_code
    assert build.binaries == {
        "jetgen.test/terraform-provider-jetgenfault": "terraform-provider-jetgenfault"
    }
    copy = tmp_path / "copy"
    shutil.copytree(build.module, copy)
    moved = dataclasses.replace(build, module=copy)
    assert moved.stamp_key() == build.stamp_key()
    (copy / "main.go").write_text((copy / "main.go").read_text() + "\n// edited\n")
    assert moved.stamp_key() != build.stamp_key()


def test_pin_referring_to_missing_version_names_file_and_field(tmp_path):
    text = pins.VERSIONS_FILE.read_text().replace('version = "v1.35.4"', 'version = "v9.9.9"')
    broken = tmp_path / "versions.toml"
    broken.write_text(text)
    with pytest.raises(pins.PinError, match=r"versions.toml: \[tools.kubernetes\] version v9.9.9"):
        pins.load(broken)


def test_stamp_key_changes_with_the_pin():
    build = pins.load().tools["terraform"]
    changed = pins.GoBuild(build.name, "v1.5.8", None, build.install, build.binaries)
    assert build.stamp_key() == pins.load().tools["terraform"].stamp_key()
    assert changed.stamp_key() != build.stamp_key()


def test_exec_name_skips_major_version_suffix():
    assert gobuild._exec_name("go.etcd.io/etcd/server/v3") == "server"
    assert gobuild._exec_name("k8s.io/kubernetes/cmd/kubectl") == "kubectl"
    assert gobuild._exec_name("github.com/hashicorp/terraform") == "terraform"


def test_failed_build_is_reported_by_name_and_exits_non_zero(tmp_path, monkeypatch):
    # A real `go build` of a package no module provides; GOPROXY=off keeps it offline.
    monkeypatch.setenv("GOPROXY", "off")
    module = tmp_path / "wrapper"
    module.mkdir()
    (module / "go.mod").write_text("module jetgen.dev/testbed/broken\n\ngo 1.24\n")
    broken = pins.GoBuild("broken", "v0.0.1", module, None, {"jetgen.dev/absent/cmd/x": "x"})
    layout = Layout(tmp_path / "cache")
    out = io.StringIO()

    status = install.run(
        layout, pins.Pins({"broken": broken}, {}, pins.load().debian_packages), out=out
    )

    assert status == 1
    report = out.getvalue()
    assert "FAILED: broken: broken v0.0.1 could not be built: go build exited 1" in report
    assert "jetgen.dev/absent/cmd/x" in report  # go's own reason, from the log tail
    assert not (layout.bin / "x").exists()
    assert not (layout.stamps / "broken").exists()


def test_plugin_cache_links_to_the_mirror_and_drops_old_labels(tmp_path):
    layout = Layout(tmp_path)
    provider = pins.load().providers["random"]
    stale = layout.plugin_cache / REGISTRY_HOSTS[0] / "hashicorp" / "random" / "0.0.1"
    stale.mkdir(parents=True)

    install._link_into_plugin_cache(layout, provider, {provider.label})
    install._link_into_plugin_cache(layout, provider, {provider.label})  # idempotent

    for host in REGISTRY_HOSTS:
        link = layout.plugin_cache / host / "hashicorp" / "random" / provider.label / "linux_amd64"
        assert link.readlink() == layout.provider_dir(host, "hashicorp", "random", provider.label)
    assert not stale.exists()


def test_a_provider_pinned_at_two_versions_keeps_both_in_the_mirror(tmp_path):
    layout = Layout(tmp_path)
    loaded = pins.load()
    keep = loaded.labels("linode", "linode")
    for key in ("linode", "linode-v2"):
        provider = loaded.providers[key]
        for host in REGISTRY_HOSTS:
            path = layout.provider_binary(host, "linode", "linode", provider.label)
            path.parent.mkdir(parents=True)
            path.write_text("")
    old = layout.provider_dir(REGISTRY_HOSTS[0], "linode", "linode", "1.0.0")
    old.mkdir(parents=True)

    for key in ("linode", "linode-v2"):
        install._drop_other_labels(layout, REGISTRY_HOSTS[0], loaded.providers[key], keep)
        install._link_into_plugin_cache(layout, loaded.providers[key], keep)

    assert layout.installed_providers() == {
        ("linode", "linode", "3.13.0"),
        ("linode", "linode", "2.37.0"),
    }
    assert not old.parent.exists()
    cached = layout.plugin_cache / REGISTRY_HOSTS[1] / "linode" / "linode"
    assert sorted(p.name for p in cached.iterdir()) == ["2.37.0", "3.13.0"]


def test_installed_providers_requires_every_registry_host(tmp_path):
    layout = Layout(tmp_path)
    for host in REGISTRY_HOSTS:
        path = layout.provider_binary(host, "hashicorp", "random", "3.9.0")
        path.parent.mkdir(parents=True)
        path.write_text("")
    only_one = layout.provider_binary(REGISTRY_HOSTS[0], "hashicorp", "tls", "4.3.0")
    only_one.parent.mkdir(parents=True)
    only_one.write_text("")
    assert layout.installed_providers() == {("hashicorp", "random", "3.9.0")}


def test_missing_install_is_reported_with_the_fixture_message(tmp_path):
    with pytest.raises(NotInstalled) as caught:
        Testbed(Layout(tmp_path)).require_installed()
    message = str(caught.value)
    assert message.startswith("test bed not installed: run scripts/testbed install (missing: etcd")
    assert "provider hashicorp/random 3.9.0" in message
    assert "provider linode/linode 2.37.0" in message
    with pytest.raises(NotInstalled, match=r"\(missing: tofu\)"):
        _ = Testbed(Layout(tmp_path)).tofu


def test_fixtures_fail_rather_than_skip_without_an_install(tmp_path):
    test_file = tmp_path / "test_needs_bed.py"
    test_file.write_text("def test_it(apiserver):\n    pass\n")
    env = {**os.environ, "JETGEN_TESTBED_DIR": str(tmp_path / "empty"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.testbed.fixtures", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-q", str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout
    assert "skipped" not in proc.stdout
    assert "test bed not installed: run scripts/testbed install (missing: etcd" in proc.stdout


def test_tied_process_dies_with_its_parent_even_on_sigkill(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from tests.testbed import processes
        server = processes.spawn("sleeper", ["sleep", "300"], Path({str(tmp_path / "log")!r}))
        print(server.pid, flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


# --- control plane ---------------------------------------------------------------------

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.testbed.jetgen.dev"},
    "spec": {
        "group": "testbed.jetgen.dev",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.mark.e2e
def test_kubectl_with_the_kubeconfig_lists_namespaces(testbed, apiserver):
    proc = subprocess.run(
        [testbed.kubectl, "--kubeconfig", apiserver.kubeconfig, "get", "ns", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "namespace/default" in proc.stdout.split()
    assert apiserver.http_get("/readyz")[0] == 200


@pytest.mark.e2e
def test_crd_becomes_established_and_validates_custom_resources(apiserver):
    apiserver.apply(WIDGET_CRD)
    apiserver.kubectl(
        "wait", "--for=condition=Established", "crd/widgets.testbed.jetgen.dev", "--timeout=30s"
    )
    namespace = apiserver.create_namespace("crd")

    def widget(name, spec):
        return {
            "apiVersion": "testbed.jetgen.dev/v1alpha1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    apiserver.apply(widget("good", {"size": 3}))
    assert apiserver.get_json("widget", "good", "-n", namespace)["spec"] == {"size": 3}

    rejected = apiserver.kubectl(
        "create", "-f", "-", input=json.dumps(widget("bad", {"size": 0})), check=False
    )
    assert rejected.returncode != 0
    assert "spec.size" in rejected.stderr
    missing = apiserver.kubectl(
        "create", "-f", "-", input=json.dumps(widget("empty", {})), check=False
    )
    assert missing.returncode != 0
    assert "spec.size: Required value" in missing.stderr


@pytest.mark.e2e
def test_service_account_token_is_subject_to_rbac(apiserver):
    namespace = apiserver.create_namespace("rbac")
    apiserver.kubectl("create", "serviceaccount", "robot", "-n", namespace)
    token = apiserver.kubectl("create", "token", "robot", "-n", namespace).stdout.strip()
    as_robot = ["--token", token]  # replaces the admin token of the kubeconfig

    whoami = apiserver.kubectl("auth", "whoami", "-o", "json", *as_robot)
    username = json.loads(whoami.stdout)["status"]["userInfo"]["username"]
    assert username == f"system:serviceaccount:{namespace}:robot"
    denied = apiserver.kubectl("get", "secrets", "-n", namespace, *as_robot, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr

    apiserver.kubectl(
        "create", "role", "read-secrets", "--verb=list", "--resource=secrets", "-n", namespace
    )
    apiserver.kubectl(
        "create", "rolebinding", "robot", "--role=read-secrets",
        f"--serviceaccount={namespace}:robot", "-n", namespace,
    )  # fmt: skip
    apiserver.kubectl("get", "secrets", "-n", namespace, *as_robot)


@pytest.mark.e2e
def test_garbage_collector_deletes_owned_secret(apiserver):
    namespace = apiserver.create_namespace("gc")
    apiserver.kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = apiserver.get_json("configmap", "owner", "-n", namespace)["metadata"]["uid"]
    apiserver.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "connection",
                "namespace": namespace,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
                ],
            },
            "stringData": {"password": "not-a-real-one"},
        }
    )
    apiserver.kubectl("delete", "configmap", "owner", "-n", namespace, "--wait=false")
    apiserver.kubectl("wait", "--for=delete", "secret/connection", "-n", namespace, "--timeout=60s")


@pytest.mark.e2e
def test_namespace_deletion_completes(apiserver):
    namespace = apiserver.create_namespace("doomed")
    apiserver.kubectl("create", "configmap", "inside", "-n", namespace)
    apiserver.kubectl("delete", "namespace", namespace, "--timeout=60s")
    assert apiserver.kubectl("get", "namespace", namespace, check=False).returncode != 0


# --- tofu / terraform with the provider mirror ---------------------------------------


def _pinned_sets() -> list[dict[str, pins.Provider]]:
    """The pinned providers as working-directory sets: local name -> provider.

    One configuration can require a provider only once, so a provider pinned at a second
    version goes into a second set.
    """
    sets: list[dict[str, pins.Provider]] = []
    for provider in pins.load().providers.values():
        free = next((s for s in sets if provider.name not in s), None)
        if free is None:
            free = {}
            sets.append(free)
        free[provider.name] = provider
    return sets


def _main_tf_json(providers: dict[str, pins.Provider]) -> str:
    """Every provider of the set pinned to its label, plus one random_password."""
    required = {
        name: {"source": p.source_address, "version": p.label} for name, p in providers.items()
    }
    config: dict = {"terraform": {"required_providers": required}}
    if "random" in providers:
        config["resource"] = {"random_password": {"db": {"length": 24, "special": False}}}
        config["output"] = {
            "password_length": {"value": "${length(random_password.db.result)}", "sensitive": True}
        }
    return json.dumps(config, indent=2)


def _run(cli: Path, args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [cli, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{cli.name} {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}"
    return proc


PINNED_SETS = _pinned_sets()
# How many resource types each provider's own schema has (its README/CHANGELOG counts).
RESOURCE_TYPES = {
    ("linode", "3.13.0"): 44,
    ("linode", "2.37.0"): 38,
    ("postgresql", "1.26.0"): 15,
    ("null", "3.2.4"): 1,
}


@pytest.fixture(
    scope="module",
    params=[(cli, n) for cli in ("tofu", "terraform") for n in range(len(PINNED_SETS))],
    ids=lambda param: f"{param[0]}-set{param[1]}",
)
def initialized(request, testbed, tmp_path_factory):
    """A working directory that `init` filled from the mirror, with downloads blocked."""
    cli_name, index = request.param
    cli = testbed.bin(cli_name)
    workdir = tmp_path_factory.mktemp(f"{cli_name}-{index}")
    providers = PINNED_SETS[index]
    (workdir / "main.tf.json").write_text(_main_tf_json(providers))
    env = testbed.tf_env(OFFLINE)
    _run(cli, ["init", "-input=false", "-no-color"], workdir, env)
    return cli, workdir, env, providers


def test_pinned_sets_cover_every_pin_once():
    assert len(PINNED_SETS) == 2  # linode is pinned twice
    flat = [p for pinned in PINNED_SETS for p in pinned.values()]
    assert sorted(flat, key=repr) == sorted(pins.load().providers.values(), key=repr)
    assert PINNED_SETS[1]["linode"].label == "2.37.0"


@pytest.mark.e2e
def test_init_installs_every_provider_from_the_mirror(testbed, initialized):
    cli, workdir, _, providers = initialized
    lock = (workdir / ".terraform.lock.hcl").read_text()
    host = "registry.opentofu.org" if cli.name == "tofu" else "registry.terraform.io"
    assert set(testbed.providers) == set(pins.load().providers)
    for provider in providers.values():
        block = lock.split(f'provider "{host}/{provider.source_address}"', 1)
        assert len(block) == 2, f"{provider.source_address} not in the lock file"
        assert f'version     = "{provider.label}"' in block[1].split("}", 1)[0]


@pytest.mark.e2e
def test_providers_schema_has_every_provider(testbed, initialized):
    cli, workdir, env, providers = initialized
    schemas = json.loads(_run(cli, ["providers", "schema", "-json"], workdir, env).stdout)
    host = "registry.opentofu.org" if cli.name == "tofu" else "registry.terraform.io"
    assert set(schemas["provider_schemas"]) == {
        f"{host}/{p.source_address}" for p in providers.values()
    }
    for provider in providers.values():
        schema = schemas["provider_schemas"][f"{host}/{provider.source_address}"]
        assert schema.get("resource_schemas") or schema.get("data_source_schemas"), provider
        expected = RESOURCE_TYPES.get((provider.name, provider.label))
        if expected is not None:
            assert len(schema["resource_schemas"]) == expected, provider
    if "random" in providers:
        random = schemas["provider_schemas"][f"{host}/hashicorp/random"]
        assert "length" in random["resource_schemas"]["random_password"]["block"]["attributes"]
    if "linode" in providers:
        linode = schemas["provider_schemas"][f"{host}/linode/linode"]
        assert "token" in linode["provider"]["block"]["attributes"]
        assert "linode_lke_cluster" in linode["resource_schemas"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "initialized", [("tofu", 0), ("terraform", 0)], indirect=True, ids=["tofu", "terraform"]
)
def test_random_password_is_applied_and_destroyed(initialized):
    cli, workdir, env, providers = initialized
    assert "random" in providers
    _run(cli, ["apply", "-auto-approve", "-input=false", "-no-color"], workdir, env)
    outputs = json.loads(_run(cli, ["output", "-json"], workdir, env).stdout)
    assert outputs["password_length"]["value"] == 24
    state = _run(cli, ["state", "list"], workdir, env).stdout.split()
    assert state == ["random_password.db"]
    _run(cli, ["destroy", "-auto-approve", "-input=false", "-no-color"], workdir, env)
    assert _run(cli, ["state", "list"], workdir, env).stdout.strip() == ""


@pytest.mark.e2e
@pytest.mark.parametrize("cli_name", ["tofu", "terraform"])
def test_provider_missing_from_the_mirror_is_not_downloaded(testbed, tmp_path, cli_name):
    config = {"terraform": {"required_providers": {"dns": {"source": "hashicorp/dns"}}}}
    (tmp_path / "main.tf.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [testbed.bin(cli_name), "init", "-input=false", "-no-color"],
        cwd=tmp_path,
        env=testbed.tf_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "hashicorp/dns" in proc.stderr


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.mark.e2e
def test_postgres_answers_with_the_password(postgres):
    assert postgres.psql("select 1") == "1"
    assert postgres.dsn.startswith(f"postgresql://{postgres.user}:")
    wrong = pgserver.Postgres(
        postgres.host, postgres.port, postgres.user, "wrong", postgres.psql_binary
    )
    with pytest.raises(pgserver.PostgresError, match="password authentication failed"):
        wrong.psql("select 1")


@pytest.mark.e2e
def test_server_that_loses_its_port_is_restarted_on_another(monkeypatch):
    if pgserver.find_binaries(required=False) is None:
        pytest.fail("test bed not installed: run scripts/testbed install (missing: postgresql)")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real_free_port = processes.free_port
    monkeypatch.setattr(processes, "free_port", lambda: next(ports, None) or real_free_port())
    # Not under tmp_path, which only root may enter; the cluster belongs to `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="jetgen-port-race-"))

    server = pgserver.start(folder)
    try:
        assert server.client.port != taken.getsockname()[1]
        assert server.client.psql("select 1") == "1"
        assert "Address already in use" in (folder / "postgres.log").read_text()
    finally:
        server.stop()
        taken.close()
        shutil.rmtree(folder)


# --- scripts/testbed up / env / down -----------------------------------------------------


@pytest.mark.e2e
def test_cli_up_env_down(testbed, tmp_path):
    # A private cache root that reuses the installed tools, so a developer's own
    # `scripts/testbed up` is left alone.
    for entry in ("bin", "mirror", "terraformrc", "plugin-cache"):
        (tmp_path / entry).symlink_to(testbed.dir / entry)
    env = {**os.environ, "JETGEN_TESTBED_DIR": str(tmp_path)}
    script = REPO / "scripts" / "testbed"

    up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    pids = [server["pid"] for server in state["servers"]]
    try:
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines()
        )
        assert exports["KUBECONFIG"] == state["kubeconfig"]
        shell = subprocess.run(
            ["sh", "-c", 'eval "$1" && kubectl get ns default -o name && psql -XAtc "select 2"',
             "sh", up.stdout],
            env=os.environ, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shell.stdout.split() == ["namespace/default", "2"], shell.stderr
    finally:
        down = subprocess.run(
            [script, "down"], env=env, capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert [pid for pid in pids if _running(pid)] == []
    assert not Path(state["folder"]).exists()
