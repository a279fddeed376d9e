"""What a cluster needs to run a generated provider: install manifests and the image.

Fed by the same :class:`ProviderInfo` as the CRDs, this module builds, as plain data:

* ``install/``, for clusters without Crossplane: Namespace, ServiceAccount, a ClusterRole
  holding exactly what the runtime does with the API (see :func:`rbac_rules`), its
  binding, a Role for what it does only in its own namespace (the leader Lease, state
  Secrets: :func:`namespace_rules`) and its binding, the Deployment, every CRD in
  ``install/crds/``, and ``install/kustomization.yaml`` (one ``kubectl apply -k``);
* ``install/providerconfig.yaml``: the default (Cluster)ProviderConfig and its
  credentials Secret, to edit before applying (so it is not part of the kustomization);
* ``install/deploymentruntimeconfig.yaml``: for Crossplane installs, the same pod and
  container settings as the Deployment, as a DeploymentRuntimeConfig (not in the
  kustomization either);
* ``package/``, the Crossplane package and nothing else: ``crossplane.yaml``, the
  ProviderConfig CRDs in ``crds/`` and one ManagedResourceDefinition per managed kind in
  ``mrds/`` (:mod:`jetgen.generator.mrds`);
* ``Dockerfile`` (provider repositories only), rendered from ``templates/Dockerfile.j2``.

Everything written here is a file the generator owns (see :data:`OWNED`).
"""

from __future__ import annotations

import json
from typing import Any

from jetgen.generator import naming, templating
from jetgen.runtime.config import ConfigError, PackageMetadata
from jetgen.runtime.contract import tree
from jetgen.runtime.kinds import ProviderInfo
from jetgen.runtime.provider_requirements import install_config

OWNED = ["install", "package/crds", "package/mrds", "package/crossplane.yaml"]
# Written by jetgen before install/ and examples/ moved out of package/: removed by the
# next generate, or `crossplane xpkg build` would refuse the package folder.
RETIRED = ["package/install", "package/examples", "package/kustomization.yaml"]
PROVIDER_CONFIG_EXAMPLE = "install/providerconfig.yaml"  # not in the kustomization: edit first
# For Crossplane installs (the Provider's spec.runtimeConfigRef); not in the kustomization.
RUNTIME_CONFIG = "install/deploymentruntimeconfig.yaml"
CROSSPLANE_CONTAINER = "package-runtime"  # the container Crossplane runs the package's image in
DOCKERFILE = "Dockerfile"

CROSSPLANE_VERSION = ">=v2.0.0-0"  # ManagedResourceDefinitions came with Crossplane v2
SAFE_START = "safe-start"  # MRDs start Inactive; the provider serves what gets activated
METRICS_PORT = 8080
HEALTH_PORT = 8081
UID = 65532  # the conventional "nonroot" user of distroless images
TOFU_VERSION = "1.10.10"  # the version the test bed runs every end-to-end test with
WRITABLE = "/tmp"  # the only writable path in the container: an emptyDir
MIRROR = "/opt/jetgen/mirror"
CLI_CONFIG = "/opt/jetgen/tofurc"
TOFU = "/usr/local/bin/tofu"
TOFU_REGISTRY = "registry.opentofu.org"  # where tofu resolves a source without a host


def app_name(info: ProviderInfo) -> str:
    """``provider-linode``: the Deployment, ServiceAccount, ClusterRole and image name."""
    return f"provider-{info.name}"


def namespace(info: ProviderInfo) -> str:
    return f"{app_name(info)}-system"


def image(info: ProviderInfo) -> str:
    """A placeholder reference: `make manifests` / a kustomize ``images:`` entry sets the
    real one (the generator cannot know the registry)."""
    return f"{app_name(info)}:latest"


def labels(info: ProviderInfo) -> dict[str, str]:
    return {"app.kubernetes.io/name": app_name(info), "app.kubernetes.io/component": "controller"}


def crd_file(crd: dict[str, Any]) -> str:
    """``crds/<group>_<plural>.yaml``: a CRD's path inside ``install/`` (and, for the
    ProviderConfig kinds, inside ``package/``)."""
    spec = crd["spec"]
    return f"crds/{spec['group']}_{spec['names']['plural']}.yaml"


# --- the image -------------------------------------------------------------------------


