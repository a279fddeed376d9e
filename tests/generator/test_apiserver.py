"""Generated CRDs and examples on a real kube-apiserver (the test bed's control plane).

For every real schema in ../shared/schemas (next to the repository) and the hand-written
every-shape schema:
all CRDs are accepted and become Established, and every example passes a server-side
dry-run create.  The every-shape kinds are also created for real, to check that values
of every shape survive the apiserver (pruning, CEL rules, empty marker objects).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jetgen.generator import cli

from tests.generator.crds import (
    crd_names,
    create,
    dry_run_examples,
    install_crds,
    remove_crds,
)
from tests.generator.paths import EVERY_SHAPE, SHARED_SCHEMAS
from tests.testbed import controlplane
from tests.testbed.kube import ApiServer

pytestmark = pytest.mark.e2e

# Smallest first, AWS's 987 CRDs last.
SCHEMAS = sorted([*SHARED_SCHEMAS.glob("*.json"), EVERY_SHAPE], key=lambda p: p.stat().st_size)
# A schema with this many CRDs gets a control plane of its own, stopped with them: deleting
# AWS's 987 took ~50 s, and the apiserver stayed slow for minutes after (for the tests that
# followed it on the module's plane).
OWN_PLANE_FROM = 300


@pytest.fixture(scope="module")
def apiserver(testbed, tmp_path_factory) -> Iterator[ApiServer]:
    """A control plane of this module's own, stopped when the module is done: its tests
    install and remove hundreds of CRDs, and the session's serves the worker's other
    modules."""
    with controlplane.running(testbed, tmp_path_factory.mktemp("crd-controlplane")) as plane:
        yield plane.api


def generate(schema: Path, out: Path, *extra: str) -> Path:
    assert (
        cli.main(["generate", "--schema", str(schema), "--output", str(out), "--no-models", *extra])
        == 0
    )
    return out


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda p: p.stem)
def test_crds_established_and_examples_accepted(apiserver, testbed, tmp_path, schema):
    out = generate(schema, tmp_path / "out")
    names = crd_names(out)
    if len(names) >= OWN_PLANE_FROM:
        with controlplane.running(testbed, tmp_path / "controlplane") as plane:
            established_and_examples_accepted(plane.api, schema, out)
        return  # its CRDs went with the plane
    try:
        established_and_examples_accepted(apiserver, schema, out)
    finally:
        started = time.monotonic()
        remove_crds(apiserver, names)
        print(f"{schema.name}: CRDs deleted in {time.monotonic() - started:.1f} s")


def established_and_examples_accepted(apiserver, schema: Path, out: Path) -> None:
    started = time.monotonic()
    names = install_crds(apiserver, out)
    installed = time.monotonic() - started
    namespace = apiserver.create_namespace("gen-" + schema.stem.split("-")[0])
    started = time.monotonic()
    done = dry_run_examples(apiserver, out, namespace)
    dry_run = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    created = [line for line in done.stdout.splitlines() if "created (server dry run)" in line]
    assert len(created) == len(list((out / "examples").rglob("*.yaml")))
    print(
        f"{schema.name}: {len(names)} CRDs established in {installed:.1f} s,"
        f" {len(created)} examples dry-run in {dry_run:.1f} s"
    )


@pytest.fixture(scope="module")
def every_shape(apiserver, tmp_path_factory):
    out = generate(EVERY_SHAPE, tmp_path_factory.mktemp("every-shape"))
    names = install_crds(apiserver, out)
    namespace = apiserver.create_namespace("every-shape")
    yield out, namespace
    remove_crds(apiserver, names)


def widget(name: str, for_provider: dict, **spec) -> dict:
    return {
        "apiVersion": "shapes.m.jetgen.dev/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"forProvider": for_provider, **spec},
    }


REQUIRED = {
    "name": "w",
    "namespace": "ns",
    "passwordSecretRef": {"name": "s", "key": "password"},
    "rule": [{"action": "allow"}],
    "settings": {"mode": "fast"},
}


def test_every_shape_survives_the_apiserver(apiserver, every_shape):
    _, namespace = every_shape
    values = {
        **REQUIRED,
        "marker": {},
        "rule": [{"action": "allow", "match": [{"field": "f", "empty": {}}]}],
        "anything": {"a": [1, "x", {"b": None}], "c": 2.5},
        "point": ["s", 1, True],
        "configObj": {"a": "x", "c": {"d": False}},
        "matrix": [[1, 2], [3]],
        "nestedMap": {"k": {"k2": "v"}},
        "setOfMaps": [{"a": "b"}],
        "ipV4": "1",
        "ipv4": "2",
        "ip_v_4": "3",
        "in": "x",
        "spec": "s",
        "kind": "k",
        "apiVersion": "v",
        "metadata": {"m": "n"},
        "conditions": ["c"],
        "deep": {
            "label": "l",
            "level2": [
                {
                    "level3": [
                        {
                            "tag": "t",
                            "level4": {
                                "key": {
                                    "level5": {
                                        "note": "n",
                                        "level6": [
                                            {
                                                "value": "six",
                                                "secretSecretRef": {"name": "s", "key": "k"},
                                            }
                                        ],
                                    }
                                }
                            },
                        }
                    ]
                }
            ],
        },
        "oneNested": {"x": "one"},
        "nestedMapAttr": {"a": {"y": 1}},
        "named": {"http": {"port": 80}},
        "groupBlock": {"g": "g"},
        "singleBlock": {"keySecretRef": {"name": "s", "key": "k"}, "user": "u"},
    }
    done = create(apiserver, namespace, widget("every-shape", values))
    stored = json.loads(done.stdout)["spec"]["forProvider"]
    assert stored == values  # nothing pruned, nothing changed: {} markers included


def test_missing_required_argument_is_rejected_with_its_name(apiserver, every_shape):
    _, namespace = every_shape
    values = {k: v for k, v in REQUIRED.items() if k != "namespace"}
    done = create(apiserver, namespace, widget("no-namespace", values), check=False)
    assert done.returncode != 0
    assert "spec.forProvider.namespace is a required parameter" in done.stderr


def test_required_argument_may_come_from_init_provider(apiserver, every_shape):
    _, namespace = every_shape
    values = {k: v for k, v in REQUIRED.items() if k != "name"}
    create(apiserver, namespace, widget("init-name", values, initProvider={"name": "n"}))


def test_observe_only_needs_no_arguments(apiserver, every_shape):
    _, namespace = every_shape
    create(apiserver, namespace, widget("observe", {}, managementPolicies=["Observe"]))
    done = create(apiserver, namespace, widget("create", {}), check=False)
    assert done.returncode != 0  # the default policy ["*"] does need them


def test_nested_required_argument_is_rejected(apiserver, every_shape):
    _, namespace = every_shape
    values = {**REQUIRED, "rule": [{"priority": 1}]}
    done = create(apiserver, namespace, widget("no-action", values), check=False)
    assert done.returncode != 0
    assert "action" in done.stderr and "Required value" in done.stderr


def test_defaults_and_status_subresource(apiserver, every_shape):
    _, namespace = every_shape
    obj = json.loads(create(apiserver, namespace, widget("defaults", REQUIRED)).stdout)
    assert obj["spec"]["managementPolicies"] == ["*"]
    assert obj["spec"]["providerConfigRef"] == {"kind": "ClusterProviderConfig", "name": "default"}
    status = {
        "status": {
            "atProvider": {
                "status": "ok",
                "conditions": ["c"],
                "rule": [{"id": "r1"}],
                "computedObjs": [{"id": "x", "size": 1}],
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        }
    }
    apiserver.kubectl(
        "patch",
        "-n",
        namespace,
        "widget",
        "defaults",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    got = apiserver.get_json("-n", namespace, "widget", "defaults")
    assert got["status"]["atProvider"] == status["status"]["atProvider"]
    table = apiserver.kubectl("get", "-n", namespace, "widget", "defaults").stdout
    assert table.split()[:5] == ["NAME", "READY", "SYNCED", "EXTERNAL-NAME", "AGE"]
    assert "True" in table.splitlines()[1]


def test_provider_configs_are_accepted(apiserver, every_shape):
    _, namespace = every_shape
    namespaced = {
        "apiVersion": "shapes.m.jetgen.dev/v1alpha1",
        "kind": "ProviderConfig",
        "metadata": {"name": "pc"},
        "spec": {
            "credentials": {"source": "Secret", "secretRef": {"name": "creds", "key": "token"}},
            "configuration": {
                "endpoint": "https://x",
                "apiKeySecretRef": {"name": "s", "key": "k"},
                "features": {"beta": True},
            },
        },
    }
    got = json.loads(create(apiserver, namespace, namespaced).stdout)
    assert got["spec"]["configuration"]["features"] == {"beta": True}
    cluster = {**namespaced, "kind": "ClusterProviderConfig", "metadata": {"name": "cpc-test"}}
    done = create(apiserver, namespace, cluster, check=False)
    assert done.returncode != 0 and "namespace" in done.stderr  # cluster scope names it
    cluster["spec"]["credentials"]["secretRef"]["namespace"] = "default"
    cluster["spec"]["configuration"]["apiKeySecretRef"]["namespace"] = "default"
    create(apiserver, namespace, cluster)
    apiserver.kubectl("delete", "clusterproviderconfig.shapes.m.jetgen.dev", "cpc-test")


def test_cluster_scope_shape(apiserver, tmp_path):
    config = tmp_path / "repo"
    config.mkdir()
    (config / "jetgen.yaml").write_text("name: shapes\nscope: Cluster\ngroupSuffix: v1.test\n")
    out = generate(EVERY_SHAPE, tmp_path / "out", "--repo", str(config))
    names = install_crds(apiserver, out)
    try:
        done = dry_run_examples(apiserver, out, "default")
        assert done.returncode == 0, done.stderr
        obj = widget("cluster-scoped", REQUIRED)
        obj["apiVersion"] = "shapes.v1.test/v1alpha1"
        obj["spec"]["forProvider"]["passwordSecretRef"]["namespace"] = "default"
        got = json.loads(
            apiserver.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(obj)).stdout
        )
        assert got["spec"]["deletionPolicy"] == "Delete"
        assert got["metadata"].get("namespace") is None
        apiserver.kubectl("delete", "widget.shapes.v1.test", "cluster-scoped")
    finally:
        remove_crds(apiserver, names)


def test_immutable_field_cannot_change(apiserver, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "jetgen.yaml").write_text(
        "name: shapes\ngroupSuffix: imm.test\ninclude: [shapes_lke_cluster]\n"
        "resources:\n  shapes_lke_cluster: {immutable: [region]}\n"
    )
    out = generate(EVERY_SHAPE, tmp_path / "out", "--repo", str(repo))
    names = install_crds(apiserver, out)
    try:
        namespace = apiserver.create_namespace("immutable")
        cluster = {
            "apiVersion": "lke.shapes.m.imm.test/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "c"},
            "spec": {"forProvider": {"label": "a", "region": "eu", "pool": [{"type": "g6"}]}},
        }
        create(apiserver, namespace, cluster)
        patch = ["patch", "-n", namespace, "cluster.lke.shapes.m.imm.test", "c", "--type=merge"]
        apiserver.kubectl(*patch, "-p", '{"spec": {"forProvider": {"label": "b"}}}')
        done = apiserver.kubectl(
            *patch, "-p", '{"spec": {"forProvider": {"region": "us"}}}', check=False
        )
        assert done.returncode != 0 and "region is immutable" in done.stderr
    finally:
        remove_crds(apiserver, names)
