"""Packaging of a generated provider: install manifests, Crossplane metadata, Dockerfile,
the scaffolded Makefile.  Fast: no test bed (tests/generator/test_packaging_e2e.py puts
the same files on a real apiserver and runs the controller with the generated RBAC)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from jetgen.generator import cli, packaging
from jetgen.runtime import cli as runtime_cli
from jetgen.runtime.config import Credential, PackageMetadata, ProviderConfiguration, Reference

from tests.generator.paths import EVERY_SHAPE
from tests.generator.shapes import info_for


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A provider repository (``jetgen new`` + the every-shape schema), generated."""
    base = tmp_path_factory.mktemp("packaging")
    args = ["--version", "1.2.3", "--directory", str(base / "r"), "--schema", str(EVERY_SHAPE)]
    assert cli.main(["new", "shapes", *args]) == 0
    repo = base / "r"
    assert cli.main(["generate", "--repo", str(repo), "--no-models"]) == 0
    return repo


def test_kustomization_lists_every_install_file_and_crd(repo):
    install = repo / "install"
    listed = load(install / "kustomization.yaml")["resources"]
    on_disk = sorted(
        p.relative_to(install).as_posix()
        for p in install.rglob("*.yaml")
        if p.name
        not in ("kustomization.yaml", "providerconfig.yaml", "deploymentruntimeconfig.yaml")
    )
    assert sorted(listed) == on_disk
    # The namespace exists before anything is put into it; CRDs before the controller.
    assert listed[0] == "namespace.yaml"
    assert listed.index("deployment.yaml") > max(
        i for i, f in enumerate(listed) if f.startswith("crds/")
    )


