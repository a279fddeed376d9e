"""Packaging on the test bed: the install manifests are accepted by a real apiserver, and
the generated RBAC is exactly what the controller needs.

The RBAC proof runs the real controller (a subprocess, real tofu and hashicorp/random)
logged in with a token of the generated ServiceAccount, obtained by TokenRequest
(``kubectl create token``), never with the admin credentials.  With the generated
ClusterRole a full create -> Ready -> update -> delete cycle works and no request is
refused; with any single permission taken away, the apiserver's refusal of exactly that
permission shows in the controller's log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jetgen.generator import cli, packaging

from tests.generator.paths import EVERY_SHAPE, LINODE
from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready
from tests.testbed.kube import write_kubeconfig

pytestmark = pytest.mark.e2e

NAME = "rbac"  # provider name: its own API groups, so no other test's objects interfere
KINDS_GROUP = "rbac.m.jetgen.dev"  # random_id -> Id, next to the ProviderConfigs
CONFIG_GROUP = "rbac.m.jetgen.dev"
CRDS = "apiextensions.k8s.io"

# Every permission the generated ClusterRole must hold for this provider, as
# (apiGroup, resource, verb).  The first test checks that the generated role holds
# exactly these; the parametrised test takes each away in turn.
PERMISSIONS = [
    (KINDS_GROUP, "ids", "list"),
    (KINDS_GROUP, "ids", "watch"),
    (KINDS_GROUP, "ids", "patch"),
    (KINDS_GROUP, "ids", "get"),  # Pet's prefixRef names an Id
    (KINDS_GROUP, "pets", "list"),
    (KINDS_GROUP, "pets", "watch"),
    (KINDS_GROUP, "pets", "patch"),
    (KINDS_GROUP, "ids/status", "patch"),
    (KINDS_GROUP, "pets/status", "patch"),
    (CONFIG_GROUP, "providerconfigs", "get"),
    (CONFIG_GROUP, "clusterproviderconfigs", "get"),
    # kopf keeps a finalizer on each config while MRs use it (runtime/usage.py).
    (CONFIG_GROUP, "providerconfigs", "list"),
    (CONFIG_GROUP, "providerconfigs", "watch"),
    (CONFIG_GROUP, "providerconfigs", "patch"),
    (CONFIG_GROUP, "clusterproviderconfigs", "list"),
    (CONFIG_GROUP, "clusterproviderconfigs", "watch"),
    (CONFIG_GROUP, "clusterproviderconfigs", "patch"),
    ("", "secrets", "get"),
    # The read cache lists and watches the Secrets of the namespaces it reads from
    # (runtime/cache.py); without them it logs the refusal and reads each time instead.
    ("", "secrets", "list"),
    ("", "secrets", "watch"),
    ("", "secrets", "create"),
    ("", "secrets", "patch"),
    ("", "events", "create"),
    (CRDS, "customresourcedefinitions", "list"),
    (CRDS, "customresourcedefinitions", "watch"),
]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def generate_repo(schema: Path, repo: Path, config: dict[str, Any], provider: str) -> Path:
    """A provider repository with ``config`` as jetgen.yaml, generated (no models)."""
    repo.mkdir(parents=True)
    (repo / "jetgen.yaml").write_text(yaml.safe_dump(config))
    args = ["generate", "--repo", str(repo), "--schema", str(schema), "--no-models"]
    assert cli.main([*args, "--provider", provider]) == 0
    return repo


@pytest.fixture(scope="module")
def provider(testbed, apiserver, tmp_path_factory) -> Path:
    """hashicorp/random as provider ``rbac``: Id (with a connection detail) and Pet,
    whose prefix references an Id by name.  CRDs installed."""
    base = tmp_path_factory.mktemp("packaging")
    schema = harness.provider_schema(testbed, base / "schema", ["random"])
    config = {
        "name": NAME,
        "source": "hashicorp/random",
        "version": testbed.providers["random"],
        "include": ["random_id", "random_pet"],
        "resources": {
            "random_id": {
                "connectionDetails": [
                    {"key": "decoded", "attribute": "b64_std", "transform": "base64decode"}
                ]
            },
            "random_pet": {
                "references": [
                    {"field": "prefix", "kind": "Id", "valueFrom": "status.atProvider.hex"}
                ]
            },
        },
    }
    repo = generate_repo(schema, base / "repo", config, "registry.opentofu.org/hashicorp/random")
    harness.install_crds(apiserver, repo)
    apiserver.kubectl("apply", "--server-side", "-f", str(repo / "install/namespace.yaml"))
    return repo


@pytest.fixture(scope="module")
def workdir_root(tmp_path_factory) -> Path:
    """Shared by every controller of this module: the provider is installed once."""
    return tmp_path_factory.mktemp("work")


# --- install manifests: server-side dry-run --------------------------------------------


def dry_run_install(apiserver, repo: Path) -> None:
    """Namespace and CRDs for real (everything else needs them), then the whole
    kustomization of ``install/`` and the ProviderConfig example as a server-side dry-run."""
    install = repo / "install"
    apiserver.kubectl("apply", "--server-side", "-f", str(install / "namespace.yaml"))
    harness.install_crds(apiserver, repo)
    built = apiserver.kubectl("kustomize", str(install)).stdout
    kinds = [d["kind"] for d in yaml.safe_load_all(built)]
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
    } <= set(kinds)
    assert kinds.count("CustomResourceDefinition") == len(list((install / "crds").glob("*.yaml")))
    for text in (built, (repo / "install/providerconfig.yaml").read_text()):
        done = apiserver.kubectl(
            "apply", "--server-side", "--dry-run=server", "-f", "-", input=text, check=False
        )
        assert done.returncode == 0, done.stderr
        # The namespace warns on pods breaking the "restricted" Pod Security Standard;
        # the Deployment's pod template must not.
        assert "Warning" not in done.stderr, done.stderr


def test_random_install_manifests_pass_server_side_dry_run(apiserver, provider):
    dry_run_install(apiserver, provider)
    # The warning check above can fail: the same pod as root, with every capability.
    deployment = load(provider / "install/deployment.yaml")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["securityContext"] = {"runAsNonRoot": False, "runAsUser": 0}
    deployment["spec"]["template"]["spec"]["securityContext"] = {}
    done = apiserver.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(deployment)
    )
    assert 'would violate PodSecurity "restricted' in done.stderr


def test_linode_install_manifests_pass_server_side_dry_run(apiserver, tmp_path):
    """Many API groups, and credentials (the example carries a Secret)."""
    config = {
        "name": "linode",
        "source": "linode/linode",
        "version": "2.37.0",
        "credentials": [{"key": "token", "env": "LINODE_TOKEN"}],
    }
    repo = generate_repo(LINODE, tmp_path / "linode", config, "registry.terraform.io/linode/linode")
    documents = list(yaml.safe_load_all((repo / "install/providerconfig.yaml").read_text()))
    assert [d["kind"] for d in documents] == ["Secret", "ClusterProviderConfig"]
    dry_run_install(apiserver, repo)


# --- RBAC: the controller as the generated ServiceAccount ------------------------------


def permissions(rules: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


def test_generated_role_holds_exactly_the_tested_permissions(provider):
    rules = load(provider / "install/clusterrole.yaml")["rules"]
    assert sorted(permissions(rules)) == sorted(PERMISSIONS)


@dataclass
class Login:
    """What harness.Controller needs of an apiserver: the kubeconfig to log in with."""

    kubeconfig: Path


def service_account_login(apiserver, account: str, namespace: str, folder: Path) -> Login:
    """A kubeconfig holding a TokenRequest token of ``namespace/account``."""
    token = apiserver.kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    path = folder / f"{account}.kubeconfig"
    write_kubeconfig(path, apiserver.url, apiserver.ca_file, token, account)
    return Login(path)


def as_login(apiserver, login: Login, *args: str) -> Any:
    """kubectl with the ServiceAccount's kubeconfig instead of the admin one."""
    return subprocess.run(
        [str(apiserver.kubectl_binary), "--kubeconfig", str(login.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_controller(
    provider, testbed, login: Login, workdir_root, log: Path, env: dict[str, str] | None = None
) -> Controller:
    """The controller, cluster-wide as the Deployment runs it, logged in as ``login``."""
    return Controller(
        kinds=harness.kinds_file(provider),
        apiserver=login,
        testbed=testbed,
        workdir_root=workdir_root,
        log=log,
        poll=5,
        env=env,
    ).start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, response.read().decode()


# The cycle every controller goes through: (step, action, done).  Objects live in `ns`.


def objects(ns: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{CONFIG_GROUP}/v1alpha1",
            "kind": "ProviderConfig",
            "metadata": {"name": "pc", "namespace": ns},
            "spec": {"credentials": {"source": "None"}},
        },
        {
            "apiVersion": f"{KINDS_GROUP}/v1alpha1",
            "kind": "Id",
            "metadata": {"name": "seed", "namespace": ns},
            # providerConfigRef defaults to the ClusterProviderConfig "default"
            "spec": {
                "forProvider": {"byteLength": 4},
                "writeConnectionSecretToRef": {"name": "seed-conn"},
            },
        },
        {
            "apiVersion": f"{KINDS_GROUP}/v1alpha1",
            "kind": "Pet",
            "metadata": {"name": "pet", "namespace": ns},
            "spec": {
                "forProvider": {"length": 2, "prefixRef": {"name": "seed"}},
                "providerConfigRef": {"kind": "ProviderConfig", "name": "pc"},
            },
        },
        {
            # Used by the Id: the controller keeps its finalizer on it (patch).
            "apiVersion": f"{CONFIG_GROUP}/v1alpha1",
            "kind": "ClusterProviderConfig",
            "metadata": {"name": "default"},
            "spec": {"credentials": {"source": "None"}},
        },
    ]


def decoded_length(apiserver, ns: str) -> int | None:
    data = harness.secret_data(apiserver, "seed-conn", ns) or {}
    return len(data["decoded"]) if "decoded" in data else None


def cycle(apiserver, ns: str) -> list[tuple[str, Callable[[], None], Callable[[], bool]]]:
    def seed():
        return get(apiserver, f"ids.{KINDS_GROUP}", "seed", ns)

    def pet():
        return get(apiserver, f"pets.{KINDS_GROUP}", "pet", ns)

    def created() -> bool:
        events = harness.events_text(apiserver, ns)
        return (
            is_ready(seed())
            and is_ready(pet())
            and decoded_length(apiserver, ns) == 4
            and events.count("CreatedExternalResource") >= 2
        )

    def updated() -> bool:
        obj = seed()
        return (
            is_ready(obj)
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
            and decoded_length(apiserver, ns) == 6
        )

    def update() -> None:
        patch = json.dumps({"spec": {"forProvider": {"byteLength": 6}}})
        apiserver.kubectl(
            "patch", f"ids.{KINDS_GROUP}", "seed", "-n", ns, "--type=merge", "-p", patch
        )

    def lose_secret() -> None:
        apiserver.kubectl("delete", "secret", "seed-conn", "-n", ns)

    def delete(plural: str, name: str) -> Callable[[], None]:
        args = ["delete", f"{plural}.{KINDS_GROUP}", name, "-n", ns, "--wait=false"]
        return lambda: apiserver.kubectl(*args)

    # The Pet goes first: the runtime resolves its prefixRef again to destroy it, and
    # that blocks while the referenced Id is already gone.
    return [
        ("create", lambda: apiserver.apply(objects(ns)), created),
        ("update", update, updated),
        # A poll finds its connection Secret gone (a read, from the cache) and writes it again.
        ("connection secret lost", lose_secret, updated),
        ("delete pet", delete("pets", "pet"), lambda: pet() is None),
        ("delete id", delete("ids", "seed"), lambda: seed() is None),
    ]


def test_controller_runs_a_full_cycle_as_the_generated_service_account(
    apiserver, testbed, provider, workdir_root, tmp_path
):
    install = provider / "install"
    for name in ("serviceaccount", "clusterrole", "clusterrolebinding", "role", "rolebinding"):
        apiserver.kubectl("apply", "--server-side", "-f", str(install / f"{name}.yaml"))
    account = load(install / "serviceaccount.yaml")["metadata"]
    login = service_account_login(apiserver, account["name"], account["namespace"], tmp_path)
    ns = apiserver.create_namespace("rbac-ok")
    # It is the ServiceAccount, not an admin: it may not even read pods.
    refused = as_login(apiserver, login, "get", "pods", "-n", ns)
    assert refused.returncode != 0 and "forbidden" in refused.stderr

    # The ports as the Deployment sets them: through the environment; and as there, with
    # leader election, Lease and state Secrets in the controller's namespace (the Role).
    ports = {"JETGEN_HEALTH_PORT": free_port(), "JETGEN_METRICS_PORT": free_port()}
    env = {name: str(port) for name, port in ports.items()}
    env |= {"JETGEN_LEADER_ELECT": "1", "POD_NAMESPACE": account["namespace"]}
    ctl = start_controller(provider, testbed, login, workdir_root, tmp_path / "ctl.log", env)
    try:
        # What the probes and Prometheus will ask.
        health = harness.wait_for(
            "/healthz", lambda: http_get(ports["JETGEN_HEALTH_PORT"], "/healthz"), timeout=30
        )
        assert health[0] == 200
        for step, action, done in cycle(apiserver, ns):
            started = time.monotonic()
            action()
            harness.wait_for(f"{step} done", done, timeout=60)
            print(f"{step}: {time.monotonic() - started:.1f} s")
        events = harness.events_text(apiserver, ns)
        assert "DeletedExternalResource" in events
        status, metrics = http_get(ports["JETGEN_METRICS_PORT"], "/metrics")
        assert status == 200 and 'jetgen_reconcile_duration_seconds_count{kind="Id"' in metrics
        assert "jetgen_leader 1" in metrics
        lease = apiserver.get_json("lease", f"jetgen-{NAME}", "-n", account["namespace"])
        assert lease["spec"]["holderIdentity"]
    finally:
        ctl.stop()
    logs = ctl.logs()
    assert "forbidden" not in logs.lower(), logs[-3000:]
    assert "Not enough permissions" not in logs, logs[-3000:]


def refusal(permission: tuple[str, str, str]) -> str:
    """How the apiserver refuses exactly ``permission``: the runtime and kopf both log it
    (kopf before it retries; the runtime with the MR it was reconciling)."""
    group, resource, verb = permission
    if resource == "customresourcedefinitions":  # safe-start checks it at start
        return f"safe-start needs {verb} on customresourcedefinitions"
    return f'cannot {verb} resource "{resource}" in API group "{group}"'


@pytest.mark.parametrize(
    "missing", PERMISSIONS, ids=["/".join(p[:2]) + ":" + p[2] for p in PERMISSIONS]
)
def test_each_permission_is_needed(apiserver, testbed, provider, workdir_root, tmp_path, missing):
    ns = apiserver.create_namespace("rbac-minus")  # the tenant's: the MRs
    # The controller's own (Lease, state Secrets), apart as deployed: a permission its
    # namespace Role grants there must still be proved needed in a tenant's namespace.
    home = apiserver.create_namespace("rbac-home")
    role = f"rbac-minus-{ns}"
    kept = [p for p in PERMISSIONS if p != missing]
    apiserver.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "ctl", "namespace": home},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": [g], "resources": [r], "verbs": [v]} for g, r, v in kept],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": home}],
            },
            # What the runtime does in its own namespace, as generated.
            load(provider / "install/role.yaml") | {"metadata": {"name": "ctl", "namespace": home}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "ctl", "namespace": home},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ctl"},
                "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": home}],
            },
        ]
    )
    login = service_account_login(apiserver, "ctl", home, tmp_path)
    log = tmp_path / "controller.log"
    # Cluster-wide, as deployed (watching one namespace would need namespaces: list, or
    # kopf retries that listing for about a minute). Every variant removes its objects,
    # so no other variant's objects are around.
    ctl = start_controller(provider, testbed, login, workdir_root, log, {"POD_NAMESPACE": home})
    started = time.monotonic()
    try:
        refused_in = first_refusal(cycle(apiserver, ns), log, refusal(missing))
    finally:
        ctl.kill()  # a graceful stop costs seconds and proves nothing here
        _release(apiserver, ns)
        apiserver.kubectl("delete", "clusterrolebinding,clusterrole", role, "--wait=false")
    assert refused_in is not None, f"the whole cycle worked without {missing}"
    print(f"refused during {refused_in} after {time.monotonic() - started:.1f} s")


