"""The committed reference providers on a real API server (the test bed's).

* provider-linode: every CRD is created in one go and becomes Established, and every
  example passes a server-side dry run.
* provider-linode's LKE examples (values from the Linode docs) become Ready against the
  Linode API stand-in, the committed package as the controller (after the CRD test: that
  one creates every CRD anew).
* provider-linode's Domain (declared ``purePlan`` in its jetgen.yaml), the committed
  package as the controller with the real linode 3.13.0 binary: a settled poll is one
  ReadResource, no plan, and a change made in the stand-in is still found and put back.
* provider-random: its committed CRDs, and its committed package run as the controller
  (``python -m random_provider``: the package finds its own ``kinds.json`` and imports
  its hooks module ``config``), with tofu and the test bed's provider mirror, through
  create -> Ready -> connection Secret -> delete.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time

import pytest
import yaml

from tests.generator.crds import dry_run_examples, install_crds
from tests.linode_standin import StandIn
from tests.providers import lke, reference
from tests.runtime import harness
from tests.runtime.linode_api import change_behind_our_back
from tests.runtime.scrape import Metrics, polls_of
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

GROUP = "random.m.jetgen.dev"


def test_provider_linode_crds_established_and_examples_accepted(reference_apiserver):
    api = reference_apiserver
    crd_files = sorted((reference.LINODE / "install" / "crds").glob("*.yaml"))
    examples = sorted((reference.LINODE / "examples").rglob("*.yaml"))
    # 44 kinds, plus ProviderConfig and ClusterProviderConfig.
    assert (len(crd_files), len(examples)) == (46, 44)

    started = time.monotonic()
    names = install_crds(api, reference.LINODE)
    established = time.monotonic() - started
    assert len(names) == 46

    namespace = api.create_namespace("linode")
    started = time.monotonic()
    done = dry_run_examples(api, reference.LINODE, namespace)
    assert done.returncode == 0, done.stderr[-3000:]
    created = [line for line in done.stdout.splitlines() if "created (server dry run)" in line]
    assert len(created) == len(examples), done.stdout
    print(
        f"provider-linode: {len(names)} CRDs Established in {established:.1f} s,"
        f" {len(created)} examples dry-run in {time.monotonic() - started:.1f} s"
    )

    # An immutable field (jetgen.yaml: immutable) cannot change once set; others can.
    api.kubectl(
        "create", "-n", namespace, "-f", str(reference.LINODE / "examples/lke/cluster.yaml")
    )
    cluster = ["cluster.lke.linode.m.jetgen.dev", "example-cluster", "-n", namespace]
    moved = api.kubectl(
        "patch",
        *cluster,
        "--type=merge",
        "-p",
        '{"spec":{"forProvider":{"region":"elsewhere"}}}',
        check=False,
    )
    assert moved.returncode != 0 and "region is immutable" in moved.stderr, moved.stderr
    api.kubectl("patch", *cluster, "--type=merge", "-p", '{"spec":{"forProvider":{"label":"x"}}}')


LKE = "lke.linode.m.jetgen.dev"
LKE_EXAMPLES = ["lke/cluster.yaml", "lke/node_pool.yaml"]
# The provider's own waits between polls of the API, shortened (provider arguments).
FAST_PROVIDER = {"eventPollMs": 300, "lkeEventPollMs": 300, "minRetryDelayMs": 300}


def test_lke_examples_from_the_docs_become_ready(testbed, reference_apiserver, tmp_path):
    api = reference_apiserver
    harness.install_crds(api, reference.LINODE)
    ns = api.create_namespace("linode-examples")
    token = secrets.token_hex(16)
    access = lke.admin_access(api)
    with StandIn(token, access, node_ready_seconds=1, kubeconfig_seconds=1) as standin:
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "linode-token", "namespace": ns},
                "stringData": {"token": token},
            }
        )
        api.apply(
            {
                "apiVersion": "linode.m.jetgen.dev/v1alpha1",
                "kind": "ClusterProviderConfig",
                "metadata": {"name": "default"},
                "spec": {
                    "credentials": {
                        "source": "Secret",
                        "secretRef": {"name": "linode-token", "namespace": ns},
                    },
                    "configuration": {"url": standin.url, **FAST_PROVIDER},
                },
            }
        )
        documents = [
            yaml.safe_load((reference.LINODE / "examples" / p).read_text()) for p in LKE_EXAMPLES
        ]
        api.apply([{**d, "metadata": {**d["metadata"], "namespace": ns}} for d in documents])
        with lke.package_controller(testbed, api, tmp_path, ns, poll=10):
            ready = {}
            wanted = (("clusters", "example-cluster"), ("nodepools", "example-nodepool"))
            for plural, name in wanted:

                def check(plural=plural, name=name):
                    obj = harness.get(api, f"{plural}.{LKE}", name, ns)
                    return obj if harness.is_ready(obj) else None

                ready[plural] = harness.wait_for(f"{plural}/{name} Ready", check, 240, 1)
        assert standin.problems() == []
        cluster = standin.cluster_by_label("my-cluster")
        assert cluster is not None, standin.clusters()
        assert (cluster["region"], cluster["k8s_version"]) == ("us-central", "1.32")
        pool_id = int(ready["nodepools"]["metadata"]["annotations"]["crossplane.io/external-name"])
        assert ready["nodepools"]["status"]["atProvider"]["clusterId"] == cluster["id"]
        # The docs' pool of the cluster (3 x g6-standard-2) and the NodePool's own pool.
        pools = {p["id"]: (p["type"], p["count"]) for p in cluster["pools"]}
        assert pools[pool_id] == ("g6-standard-2", 3)
        assert ("g6-standard-2", 3) in [v for k, v in pools.items() if k != pool_id]


DOMAINS = "domains.linode.m.jetgen.dev"


def plugin_rpcs(metrics: Metrics) -> dict[str, int]:
    """Plugin-protocol calls the controller made so far, per RPC."""
    pattern = r'jetgen_plugin_rpcs_total\{operation="(\w+)"\} (\S+)'
    return {op: int(float(n)) for op, n in re.findall(pattern, metrics.text())}


def test_settled_domain_polls_only_read_and_still_find_drift(
    testbed, reference_apiserver, tmp_path
):
    api = reference_apiserver
    kinds = json.loads((reference.LINODE / "linode_provider" / "kinds.json").read_text())
    assert [k.get("pure_plan") for k in kinds["kinds"] if k["kind"] == "Domain"] == [True]
    harness.install_crds(api, reference.LINODE)
    ns = api.create_namespace("linode-domain-polls")
    token = secrets.token_hex(16)
    port = free_port()
    metrics = Metrics(port)
    # The committed example (tags too: the provider folds their case against the state
    # while planning), with a ProviderConfig of the test's namespace.
    example = yaml.safe_load((reference.LINODE / "examples/linode/domain.yaml").read_text())
    wanted = example["spec"]["forProvider"]
    ref = {"kind": "ProviderConfig", "name": "linode"}
    with StandIn(token) as standin:
        lke.provider_config(api, ns, standin, token)
        api.apply(
            {
                **example,
                "metadata": {"name": "zone", "namespace": ns},
                "spec": {**example["spec"], "providerConfigRef": ref},
            }
        )
        ctl = lke.package_controller(testbed, api, tmp_path, ns, poll=2)
        ctl.args += ["--metrics-port", str(port)]
        with ctl:
            harness.wait_for("Domain Ready", lambda: lke.ready(api, DOMAINS, "zone", ns), 120)

            def unchanged() -> int:
                return polls_of(metrics, "Domain", "unchanged")

            # The first settled poll plans (and remembers that nothing was planned) ...
            harness.wait_for("two unchanged polls", lambda: unchanged() >= 2, 60)
            before, polls = plugin_rpcs(metrics), unchanged()
            harness.wait_for("four more", lambda: unchanged() >= polls + 4, 4 * 2 + 30)
            after, settled = plugin_rpcs(metrics), unchanged() - polls
            made = {op: n - before.get(op, 0) for op, n in after.items()}
            # ... the later ones only read: no plan, no state upgrade (the client's own
            # memo), one ReadResource each (one more if a poll had read but was not
            # counted yet when the figures were taken).
            assert made.get("plan_resource_change", 0) == 0, (made, settled)
            assert made.get("upgrade_resource_state", 0) == 0, (made, settled)
            assert settled <= made.get("read_resource", 0) <= settled + 1, (made, settled)
            assert polls_of(metrics, "Domain", "drift") == 0, ctl.logs()

            # The refresh of every poll still sees a change made behind our back.
            (remote,) = standin.domains()
            change_behind_our_back(standin, remote["id"], {"soa_email": "someone@else.example"})
            harness.wait_for(
                "the drift found", lambda: polls_of(metrics, "Domain", "drift") >= 1, 2 * 2 + 30
            )
            harness.wait_for(
                "the domain put back",
                lambda: standin.domains()[0]["soa_email"] == wanted["soaEmail"],
                60,
            )
        assert standin.problems() == []
    print(f"provider-linode: {settled} settled Domain polls made {made}")


def package_controller(testbed, api, tmp_path, namespace: str) -> harness.Controller:
    """The harness's controller, but started as the committed package's own entry point
    instead of ``jetgen.runtime.cli --kinds``."""
    controller = harness.Controller(
        kinds=reference.RANDOM / "random_provider" / "kinds.json",
        apiserver=api,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=5,
        namespace=namespace,
        # The package and its hooks module come from the committed directory.
        env={"PYTHONPATH": str(reference.RANDOM)},
    )
    assert controller.args[1:4] == ["-m", "jetgen.runtime.cli", "--kinds"]
    controller.args[1:5] = ["-m", "random_provider"]
    return controller


def mr(kind: str, name: str, namespace: str, for_provider: dict, secret: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"forProvider": for_provider, "writeConnectionSecretToRef": {"name": secret}},
    }


def test_provider_random_committed_package_create_ready_secret_delete(
    testbed, reference_apiserver, tmp_path
):
    api = reference_apiserver
    harness.install_crds(api, reference.RANDOM)
    namespace = api.create_namespace("random")
    api.apply(
        [
            mr("Password", "db", namespace, {"length": 24, "special": False}, "db-password"),
            mr("Bytes", "key", namespace, {"length": 32}, "key-bytes"),
        ]
    )

    def ready(resource: str, name: str):
        obj = harness.get(api, f"{resource}.{GROUP}", name, namespace)
        return obj if harness.is_ready(obj) else None

    started = time.monotonic()
    with package_controller(testbed, api, tmp_path, namespace) as controller:
        password_mr = harness.wait_for("Password Ready", lambda: ready("passwords", "db"), 120)
        bytes_mr = harness.wait_for("Bytes Ready", lambda: ready("bytes", "key"), 60)
        took = time.monotonic() - started
        secret = harness.wait_for(
            "connection Secret of the Password",
            lambda: harness.secret_data(api, "db-password", namespace),
        )
        raw = harness.wait_for(
            "connection Secret of the Bytes",
            lambda: harness.secret_data(api, "key-bytes", namespace),
        )

        # The hook's keys, next to the automatic attribute.<name> ones.
        password = secret["password"].decode()
        assert len(password) == 24 and password.isalnum()
        assert secret["attribute.result"].decode() == password
        assert secret["bcrypt_hash"].startswith(b"$2")
        assert len(raw["bytes"]) == 32
        assert base64.b64encode(raw["bytes"]) == raw["attribute.base64"]

        # Sensitive values stay out of the MR, its events and the controller's log.
        assert "result" not in password_mr["status"]["atProvider"]
        assert password_mr["status"]["atProvider"]["length"] == 24
        assert password not in json.dumps(password_mr)
        assert password not in harness.events_text(api, namespace)
        assert password not in controller.logs()
        assert password_mr["metadata"]["annotations"]["crossplane.io/external-name"]

        # The Secret belongs to the MR: deleting the MR deletes it.
        owner = harness.get(api, "secret", "db-password", namespace)["metadata"]["ownerReferences"]
        assert [o["uid"] for o in owner] == [password_mr["metadata"]["uid"]]

        # The controller ran the committed package: kinds.json names source and version.
        assert "provider random (hashicorp/random 3.9.0)" in controller.logs()

        api.kubectl("delete", f"passwords.{GROUP}", "db", "-n", namespace, "--wait=false")
        harness.wait_for(
            "the Password MR to be gone (destroy done, finalizer removed)",
            lambda: harness.get(api, f"passwords.{GROUP}", "db", namespace) is None,
            60,
        )
        assert "DeletedExternalResource" in harness.events_text(api, namespace)
        assert harness.get(api, f"bytes.{GROUP}", "key", namespace) is not None
        assert bytes_mr["metadata"]["finalizers"] == ["jetgen.dev/finalizer"]
    print(f"provider-random: two MRs Ready {took:.1f} s after the controller started")