def image_env() -> dict[str, str]:
    """Environment the image sets: where tofu, its CLI config and the writable paths are.
    Each ``JETGEN_*`` name is an option of ``jetgen-runtime`` (tests check this)."""
    return {
        "HOME": WRITABLE,  # tofu and Python look here; UID 65532 has no home directory
        "TMPDIR": WRITABLE,
        "PYTHONDONTWRITEBYTECODE": "1",  # the root filesystem is read-only
        "PYTHONUNBUFFERED": "1",
        "TF_CLI_CONFIG_FILE": CLI_CONFIG,  # read by the runtime and by tofu itself
        "JETGEN_TERRAFORM": TOFU,
        "JETGEN_WORKDIR_ROOT": f"{WRITABLE}/jetgen",
        "JETGEN_METRICS_PORT": str(METRICS_PORT),
        "JETGEN_HEALTH_PORT": str(HEALTH_PORT),
        "JETGEN_LOG_JSON": "1",
    }


def dockerfile(info: ProviderInfo) -> str:
    # What `tofu init` reads at build time to fetch (and verify) the provider.
    init_config = install_config(info.source, info.version)
    return templating.render(
        "Dockerfile.j2",
        name=info.name,
        package=naming.package_name(info.name),
        source=info.source,
        version=info.version,
        tofu_version=TOFU_VERSION,
        init_config=json.dumps(init_config, sort_keys=True),
        provider_path=mirror_path(info),
        mirror=MIRROR,
        cli_config=CLI_CONFIG,
        tofu=TOFU,
        uid=UID,
        env=sorted(image_env().items()),
        ports=f"{METRICS_PORT} {HEALTH_PORT}",
    )


def mirror_path(info: ProviderInfo) -> str:
    """``registry.opentofu.org/linode/linode/3.13.0``: the provider's folder in a filesystem
    mirror (all its versions when the version is not pinned), as tofu looks it up."""
    parts = info.source.split("/")
    if len(parts) == 2:  # namespace/type: tofu's own registry
        parts.insert(0, TOFU_REGISTRY)
    if info.version:
        parts.append(info.version)
    return "/".join(parts)


# --- RBAC ------------------------------------------------------------------------------


def rbac_rules(info: ProviderInfo) -> list[dict[str, Any]]:
    """Every permission the runtime uses, and nothing else (docs/packaging.md says why
    each exists; tests/generator/test_packaging_e2e.py removes each and sees a failure)."""
    rules: list[dict[str, Any]] = []
    targets = _reference_targets(info)
    for group in sorted({k.group for k in info.kinds}):
        kinds = [k for k in info.kinds if k.group == group]
        plurals = sorted(k.plural for k in kinds)
        # kopf lists and watches the MRs and patches its finalizer and bookkeeping
        # annotations; the runtime patches the external-name and create annotations.
        rules.append(_rule(group, plurals, ["list", "patch", "watch"]))
        rules.append(_rule(group, [f"{p}/status" for p in plurals], ["patch"]))
        referenced = sorted(k.plural for k in kinds if (k.group, k.kind) in targets)
        if referenced:  # references by name read the target object
            rules.append(_rule(group, referenced, ["get"]))
    configs = ["providerconfigs"]
    if info.scope != "Cluster":
        configs.append("clusterproviderconfigs")
    # Configs are read by every pass; kopf also lists, watches and patches them to keep a
    # finalizer on each one in use by managed resources (runtime/usage.py).
    rules.append(_rule(info.config_group, sorted(configs), ["get", "list", "patch", "watch"]))
    # Credentials, SecretRefs and connection Secrets are read from caches kept by list
    # and watch (runtime/cache.py; get for a name read first); state and connection
    # Secrets are created (the state is read back, the connection data patched).
    # Updating and deleting state Secrets is needed only in the controller's own
    # namespace: see namespace_rules.
    rules.append(_rule("", ["secrets"], ["create", "get", "list", "patch", "watch"]))
    rules.append(_rule("", ["events"], ["create"]))  # kopf posts the runtime's events
    # kopf watches CRDs to start serving a kind whose CRD appears after the controller.
    rules.append(_rule("apiextensions.k8s.io", ["customresourcedefinitions"], ["list", "watch"]))
    return rules