def first_refusal(steps, log: Path, expected: str) -> str | None:
    """Run the cycle until ``expected`` shows in the log; returns the step it showed in."""
    for step, action, done in steps:
        action()
        what = f"{step} to finish or {expected!r} to be logged"
        if harness.wait_for(what, _refused_or(done, log, expected), timeout=30) == "refused":
            return step
    return None


def _refused_or(done: Callable[[], bool], log: Path, expected: str) -> Callable[[], Any]:
    def check() -> Any:
        if expected in log.read_text(errors="replace"):
            return "refused"
        return done() and "done"

    return check


def _release(apiserver, ns: str) -> None:
    """Drop the finalizers a crippled controller could not remove, and the objects."""
    for plural in ("ids", "pets"):
        listed = apiserver.get_json(f"{plural}.{KINDS_GROUP}", "-n", ns)
        for item in listed.get("items", []):
            apiserver.kubectl(
                "patch", f"{plural}.{KINDS_GROUP}", item["metadata"]["name"], "-n", ns,
                "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
            )  # fmt: skip
        apiserver.kubectl("delete", f"{plural}.{KINDS_GROUP}", "--all", "-n", ns, "--wait=false")
    # The cluster-wide config outlives the namespace: without its finalizer and gone, the
    # next variant's controller must add the finalizer again (clusterproviderconfigs:patch).
    config = f"clusterproviderconfigs.{CONFIG_GROUP}"
    if apiserver.kubectl("get", config, "default", check=False).returncode == 0:
        apiserver.kubectl(
            "patch", config, "default", "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
        )
        apiserver.kubectl("delete", config, "default", "--wait=false")


