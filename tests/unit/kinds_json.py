"""A small kinds.json to validate (``valid``) and its two kinds (``cluster``, ``pool``),
for the contract's unit tests and the runtime's start-up checks."""

from __future__ import annotations

from typing import Any

CLUSTER, POOL = 0, 1


def valid() -> dict[str, Any]:
    """A small kinds.json with one of everything the validator looks at."""
    group = "lke.acme.m.jetgen.dev"
    return {
        "name": "acme",
        "source": "registry.opentofu.org/acme/acme",
        "version": "~> 1.2",
        "config_group": "acme.m.jetgen.dev",
        "config_version": "v1beta1",
        "scope": "Namespaced",
        "credentials": [{"key": "token", "env": "ACME_TOKEN"}, {"key": "s", "argument": "secret"}],
        "provider_fields": {"url": {"tf_name": "url", "type": "string", "optional": True}},
        "hooks_module": "config",
        "kinds": [
            {
                "kind": "Cluster",
                "group": group,
                "version": "v1alpha1",
                "plural": "clusters",
                "scope": "Namespaced",
                "terraform_type": "acme_lke_cluster",
                "fields": {
                    "id": {"tf_name": "id", "type": "string", "computed": True},
                    "label": {"tf_name": "label", "type": "string", "required": True},
                    "kubeconfig": {
                        "tf_name": "kubeconfig", "type": "string", "computed": True,
                        "sensitive": True,
                    },
                    "pool": {
                        "tf_name": "pool", "type": "list", "optional": True,
                        "item": {
                            "tf_name": "pool", "type": "object",
                            "fields": {"count": {"tf_name": "count", "type": "number"}},
                        },
                    },
                    "controlPlane": {
                        "tf_name": "control_plane", "type": "object", "single": True,
                        "mode": "list", "optional": True,
                        "fields": {"ha": {"tf_name": "high_availability", "type": "bool"}},
                    },
                    "tags": {
                        "tf_name": "tags", "type": "map", "optional": True,
                        "item": {"tf_name": "tags", "type": "string"},
                    },
                },
                "external_name": {"strategy": "identifier_from_provider"},
                "connection_details": [
                    {"key": "kubeconfig", "attribute": "kubeconfig", "transform": "base64decode"},
                    {"key": "ha", "attribute": "control_plane.0.high_availability"},
                    {"key": "count", "attribute": "pool.1.count", "transform": "python:m.sub:f"},
                ],
                "late_init_ignore": ["pool.count"],
                "timeouts": {"create": "20m", "update": "1h30m", "delete": "45s"},
            },
            {
                "kind": "NodePool",
                "group": group,
                "version": "v1alpha1",
                "plural": "nodepools",
                "scope": "Namespaced",
                "terraform_type": "acme_lke_node_pool",
                "fields": {
                    "clusterId": {
                        "tf_name": "cluster_id", "type": "number", "required": True,
                        "ref": "clusterIdRef", "selector": "clusterIdSelector",
                    },
                    "region": {"tf_name": "region", "type": "string", "optional": True},
                },
                "external_name": {
                    "strategy": "template",
                    "template": "{cluster_id}/{region}",
                    "import_id": "{cluster_id},{external_name}",
                },
                "references": [
                    {"field": "cluster_id", "kind": "Cluster", "value_from": "status.atProvider.id"}
                ],
            },
        ],
    }  # fmt: skip


def cluster(data: dict[str, Any]) -> dict[str, Any]:
    return data["kinds"][CLUSTER]


def pool(data: dict[str, Any]) -> dict[str, Any]:
    return data["kinds"][POOL]