def namespace_rules() -> list[dict[str, Any]]:
    """What the runtime does only in its own namespace (a Role, not the ClusterRole)."""
    return [
        # Leader election: the Lease is read, created once, then renewed / taken over.
        _rule("coordination.k8s.io", ["leases"], ["create", "get", "update"]),
        # State Secrets live here: each save replaces one; a deleted MR's goes (and, at
        # start, those of MRs deleted while no replica ran are listed and deleted).
        _rule("", ["secrets"], ["delete", "list", "update"]),
    ]


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _reference_targets(info: ProviderInfo) -> set[tuple[str, str]]:
    """(group, kind) of every kind a reference points at, found as the runtime finds it:
    the first kind of that name, in the reference's group when it names one."""
    targets = set()
    for kind in info.kinds:
        for ref in kind.references:
            target = tree.kind_named(info.kinds, ref.kind, ref.group)
            if target is not None:
                targets.add((target.group, target.kind))
    return targets


# --- install manifests -----------------------------------------------------------------


def install_manifests(info: ProviderInfo) -> dict[str, dict[str, Any]]:
    """``<file>.yaml`` (inside ``install/``) -> object, in the order ``kubectl apply``
    should see them."""
    name, ns = app_name(info), namespace(info)
    account = {"kind": "ServiceAccount", "name": name, "namespace": ns}
    return {
        "namespace.yaml": {
            "apiVersion": "v1",
            "kind": "Namespace",
            # The pod meets the "restricted" Pod Security Standard; enforce it.
            "metadata": {
                "name": ns,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
        },
        "serviceaccount.yaml": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": labels(info)},
        },
        "clusterrole.yaml": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels(info)},
            "rules": rbac_rules(info),
        },
        "clusterrolebinding.yaml": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels(info)},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [account],
        },
        "role.yaml": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": ns, "labels": labels(info)},
            "rules": namespace_rules(),
        },
        "rolebinding.yaml": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns, "labels": labels(info)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [account],
        },
        "deployment.yaml": deployment(info),
    }


def deployment(info: ProviderInfo) -> dict[str, Any]:
    name = app_name(info)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace(info), "labels": labels(info)},
        "spec": {
            # Replicas elect a leader through a Lease (JETGEN_LEADER_ELECT): any number may
            # run and exactly one reconciles; 2 gives a standby that takes over within
            # ~20 s. A rolling update's new pod waits as a standby until the old one
            # releases the Lease on its way out.
            "replicas": 1,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "selector": {"matchLabels": labels(info)},
            "template": {
                "metadata": {"labels": labels(info), "annotations": _scrape_annotations()},
                "spec": {"serviceAccountName": name, **_pod_settings(_container(info))},
            },
        },
    }


def deployment_runtime_config(info: ProviderInfo) -> dict[str, Any]:
    """``install/deploymentruntimeconfig.yaml``: for Crossplane installs, what the
    Deployment above sets and Crossplane's default lacks, named by the Provider's
    ``spec.runtimeConfigRef``. The same pod and container settings as :func:`deployment`
    (one source), on Crossplane's runtime container; Crossplane itself gives the image,
    the ServiceAccount, the selector and labels, and POD_NAMESPACE."""
    container = {"name": CROSSPLANE_CONTAINER, **_container_settings()}
    return {
        "apiVersion": "pkg.crossplane.io/v1beta1",
        "kind": "DeploymentRuntimeConfig",
        "metadata": {"name": app_name(info), "labels": labels(info)},
        "spec": {
            "deploymentTemplate": {
                "spec": {
                    "selector": {},  # required by the schema; Crossplane sets its own
                    "template": {
                        "metadata": {"annotations": _scrape_annotations()},
                        "spec": _pod_settings(container),
                    },
                }
            }
        },
    }


def _scrape_annotations() -> dict[str, str]:
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }


def _pod_settings(container: dict[str, Any]) -> dict[str, Any]:
    """The pod around the controller's container: non-root, and one emptyDir for the only
    writable path."""
    return {
        # A stopping controller interrupts Terraform runs, which then save their state;
        # give them time to do so.
        "terminationGracePeriodSeconds": 60,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}],
    }