def test_names_fit_together(repo):
    install = repo / "install"
    account = load(install / "serviceaccount.yaml")["metadata"]
    binding = load(install / "clusterrolebinding.yaml")
    role = load(install / "clusterrole.yaml")
    deploy = load(install / "deployment.yaml")
    namespace = load(install / "namespace.yaml")["metadata"]["name"]
    assert account["namespace"] == deploy["metadata"]["namespace"] == namespace
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": namespace}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    pod = deploy["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == account["name"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    meta = load(repo / "package" / "crossplane.yaml")
    (container,) = pod["spec"]["containers"]
    assert meta["metadata"]["name"] == account["name"] == container["image"].split(":")[0]


def test_deployment_is_locked_down(repo):
    pod = load(repo / "install" / "deployment.yaml")["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    # Every writable path the image names is on the pod's emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    env = dockerfile_env(repo / "Dockerfile")
    for writable in (env["TMPDIR"], env["HOME"], env["JETGEN_WORKDIR_ROOT"]):
        mount = next(m for m in mounts if writable == m or writable.startswith(m + "/"))
        assert mounts[mount] in empty_dirs, writable


def test_ports_probes_and_metrics_annotations_agree(repo):
    pod = load(repo / "install" / "deployment.yaml")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["JETGEN_METRICS_PORT"]) == ports["metrics"]
    assert int(env["JETGEN_HEALTH_PORT"]) == ports["health"]
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == ports["metrics"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    # The runtime reads every variable the Deployment sets.
    set_env = {name: value for name, value in env.items() if value is not None}
    assert_runtime_reads(set_env)


def test_crossplane_runtime_config_carries_the_deployments_settings(repo):
    """The DeploymentRuntimeConfig sets on Crossplane's runtime container what the
    Deployment sets on its own, except what Crossplane gives itself (the image, the
    ServiceAccount, POD_NAMESPACE)."""
    config = load(repo / "install" / "deploymentruntimeconfig.yaml")
    deploy = load(repo / "install" / "deployment.yaml")
    assert config["apiVersion"] == "pkg.crossplane.io/v1beta1"
    assert config["kind"] == "DeploymentRuntimeConfig"
    meta = load(repo / "package" / "crossplane.yaml")
    assert config["metadata"]["name"] == meta["metadata"]["name"]
    template = config["spec"]["deploymentTemplate"]["spec"]["template"]
    pod = deploy["spec"]["template"]
    assert template["metadata"]["annotations"] == pod["metadata"]["annotations"]
    ours = {k: v for k, v in pod["spec"].items() if k not in ("containers", "serviceAccountName")}
    assert template["spec"] == ours | {"containers": template["spec"]["containers"]}
    assert "serviceAccountName" not in template["spec"]
    (runtime,) = template["spec"]["containers"]
    (container,) = pod["spec"]["containers"]
    assert runtime["name"] == "package-runtime"  # the container Crossplane puts the image in
    assert runtime["env"] == [e for e in container["env"] if e["name"] != "POD_NAMESPACE"]
    given_by_crossplane = {"name", "image", "imagePullPolicy", "env"}
    assert {k: v for k, v in runtime.items() if k not in given_by_crossplane} == {
        k: v for k, v in container.items() if k not in given_by_crossplane
    }
    for setting in ("ports", "livenessProbe", "readinessProbe", "resources", "securityContext"):
        assert runtime[setting], setting


def test_rbac_rules_follow_the_kinds():
    config = ProviderConfiguration(name="shapes", source="example/shapes")
    config.resource("shapes_legacy_thing").references.append(
        Reference(field="value", kind="Cluster")
    )
    rules = packaging.rbac_rules(info_for(config))
    flat = {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert ("lke.shapes.m.jetgen.dev", "clusters", "get") in flat  # a reference target
    assert ("legacy.shapes.m.jetgen.dev", "things", "get") not in flat  # only the target
    for group, plural in [
        ("lke.shapes.m.jetgen.dev", "clusters"),
        ("shapes.m.jetgen.dev", "widgets"),
    ]:
        assert {v for g, r, v in flat if (g, r) == (group, plural)} >= {"list", "watch", "patch"}
        assert {v for g, r, v in flat if (g, r) == (group, f"{plural}/status")} == {"patch"}
    # Reading Secrets by list+watch (the read cache); updating (state saves) and deleting
    # them only in its own namespace: the Role.
    assert {v for g, r, v in flat if r == "secrets"} == {"get", "create", "list", "patch", "watch"}
    assert {v for g, r, v in flat if r == "events"} == {"create"}
    assert {r for g, r, v in flat if g == "shapes.m.jetgen.dev" and v == "get"} == {
        "providerconfigs",
        "clusterproviderconfigs",
    }
    # Never more than asked for: no wildcards, no delete, nothing on other core objects.
    assert not any("*" in (g, r, v) for g, r, v in flat)
    assert not any(v in ("delete", "deletecollection", "escalate", "bind") for _, _, v in flat)
    assert {r for g, r, _ in flat if g == ""} == {"secrets", "events"}


def test_own_namespace_role_holds_the_lease_and_state_secrets(repo):
    install = repo / "install"
    role, binding = load(install / "role.yaml"), load(install / "rolebinding.yaml")
    account = load(install / "serviceaccount.yaml")["metadata"]
    assert role["metadata"]["namespace"] == account["namespace"] == binding["metadata"]["namespace"]
    flat = {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert flat == {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
        ("", "secrets", "update"),
        ("", "secrets", "delete"),
        ("", "secrets", "list"),
    }
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    pod = load(install / "deployment.yaml")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["JETGEN_LEADER_ELECT"]["value"] == "1"
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_cluster_scope_has_one_provider_config_kind():
    config = ProviderConfiguration(name="shapes", source="example/shapes", scope="Cluster")
    info = info_for(config)
    rules = packaging.rbac_rules(info)
    config_rule = next(
        r for r in rules if r["apiGroups"] == [info.config_group] and "get" in r["verbs"]
    )
    assert config_rule["resources"] == ["providerconfigs"]
    (example,) = packaging.provider_config_example(info)
    assert (
        example["kind"] == "ProviderConfig" and example["spec"]["credentials"]["source"] == "None"
    )
    # MRDs need Crossplane v2, whichever shape the managed resources have.
    meta = packaging.crossplane_package(info, PackageMetadata(), "jetgen.yaml")
    assert meta["spec"]["crossplane"] == {"version": ">=v2.0.0-0"}


def test_provider_config_example_names_every_credential_key():
    config = ProviderConfiguration(
        name="shapes",
        source="example/shapes",
        credentials=[
            Credential(key="token", env="SHAPES_TOKEN"),
            Credential(key="password", argument="api_key"),
        ],
    )
    secret, provider_config = packaging.provider_config_example(info_for(config))
    assert set(secret["stringData"]) == {"token", "password"}
    ref = provider_config["spec"]["credentials"]["secretRef"]
    assert (ref["name"], ref["namespace"]) == (
        secret["metadata"]["name"],
        secret["metadata"]["namespace"],
    )
    assert provider_config["kind"] == "ClusterProviderConfig"
    assert provider_config["metadata"]["name"] == "default"  # what MRs use when naming none


def test_example_file_holds_both_documents(repo):
    documents = list(yaml.safe_load_all((repo / "install/providerconfig.yaml").read_text()))
    assert [d["kind"] for d in documents] == ["Secret", "ClusterProviderConfig"]


# --- Dockerfile ------------------------------------------------------------------------


def stages(text: str) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) grouped by FROM."""
    joined = re.sub(r"\\\n", " ", text)
    out: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def dockerfile_env(path: Path) -> dict[str, str]:
    final = stages(path.read_text())[-1]
    env: dict[str, str] = {}
    for line in final:
        if line.startswith("ENV "):
            for pair in re.findall(r'(\w+)="([^"]*)"', line):
                env[pair[0]] = pair[1]
    return env


def assert_runtime_reads(env: dict[str, str]) -> None:
    """Every JETGEN_* (and TF_CLI_CONFIG_FILE) in ``env`` changes what the runtime's
    command line parses: a misspelt variable would change nothing."""
    with_all = _parsed(env)
    for name in env:
        if name.startswith("JETGEN_") or name == "TF_CLI_CONFIG_FILE":
            without = _parsed({k: v for k, v in env.items() if k != name})
            assert with_all != without, f"{name} is not read by jetgen-runtime"


def _parsed(env: dict[str, str]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("JETGEN_") or name == "TF_CLI_CONFIG_FILE":
                mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        return vars(runtime_cli.parser().parse_args([]))


def test_dockerfile_shape(repo):
    text = (repo / "Dockerfile").read_text()
    *builders, final = stages(text)
    names = [b[0].split()[-1] for b in builders]
    assert names == ["tofu-download", "tofu-local", "tofu", "build"]
    assert builders[2][0] == "FROM tofu-${TOFU_FROM} AS tofu"  # one of the two, by ARG
    assert not re.search(r"^\s*ADD\b", text, re.MULTILINE)  # no ADD at all, let alone a URL
    # The image itself downloads nothing and runs nothing at build time: it only copies
    # the verified results of the builder stages.
    assert not any(line.startswith("RUN ") for line in final)
    assert not any(re.search(r"https?://", line) for line in final)
    (user,) = [line for line in final if line.startswith("USER ")]
    assert re.fullmatch(r"USER \d+:\d+", user) and int(user.split()[1].split(":")[0]) > 0
    pod = load(repo / "install" / "deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(user.split()[1].split(":")[0])
    (entry,) = [line for line in final if line.startswith("ENTRYPOINT ")]
    assert json.loads(entry.removeprefix("ENTRYPOINT "))[1:] == ["-m", "shapes_provider"]
    # What the final stage copies from the builders, and where the runtime looks for it.
    copied = {line.split()[-1] for line in final if line.startswith("COPY --from=")}
    env = dockerfile_env(repo / "Dockerfile")
    assert {env["TF_CLI_CONFIG_FILE"], env["JETGEN_TERRAFORM"], packaging.MIRROR} <= copied
    assert_runtime_reads(env)
    settings = runtime_cli.settings_from(_namespace(env))
    assert str(settings.workdir_root) == env["JETGEN_WORKDIR_ROOT"]
    assert settings.cli_config == env["TF_CLI_CONFIG_FILE"]
    assert settings.binary == env["JETGEN_TERRAFORM"]


def _namespace(env: dict[str, str]) -> argparse.Namespace:
    return argparse.Namespace(**_parsed(env))


def test_dockerfile_fetches_the_pinned_provider_into_the_mirror_only(repo):
    text = (repo / "Dockerfile").read_text()
    init = re.search(r"printf '%s\\n' '([^']*)' > main.tf.json", text)
    assert init is not None
    required = json.loads(init.group(1))["terraform"]["required_providers"]
    assert required == {"shapes": {"source": "shapes/shapes", "version": "1.2.3"}}
    assert f"TF_PLUGIN_CACHE_DIR={packaging.MIRROR} tofu init" in text
    # The CLI config has a filesystem mirror and no `direct` block: nothing else is used.
    config = re.search(r"printf '(provider_installation.*?)' > ", text).group(1)
    assert f'path = "{packaging.MIRROR}"' in config and "direct" not in config
    assert "sha256sum -c" in text  # the tofu download is checked
    # Whichever way tofu and the provider came, an init that has only the written CLI
    # config installs the provider at build time.
    tofu_stage = stages(text)[2]
    assert any(
        line.startswith("RUN ") and f"TF_CLI_CONFIG_FILE={packaging.CLI_CONFIG} tofu init" in line
        for line in tofu_stage
    )


def test_dockerfile_takes_tofu_and_the_provider_from_build_contexts(repo):
    """TOFU_FROM=local: the binary from context `tofu-bin`, only this provider's folder of
    the mirror from context `tofu-mirror`; the default stays the verified download."""
    text = (repo / "Dockerfile").read_text()
    assert "ARG TOFU_FROM=download" in text
    local = next(s for s in stages(text) if s[0].endswith(" AS tofu-local"))
    assert local[1:] == [
        "COPY --from=tofu-bin tofu /usr/local/bin/tofu",
        "COPY --from=tofu-mirror registry.opentofu.org/shapes/shapes/1.2.3"
        f" {packaging.MIRROR}/registry.opentofu.org/shapes/shapes/1.2.3",
    ]


def test_dockerfile_installs_python_packages_offline(repo):
    build = next(s for s in stages((repo / "Dockerfile").read_text()) if s[0].endswith(" AS build"))
    (install,) = [line for line in build if "pip install" in line]
    assert "--no-index --find-links build/wheels" in install and "--no-cache-dir" in install
    assert "pip uninstall --yes --quiet pip setuptools" in install


@pytest.mark.parametrize(
    ("source", "version", "path"),
    [
        ("linode/linode", "3.13.0", "registry.opentofu.org/linode/linode/3.13.0"),
        (
            "registry.terraform.io/hashicorp/random",
            "3.9.0",
            "registry.terraform.io/hashicorp/random/3.9.0",
        ),
        ("hashicorp/random", "", "registry.opentofu.org/hashicorp/random"),
    ],
)
def test_mirror_path(source, version, path):
    info = types.SimpleNamespace(source=source, version=version)
    assert packaging.mirror_path(info) == path


def test_preview_has_manifests_but_no_dockerfile(tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(["generate", "--schema", str(EVERY_SHAPE), "--output", str(out), "--no-models"])
        == 0
    )
    assert (out / "install/deployment.yaml").is_file()
    assert not (out / "Dockerfile").exists()


def test_packaging_is_deterministic_and_owned(repo, tmp_path):
    def digest() -> dict[str, str]:
        yamls = [p for d in ("install", "package") for p in sorted((repo / d).rglob("*.yaml"))]
        paths = [repo / "Dockerfile", *yamls]
        return {
            p.relative_to(repo).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths
        }

    before = digest()
    stray = repo / "install" / "stray.yaml"
    stray.write_text("kind: Nothing\n")
    assert cli.main(["generate", "--repo", str(repo), "--no-models", "--force"]) == 0
    assert digest() == before  # byte-identical, and the stray file is gone
    assert not stray.exists()


# --- Makefile of the scaffold ----------------------------------------------------------


def test_makefile_targets(repo):
    text = (repo / "Makefile").read_text()
    for target in ("generate", "test", "image", "manifests", "run"):
        assert re.search(rf"^{target}:", text, re.MULTILINE), target
    # make parses it, and each target expands to commands (printed, not run).
    targets = ["generate", "test", "image", "manifests", "run"]
    done = make_n(repo, *targets, "BUILDER=docker")
    assert re.search(r"^docker build +-t provider-shapes:latest \.$", done, re.MULTILINE), done
    assert "jetgen wheel build/wheels" in done  # the image installs jetgen from it
    assert "--only-binary=:all: --python-version 3.11" in done  # and its dependencies
    assert "python3 -m shapes_provider" in done
    assert "kubectl kustomize build/manifests > build/install.yaml" in done


def test_makefile_xpkg_builds_the_package_folder_with_the_image_when_made(repo):
    done = make_n(repo, "xpkg", "CROSSPLANE=/opt/crossplane")
    assert "/opt/crossplane xpkg build --package-root=package --examples-root=examples" in done
    assert "--package-file=build/provider-shapes.xpkg" in done
    assert "--embed-runtime-image-tarball" not in done  # no build/image.tar yet
    (repo / "build").mkdir(exist_ok=True)
    (repo / "build" / "image.tar").write_bytes(b"")
    try:
        done = make_n(repo, "xpkg")
    finally:
        (repo / "build" / "image.tar").unlink()
    assert "--embed-runtime-image-tarball=build/image.tar" in done


def make_n(repo: Path, *args: str) -> str:
    """What make would run (printed, not run)."""
    done = subprocess.run(
        ["make", "-n", "-C", str(repo), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_makefile_image_without_a_daemon(repo):
    """buildah: a Debian-made base (its tag keyed by mmdebstrap's inputs), layer cache,
    and tofu plus the provider from this machine when TOFU/TOFU_MIRROR are given."""
    done = make_n(repo, "image", "BUILDER=buildah", "TOFU=/opt/t/bin/tofu", "TOFU_MIRROR=/m")
    (build,) = [line for line in done.splitlines() if line.startswith("buildah build")]
    base = re.search(r"--build-arg PYTHON_IMAGE=localhost/jetgen-python:bookworm-(\w{16}) ", build)
    assert base, build
    assert "mmdebstrap --variant=essential --include=python3,python3-venv,ca-certificates" in done
    assert f"{base.group(1)}.tar" in done  # the cached rootfs is named by the same key
    assert "--build-arg TOFU_FROM=local" in build
    assert "--build-context tofu-bin=/opt/t/bin/ --build-context tofu-mirror=/m" in build
    assert build.endswith("--layers -t provider-shapes:latest .")
    # Another input, another base; a given base is used as it is, nothing made.
    other = make_n(repo, "image", "BUILDER=buildah", "DEBIAN_SUITE=trixie")
    assert "--variant=apt" in other and base.group(1) not in other
    given = make_n(repo, "image", "BUILDER=buildah", "BASE=registry.example/py:3.11")
    assert "--build-arg PYTHON_IMAGE=registry.example/py:3.11" in given
    assert "mmdebstrap" not in given and "TOFU_FROM" not in given


def test_makefile_help_lists_every_target(repo):
    done = subprocess.run(
        ["make", "-s", "-C", str(repo), "help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    listed = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert listed == [
        "generate",
        "test",
        "wheels",
        "base-image",
        "image",
        "image-tar",
        "manifests",
        "xpkg",
        "run",
    ]
