"""A new Linode domain and LKE cluster are settled by their create: the polls after it
find nothing changed, re-apply nothing and write nothing to the apiserver.

Real linode/linode 2.37.0 (the side-by-side benchmark's release, from the test bed's
mirror) against the Linode API stand-in; provider-linode generated for the two kinds from
the shared 2.37.0 schema.  Both kinds come from the legacy SDK, whose create records null
where its read says empty (the domain's ``master_ips``, a pool's ``labels`` and
``tags``): every MR's first poll used to find that "drift" and re-apply (refresh, apply, a
state Secret PUT, a status PATCH, two more API reads).

The domain kind is declared ``purePlan`` (its plan reads neither the clock nor the API):
its settled polls plan once and then only refresh, and a change made behind the
controller's back is still found and put back.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest

from tests.generator.paths import LINODE
from tests.linode_standin import StandIn
from tests.providers.lke import admin_access
from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.linode_api import change_behind_our_back
from tests.runtime.scrape import Metrics, polls_of, polls_of_text
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

POLL = 2.0
GROUP = "linode.m.jetgen.dev"
FAST = {"eventPollMs": 300, "lkeEventPollMs": 300, "minRetryDelayMs": 300,
        "maxRetryDelayMs": 1000}  # fmt: skip


@pytest.fixture(scope="module")
def linode_provider(testbed, apiserver, tmp_path_factory) -> Path:
    assert LINODE.is_file(), f"{LINODE}: the shared linode 2.37.0 schema is missing"
    out = harness.generate(
        LINODE,
        tmp_path_factory.mktemp("linode"),
        "linode",
        testbed.providers["linode-v2"],
        {
            "include": ["linode_domain", "linode_lke_cluster"],
            "credentials": [{"key": "token", "env": "LINODE_TOKEN"}],
            "resources": {"linode_domain": {"purePlan": True}},
        },
        namespace="linode",
        registry="registry.terraform.io",
    )
    harness.install_crds(apiserver, out)
    kinds = json.loads(harness.kinds_file(out).read_text())["kinds"]
    assert {k["kind"]: k.get("pure_plan", False) for k in kinds} == {
        "Domain": True,
        "Cluster": False,
    }
    return out


def plans_and_polls(metrics: Metrics) -> tuple[int, int, int]:
    """PlanResourceChange calls the controller made so far and the unchanged polls of the
    domain and the cluster, read at one moment."""
    text = metrics.text()
    found = re.search(r'jetgen_plugin_rpcs_total\{operation="plan_resource_change"\} (\S+)', text)
    plans = int(float(found.group(1))) if found else 0
    return (
        plans,
        polls_of_text(text, "Domain", "unchanged"),
        polls_of_text(text, "Cluster", "unchanged"),
    )


def ready(apiserver, resource: str, name: str, ns: str):
    return lambda: is_ready(get(apiserver, resource, name, ns))


def versions(apiserver, resource: str, ns: str) -> dict[str, str]:
    items = apiserver.get_json(resource, "-n", ns)["items"]
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}


def test_new_domain_and_cluster_polls_make_no_apply_and_no_write(
    apiserver, testbed, linode_provider, tmp_path
):
    ns = apiserver.create_namespace("linode-polls")
    token = f"lin-{secrets.token_hex(16)}"
    port = free_port()
    metrics = Metrics(port)
    ref = {"kind": "ProviderConfig", "name": "linode"}
    with StandIn(token, admin_access(apiserver), node_ready_seconds=1, kubeconfig_seconds=1) as api:
        apiserver.apply(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "linode-token", "namespace": ns},
                    "stringData": {"token": token},
                },
                {
                    "apiVersion": f"{GROUP}/v1alpha1",
                    "kind": "ProviderConfig",
                    "metadata": {"name": "linode", "namespace": ns},
                    "spec": {
                        "credentials": {"source": "Secret", "secretRef": {"name": "linode-token"}},
                        "configuration": {"url": api.url, **FAST},
                    },
                },
                {
                    "apiVersion": f"{GROUP}/v1alpha1",
                    "kind": "Domain",
                    "metadata": {"name": "zone", "namespace": ns},
                    "spec": {
                        "forProvider": {
                            "domain": f"{ns}.example.org",
                            "type": "master",
                            "soaEmail": "dns@example.org",
                        },
                        "providerConfigRef": ref,
                    },
                },
                {
                    "apiVersion": f"lke.{GROUP}/v1alpha1",
                    "kind": "Cluster",
                    "metadata": {"name": "lke", "namespace": ns},
                    "spec": {
                        "forProvider": {
                            "label": ns,
                            "region": "us-east",
                            "k8sVersion": "1.33",
                            "pool": [{"type": "g6-standard-2", "count": 1}],
                        },
                        "providerConfigRef": ref,
                    },
                },
            ]
        )
        ctl = Controller(
            kinds=harness.kinds_file(linode_provider),
            apiserver=apiserver,
            testbed=testbed,
            workdir_root=tmp_path / "work",
            log=tmp_path / "controller.log",
            poll=POLL,
            namespace=ns,
            extra_args=["--metrics-port", str(port), "--state-namespace", ns],
        )
        with ctl:
            for resource, name in (("domains." + GROUP, "zone"), ("clusters.lke." + GROUP, "lke")):
                wait_for(f"{name} Ready", ready(apiserver, resource, name, ns), 120)
            assert metrics.writes() == {"apply": 2}  # one create each
            objects = {
                "domains": versions(apiserver, "domains." + GROUP, ns),
                "clusters": versions(apiserver, "clusters.lke." + GROUP, ns),
                "secrets": versions(apiserver, "secrets", ns),
            }
            calls = len(api.calls())
            planned, *start = plans_and_polls(metrics)

            def four_polls_of_each() -> bool:
                now = plans_and_polls(metrics)[1:]
                return all(n >= s + 4 for n, s in zip(now, start, strict=True))

            wait_for("four polls of each", four_polls_of_each, timeout=8 * POLL + 30)
            assert [polls_of(metrics, k, r) for k in ("Domain", "Cluster") for r in
                    ("drift", "gone", "error")] == [0] * 6, ctl.logs()  # fmt: skip
            assert metrics.writes() == {"apply": 2}, ctl.logs()
            # The cluster plans on every poll; the domain (pure plan) on its first only:
            # at most 2 of its 4 or more polls here (a cluster poll that planned but was
            # not counted yet, at either end, is one plan off), not one each.
            plans, domain_polls, cluster_polls = plans_and_polls(metrics)
            domain_plans = plans - planned - (cluster_polls - start[1])
            assert domain_polls - start[0] >= 4
            assert domain_plans <= 2, (domain_plans, domain_polls - start[0])
            # No apiserver write: the MRs and the state Secrets are as the create left them.
            assert objects == {
                "domains": versions(apiserver, "domains." + GROUP, ns),
                "clusters": versions(apiserver, "clusters.lke." + GROUP, ns),
                "secrets": versions(apiserver, "secrets", ns),
            }
            # The stand-in saw reads only.
            assert {c["method"] for c in api.calls()[calls:]} == {"GET"}
            assert "poll found" not in ctl.logs()

            # A real drift is found with the plan memo on, and put back.
            (domain,) = api.domains()
            change_behind_our_back(api, domain["id"], {"soa_email": "someone@example.org"})
            wait_for(
                "the drift found",
                lambda: polls_of(metrics, "Domain", "drift") >= 1,
                timeout=2 * POLL + 30,
            )
            wait_for(
                "the domain put back",
                lambda: api.domains()[0]["soa_email"] == "dns@example.org",
                timeout=60,
            )
            assert metrics.writes()["apply"] == 3, ctl.logs()  # the drift applied back once
        assert api.problems() == []