def _container(info: ProviderInfo) -> dict[str, Any]:
    """The controller's container in the Deployment (:func:`_container_settings` plus the
    image and where the controller's own namespace comes from)."""
    settings = _container_settings()
    # Where state Secrets and the leader Lease go: the controller's own namespace.
    pod_namespace = {"fieldRef": {"fieldPath": "metadata.namespace"}}
    return {
        "name": "provider",
        "image": image(info),
        "imagePullPolicy": "IfNotPresent",
        **settings,
        "env": [{"name": "POD_NAMESPACE", "valueFrom": pod_namespace}, *settings["env"]],
    }


def _container_settings() -> dict[str, Any]:
    """Ports, probes, resources and the locked-down security context of the controller's
    container, wherever it runs (the Deployment, a Crossplane DeploymentRuntimeConfig)."""
    probe = {"httpGet": {"path": "/healthz", "port": "health"}}
    return {
        "env": [
            {"name": "JETGEN_LEADER_ELECT", "value": "1"},
            {"name": "JETGEN_METRICS_PORT", "value": str(METRICS_PORT)},
            {"name": "JETGEN_HEALTH_PORT", "value": str(HEALTH_PORT)},
        ],
        "ports": [
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
        ],
        # Starting means importing kinds.json; a large provider may take a while.
        "startupProbe": probe | {"periodSeconds": 2, "failureThreshold": 60},
        "livenessProbe": probe | {"periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3},
        "readinessProbe": probe | {"periodSeconds": 10, "timeoutSeconds": 5},
        # Requests fit the controller plus a few provider processes; the memory limit
        # leaves room for --max-runs (4) provider processes of a large provider.
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": WRITABLE}],
    }


def kustomization(crd_files: list[str], install_files: list[str]) -> dict[str, Any]:
    """``install/kustomization.yaml``: paths relative to ``install/``."""
    # The namespace first (everything else lives in it), CRDs before the controller.
    namespace_file, *rest = install_files
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [namespace_file, *crd_files, *rest],
    }


def provider_config_example(info: ProviderInfo) -> list[dict[str, Any]]:
    """The config MRs use when they name none (``default``), plus its Secret: a
    ClusterProviderConfig for namespaced MRs, the cluster-scoped ProviderConfig in the
    Crossplane v1 shape."""
    kind = "ProviderConfig" if info.scope == "Cluster" else "ClusterProviderConfig"
    config: dict[str, Any] = {
        "apiVersion": f"{info.config_group}/{info.config_version}",
        "kind": kind,
        "metadata": {"name": "default"},
        "spec": {"credentials": {"source": "None"}},
    }
    if not info.credentials:
        return [config]
    secret_name = f"{app_name(info)}-credentials"
    config["spec"]["credentials"] = {
        "source": "Secret",
        "secretRef": {"name": secret_name, "namespace": namespace(info)},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": namespace(info)},
        "type": "Opaque",
        "stringData": {c.key: "" for c in info.credentials},  # fill in before applying
    }
    return [secret, config]


def crossplane_package(info: ProviderInfo, metadata: PackageMetadata, where: str) -> dict[str, Any]:
    """``meta.pkg.crossplane.io`` Provider, the metadata of ``package/``.

    Current Crossplane (v2): no ``spec.controller.image`` (the image is given when the
    package is built, ``crossplane xpkg build --embed-runtime-image``, or with a
    DeploymentRuntimeConfig); the ``safe-start`` capability, since MRDs start Inactive and
    the runtime serves a kind once its CRD exists; ``>=v2.0.0`` for MRDs. ``metadata``
    (``package:`` in jetgen.yaml) gives the source, license and maintainer annotations;
    ``where`` names that file in an error."""
    description = f"Kubernetes provider for the Terraform provider {info.source}"
    if info.version:
        description += f" {info.version}"
    annotations = {"meta.crossplane.io/description": description + ", built with jetgen."}
    for name in ("source", "license", "maintainer"):
        value = getattr(metadata, name)
        if not isinstance(value, str):
            raise ConfigError(f"{where}: package.{name}: expected a string")
        if value.strip():
            annotations[f"meta.crossplane.io/{name}"] = value.strip()
    return {
        "apiVersion": "meta.pkg.crossplane.io/v1",
        "kind": "Provider",
        "metadata": {"name": app_name(info), "annotations": annotations},
        "spec": {
            "crossplane": {"version": CROSSPLANE_VERSION},
            "capabilities": [SAFE_START],
        },
    }
