"""provider-random installed by real Crossplane (core v2.3.0) from a loopback registry.

The package is built by the real `crossplane` CLI from the committed package folder (its
ManagedResourceDefinitions; the daemonless image embedded as the package's runtime), pushed
to the test bed's registry on 127.0.0.1, and installed with `kind: Provider`. Crossplane's
package manager installs the MRDs, creates the Deployment, and the node's
kubelet runs it, pulling the image from the registry. The provider declares `safe-start`,
so every MRD stays Inactive and no managed-resource CRD exists until an activation policy
selects kinds; then exactly those CRDs appear and those kinds reconcile, from the same Pod.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.providers import reference
from tests.runtime import harness
from tests.testbed import crossplane

GROUP = "random.m.jetgen.dev"
ACTIVE = ("passwords", "strings")  # the two kinds the policy activates
PROVIDER = "provider-random"
RUNTIME_CONFIG = "deploymentruntimeconfig.yaml"  # generated into install/

pytestmark = pytest.mark.e2e


def runtime_config() -> dict:
    """The generated DeploymentRuntimeConfig: what the install manifests' Deployment sets
    (ports, probes, a writable /tmp on a read-only root, the image's user, resources) for
    Crossplane's runtime container."""
    config = yaml.safe_load((reference.RANDOM / "install" / RUNTIME_CONFIG).read_text())
    assert config["metadata"]["name"] == PROVIDER
    return config


def package_root(target: Path) -> Path:
    """The committed package folder, as `crossplane xpkg build` takes it: crossplane.yaml
    (no `controller.image`, the `safe-start` capability), the ProviderConfig CRDs and one
    Inactive ManagedResourceDefinition per kind."""
    shutil.copytree(reference.RANDOM / "package", target)
    return target


def build_xpkg(work: Path, random_image, testbed) -> Path:
    """The real `crossplane xpkg build`, the daemonless image embedded as its runtime."""
    xpkg = work / "provider-random.xpkg"
    done = subprocess.run(
        [str(testbed.bin("crossplane")), "xpkg", "build",
         f"--package-root={package_root(work / 'package')}",
         f"--embed-runtime-image-tarball={random_image.tarball}", f"--package-file={xpkg}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return xpkg


@pytest.fixture(scope="module")
def installed(node_slot, random_image, testbed, tmp_path_factory):
    """A fresh node (the CRDs of other node tests must not be there), the registry,
    Crossplane, and the Provider installed and healthy."""
    node_slot.stop()
    node = node_slot.get()
    work = tmp_path_factory.mktemp("crossplane")
    registry = crossplane.start_registry(testbed, work)
    plane = None
    try:
        xpkg = build_xpkg(work, random_image, testbed)
        ref = registry.push(xpkg, PROVIDER, "v0.1.0")
        plane = crossplane.start_crossplane(testbed, node.api, work / "crossplane")
        api = node.api
        api.apply(runtime_config())
        api.apply(
            {
                "apiVersion": "pkg.crossplane.io/v1",
                "kind": "Provider",
                "metadata": {"name": PROVIDER},
                "spec": {"package": ref, "runtimeConfigRef": {"name": PROVIDER}},
            }
        )
        started = time.monotonic()
        harness.wait_for("the Provider Installed and Healthy", lambda: healthy(api), 300, 1)
        print(f"Provider applied -> Installed and Healthy: {time.monotonic() - started:.1f} s")
        yield node, ref
    finally:
        if plane is not None:
            plane.stop()
        registry.stop()
        node_slot.stop()  # the next node test starts without Crossplane's objects


def healthy(api) -> bool:
    provider = api.get_json("provider.pkg.crossplane.io", PROVIDER)
    conditions = {c["type"]: c["status"] for c in provider.get("status", {}).get("conditions", [])}
    return conditions.get("Installed") == "True" and conditions.get("Healthy") == "True"


def provider_pod(api) -> dict:
    items = api.get_json(
        "pods", "-n", crossplane.NAMESPACE, "-l", f"pkg.crossplane.io/provider={PROVIDER}"
    )["items"]
    (pod,) = items
    return pod


def deployment(api) -> dict:
    """The provider's Deployment, found by its pods' selector (it carries no labels of
    its own)."""
    items = api.get_json("deployments", "-n", crossplane.NAMESPACE)["items"]
    (found,) = [
        d
        for d in items
        if d["spec"]["selector"]["matchLabels"].get("pkg.crossplane.io/provider") == PROVIDER
    ]
    return found


def contains(whole, part) -> bool:
    """``part`` is in ``whole``: every key it sets with the same value, every list item it
    has somewhere in the list (the apiserver adds defaults such as a probe's scheme, and
    Crossplane adds ports, volumes and mounts of its own, so equality is too strict)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            key in whole and contains(whole[key], value) for key, value in part.items()
        )
    if isinstance(part, list):
        return isinstance(whole, list) and all(any(contains(w, p) for w in whole) for p in part)
    return whole == part


def get_url(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_crossplane_deployment_has_the_generated_runtime_settings_and_probes_pass(installed):
    """Crossplane built the Deployment from the generated DeploymentRuntimeConfig: the
    runtime container has the ports, probes, security context and resources the install
    manifests' Deployment has; the probes pass and the metrics port answers."""
    node, ref = installed
    api = node.api
    want = runtime_config()["spec"]["deploymentTemplate"]["spec"]["template"]
    (want_container,) = want["spec"]["containers"]
    made = deployment(api)["spec"]["template"]
    container = made["spec"]["containers"][0]
    assert container["name"] == "package-runtime" and container["image"] == ref
    for setting in ("ports", "startupProbe", "livenessProbe", "readinessProbe", "resources",
                    "securityContext", "volumeMounts"):  # fmt: skip
        assert contains(container[setting], want_container[setting]), (setting, container)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    pod_security = made["spec"]["securityContext"]
    assert pod_security["runAsUser"] == pod_security["runAsGroup"] == 65532  # not Crossplane's 2000
    assert pod_security["runAsNonRoot"] is True
    assert contains(made["spec"]["volumes"], want["spec"]["volumes"])
    names = [e["name"] for e in container["env"]]
    assert names.count("POD_NAMESPACE") == 1  # Crossplane's own, not a second copy
    assert contains(container["env"], want_container["env"])

    # The probes pass: the Pod is Ready, never restarted; both ports answer from its IP.
    pod = provider_pod(api)
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Ready"] == "True", pod["status"]
    (status,) = pod["status"]["containerStatuses"]
    assert status["ready"] is True and status["started"] is True
    assert status["restartCount"] == 0
    ip = pod["status"]["podIP"]
    assert get_url(f"http://{ip}:8081/healthz")[0] == 200
    code, scraped = get_url(f"http://{ip}:8080/metrics")
    assert code == 200 and "jetgen_" in scraped


def mrd_states(api) -> dict[str, str]:
    mrds = api.get_json("managedresourcedefinitions.apiextensions.crossplane.io")["items"]
    return {m["metadata"]["name"]: m.get("spec", {}).get("state", "") for m in mrds}


def mr_crds(api) -> set[str]:
    crds = api.get_json("crds")["items"]
    names = {c["metadata"]["name"] for c in crds if c["spec"]["group"] == GROUP}
    return names - {f"providerconfigs.{GROUP}", f"clusterproviderconfigs.{GROUP}"}


def test_crossplane_installs_the_package_and_activation_serves_exactly_two_kinds(installed):
    node, ref = installed
    api = node.api
    pod = provider_pod(api)
    (container,) = pod["spec"]["containers"]
    assert container["image"] == ref  # pulled by the node's containerd from the registry
    assert pod["spec"]["nodeName"] == node.name
    assert pod["status"]["phase"] == "Running"

    # safe-start: every MRD Inactive, no managed-resource CRD at all.
    states = mrd_states(api)
    assert len(states) == 10 and set(states.values()) == {"Inactive"}, states
    assert mr_crds(api) == set()

    api.apply(
        {
            "apiVersion": "apiextensions.crossplane.io/v1alpha1",
            "kind": "ManagedResourceActivationPolicy",
            "metadata": {"name": "two-kinds"},
            "spec": {"activate": [f"{kind}.{GROUP}" for kind in ACTIVE]},
        }
    )
    expected = {f"{kind}.{GROUP}" for kind in ACTIVE}
    harness.wait_for("the two CRDs", lambda: mr_crds(api) == expected, 120)
    states = mrd_states(api)
    assert {name for name, state in states.items() if state == "Active"} == expected

    namespace = api.create_namespace("xp-random")
    for resource, kind, spec in (
        ("passwords", "Password", {"length": 20, "special": False}),
        ("strings", "String", {"length": 8}),
    ):
        api.apply(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": kind,
                "metadata": {"name": "one", "namespace": namespace},
                "spec": {"forProvider": spec, "writeConnectionSecretToRef": {"name": resource}},
            }
        )
    for resource in ACTIVE:
        harness.wait_for(
            f"the {resource} MR Ready",
            lambda r=resource: harness.is_ready(harness.get(api, f"{r}.{GROUP}", "one", namespace)),
            180,
        )
    assert len(harness.secret_data(api, "passwords", namespace)["password"]) == 20

    # Served without a restart: the same Pod, never restarted.
    after = provider_pod(api)
    assert after["metadata"]["uid"] == pod["metadata"]["uid"]
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    # An inactive kind has no CRD, so the apiserver refuses its objects outright.
    assert mr_crds(api) == expected