# --- the Dockerfile's mirror steps, run with the test bed's tofu ------------------------


def test_dockerfile_mirror_steps_work_offline(testbed, provider, tmp_path):
    """The download stage's `RUN` that fills the mirror and the `tofu` stage's `RUN` that
    writes the CLI config and proves it, run as written (paths moved under tmp_path; the
    test bed's mirror stands in for the registry); then a fresh `tofu init` with only the
    written CLI config succeeds."""
    text = (provider / "Dockerfile").read_text().replace("\\\n", " ")
    fill, check = [line for line in text.splitlines() if "tofu init" in line]
    assert "TF_PLUGIN_CACHE_DIR" in fill and "TF_CLI_CONFIG_FILE" in check

    def script(line: str) -> str:
        line = line.removeprefix("RUN ").replace(packaging.MIRROR, str(tmp_path / "mirror"))
        return line.replace(packaging.CLI_CONFIG, str(tmp_path / "tofurc"))

    build = tmp_path / "obtain"
    build.mkdir()
    env = {
        "PATH": f"{testbed.tofu.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TF_CLI_CONFIG_FILE": str(testbed.cli_config),  # the registry, offline
    }
    done = subprocess.run(
        ["bash", "-c", script(fill)],
        cwd=build,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    binary = "*/hashicorp/random/*/*/terraform-provider-random*"  # the mirror layout
    assert list((tmp_path / "mirror").glob(binary)), done.stdout
    checked = tmp_path / "check"
    checked.mkdir()
    done = subprocess.run(
        ["bash", "-c", script(check)],
        cwd=checked,
        env={k: v for k, v in env.items() if k != "TF_CLI_CONFIG_FILE"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Installed hashicorp/random" in done.stdout

    # As in the image: only the generated CLI config, no plugin cache, no registry.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "main.tf.json").write_text((build / "main.tf.json").read_text())
    env["TF_CLI_CONFIG_FILE"] = str(tmp_path / "tofurc")
    done = subprocess.run(
        [str(testbed.tofu), "init", "-input=false", "-no-color"],
        cwd=fresh,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    # Installed as a link into the mirror, not a copy: the emptyDir holds no binaries.
    providers = (fresh / ".terraform/providers").glob("*/hashicorp/random/*/*")
    (installed,) = [p for p in providers if p.suffix != ".lock"]  # tofu's lock file
    assert installed.is_symlink()
    assert os.readlink(installed).startswith(str(tmp_path / "mirror"))


def test_make_manifests_sets_the_image(testbed, tmp_path):
    """The scaffolded Makefile's `manifests` target, run for real (jetgen and the test
    bed's kubectl): build/install.yaml holds every object with the image replaced."""
    assert cli.main(["new", "shapes", "--directory", str(tmp_path / "repo")]) == 0
    repo = tmp_path / "repo"
    (repo / "schema.json").write_bytes(EVERY_SHAPE.read_bytes())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [
            "make",
            "manifests",
            f"KUBECTL={testbed.kubectl}",
            "IMAGE_NAME=reg.example/p",
            "IMAGE_TAG=v1",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    documents = list(yaml.safe_load_all((repo / "build/install.yaml").read_text()))
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "reg.example/p:v1"
    listed = load(repo / "install/kustomization.yaml")["resources"]
    assert len(documents) == len(listed)


# --- read-only root filesystem -----------------------------------------------------------

# Run a command in a private mount namespace where / is read-only and only $1 (a fresh
# tmpfs) is writable: what the Deployment's readOnlyRootFilesystem + emptyDir give the pod.
READ_ONLY_ROOT = r"""
set -e
writable="$1"; shift
mount --make-rprivate /
mount -o remount,ro,bind /
mount -t tmpfs -o mode=0700 tmpfs "$writable"
if touch /.jetgen-rw-probe 2>/dev/null; then echo "the root is writable" >&2; exit 97; fi
exec "$@"
"""


def test_controller_writes_only_where_the_image_points_it(apiserver, testbed, provider, tmp_path):
    """The image's environment (HOME, TMPDIR, workdir root under one writable path) on a
    read-only root: the controller creates and deletes an MR, and nothing fails to write."""
    writable = tmp_path / "writable"
    writable.mkdir()
    env = {
        name: value.replace(packaging.WRITABLE, str(writable))
        for name, value in packaging.image_env().items()
        if name not in ("TF_CLI_CONFIG_FILE", "JETGEN_TERRAFORM", "JETGEN_LOG_JSON")
    }  # tofu and its CLI config stay the test bed's; the log stays readable text
    ctl = Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=Path(env["JETGEN_WORKDIR_ROOT"]),
        log=tmp_path / "controller.log",  # opened by this process, outside the namespace
        poll=5,
        env=env,
    )
    ctl.args = ["unshare", "--mount", "sh", "-c", READ_ONLY_ROOT, "sh", str(writable), *ctl.args]
    ns = apiserver.create_namespace("rbac-ro")
    seed = objects(ns)[1]
    with ctl:
        apiserver.apply(seed)
        harness.wait_for(
            "Id Ready", lambda: is_ready(get(apiserver, f"ids.{KINDS_GROUP}", "seed", ns))
        )
        apiserver.kubectl("delete", f"ids.{KINDS_GROUP}/seed", "-n", ns, "--wait=false")
        harness.wait_for(
            "Id gone", lambda: get(apiserver, f"ids.{KINDS_GROUP}", "seed", ns) is None
        )
    logs = ctl.logs()
    assert "root is writable" not in logs
    assert "read-only file system" not in logs.lower(), logs[-3000:]
