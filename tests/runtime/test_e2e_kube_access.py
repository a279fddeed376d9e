"""End-to-end: the controller's Kubernetes access on the real apiserver.

* An ``exec:`` kubeconfig (how EKS, GKE and AKS authenticate): a small plugin issues a
  real ServiceAccount token (TokenRequest, bound to a Secret so deleting that Secret
  revokes it); the controller reconciles an MR with it, and after the revocation both
  kopf and kube.py switch to the plugin's next token.
* A real 429 from API Priority and Fairness: a FlowSchema sends one user's requests to a
  priority level with almost no seats and no queue; kube.py's requests all succeed, each
  throttled one after the Retry-After the apiserver sent.
* Credentials the apiserver refuses: one line, exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from jetgen.runtime import kube, kubeauth

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for

pytestmark = pytest.mark.e2e

GROUP = "random.m.jetgen.dev"
PLUGIN = r"""
import datetime, json, pathlib, subprocess, sys
KUBECTL, KUBECONFIG, NAMESPACE, ACCOUNT, RUNS = sys.argv[1:6]
runs = pathlib.Path(RUNS)
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
kubectl = [KUBECTL, "--kubeconfig", KUBECONFIG, "-n", NAMESPACE]
bound = f"exec-bound-{n}"
subprocess.run([*kubectl, "create", "secret", "generic", bound], check=True,
               capture_output=True)
token = subprocess.run(
    [*kubectl, "create", "token", ACCOUNT, "--duration", "10m",
     "--bound-object-kind", "Secret", "--bound-object-name", bound],
    check=True, capture_output=True, text=True).stdout.strip()
with open(RUNS + ".tokens", "a") as seen:  # for the test: no token may reach the logs
    seen.write(token + "\n")
expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {"token": token,
               "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
}))
"""


def _service_account(apiserver: Any, namespace: str, name: str) -> None:
    apiserver.kubectl("create", "serviceaccount", name, "-n", namespace)
    apiserver.kubectl(
        "create",
        "clusterrolebinding",
        f"{namespace}-{name}",
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:{name}",
    )


def _exec_kubeconfig(apiserver: Any, tmp_path: Path, args: list[str]) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testbed",
                "cluster": {
                    "server": apiserver.url,
                    "certificate-authority": str(apiserver.ca_file),
                },
            }
        ],
        "users": [
            {
                "name": "exec-user",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": sys.executable,
                        "args": args,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "t", "context": {"cluster": "testbed", "user": "exec-user"}}],
        "current-context": "t",
    }
    path = tmp_path / "exec-kubeconfig"
    path.write_text(json.dumps(config))
    return path


def test_exec_kubeconfig_reconciles_and_survives_token_revocation(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("exec-auth")
    _service_account(apiserver, ns, "controller")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    runs = tmp_path / "runs"
    args = [str(plugin), str(apiserver.kubectl_binary), str(apiserver.kubeconfig), ns]
    kubeconfig = _exec_kubeconfig(apiserver, tmp_path, [*args, "controller", str(runs)])
    ctl = Controller(
        kinds=harness.kinds_file(random_provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        namespace=ns,
        extra_args=["--kubeconfig", str(kubeconfig)],  # the last --kubeconfig wins
    )
    resource = "passwords." + GROUP

    def ready(generation: int) -> Any:
        obj = get(apiserver, resource, "db", ns)
        done = obj and is_ready(obj) and obj["status"].get("observedGeneration") == generation
        return done and obj

    def password(length: int) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "Password",
            "metadata": {"name": "db", "namespace": ns},
            "spec": {
                "forProvider": {"length": length, "special": False},
                "writeConnectionSecretToRef": {"name": "db-conn"},
            },
        }

    with ctl:
        apiserver.apply(password(16))
        first = wait_for("Password Ready with the exec token", lambda: ready(1), timeout=120)
        assert first["status"]["atProvider"]["length"] == 16
        # The controller (kopf: finalizer, kube.py: status, state and connection Secrets)
        # acted as the plugin's ServiceAccount: its first token is still in use.
        assert runs.read_text() == "1"
        assert wait_for("connection Secret", lambda: harness.secret_data(apiserver, "db-conn", ns))
        # The state Secret (kube.py, in the controller's namespace) is there too.
        label = f"jetgen.dev/tfstate-for={first['metadata']['uid']}"
        assert apiserver.get_json("secrets", "-n", "default", "-l", label)["items"]

        # Revoke the token (its bound Secret is gone): the next requests get 401, the
        # plugin runs again, and the change is reconciled with the new token.
        apiserver.kubectl("delete", "secret", "exec-bound-1", "-n", ns)
        (old,) = Path(str(runs) + ".tokens").read_text().split()
        # The apiserver caches a token's authentication for up to 10 s.
        wait_for("the first token refused", lambda: _status(apiserver, old) == 401, timeout=30)
        apiserver.apply(password(20))
        second = wait_for("change reconciled after the revocation", lambda: ready(2), timeout=180)
        assert second["status"]["atProvider"]["length"] == 20
        assert int(runs.read_text()) >= 2
    logs = ctl.logs()
    assert "Traceback" not in logs
    tokens = Path(str(runs) + ".tokens").read_text().split()
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)
    assert not any(token in logs for token in tokens)


def _status(apiserver: Any, token: str) -> int:
    """The HTTP status of API discovery with ``token``."""
    request = urllib.request.Request(apiserver.url + "/api")
    request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=str(apiserver.ca_file))
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _apf_objects(namespace: str, account: str, name: str) -> list[dict[str, Any]]:
    api = "flowcontrol.apiserver.k8s.io/v1"
    level = {
        "apiVersion": api,
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 1,
                "lendablePercent": 0,
                "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"},  # no queue: over the limit is a 429
            },
        },
    }
    flow = {
        "apiVersion": api,
        "kind": "FlowSchema",
        "metadata": {"name": name},
        "spec": {
            "priorityLevelConfiguration": {"name": name},
            "matchingPrecedence": 50,  # before every default schema but exempt/probes
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"name": account, "namespace": namespace},
                        }
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                            "clusterScope": True,
                        }
                    ],
                }
            ],
        },
    }
    return [level, flow]


def test_a_real_429_is_retried_after_retry_after(apiserver, tmp_path):
    ns = apiserver.create_namespace("apf")
    _service_account(apiserver, ns, "throttled")
    name = f"jetgen-test-{ns}"
    apiserver.apply(_apf_objects(ns, "throttled", name))
    token = apiserver.kubectl("create", "token", "throttled", "-n", ns).stdout.strip()
    creds = kubeauth.Credentials(
        apiserver.url,
        ssl=ssl.create_default_context(cafile=str(apiserver.ca_file)),
        tokens=kubeauth.StaticToken(token),
    )
    waits: dict[int, list[float]] = {}

    async def sleep(seconds: float) -> None:
        task = asyncio.current_task()
        waits.setdefault(id(task), []).append(seconds)
        await asyncio.sleep(seconds)

    async def burst() -> list[tuple[int, float, bool]]:
        # No client-side limit here, so the server's is what the requests meet.
        limits = kube.Limits(qps=0, max_throttled=30)
        client = kube.KubeClient(creds, limits, sleep=sleep)

        async def one() -> tuple[int, float, bool]:
            started = time.monotonic()
            got = await client.request("GET", kube.object_path("v1", "configmaps", ns))
            task_id = id(asyncio.current_task())
            return task_id, time.monotonic() - started, got.get("kind") == "ConfigMapList"

        try:
            # Rounds until the apiserver has the new level (its config controller is
            # asynchronous) and a burst meets it.
            for _ in range(30):
                results = await asyncio.gather(*(asyncio.ensure_future(one()) for _ in range(40)))
                if client.throttled:
                    return results
                await asyncio.sleep(0.5)
            return results
        finally:
            await client.close()

    try:
        results = asyncio.run(burst())
    finally:
        apiserver.kubectl("delete", "flowschema", name, "--ignore-not-found")
        apiserver.kubectl("delete", "prioritylevelconfiguration", name, "--ignore-not-found")
    assert all(ok for _, _, ok in results)  # every request succeeded in the end
    throttled = [(waits[task], took) for task, took, _ in results if task in waits]
    assert throttled, "the apiserver answered no 429"
    for delays, took in throttled:
        assert all(d >= 1.0 for d in delays), delays  # APF asks for at least 1 s
        assert took >= sum(delays), (delays, took)


def test_refused_credentials_are_one_line(apiserver, testbed, random_provider, tmp_path):
    config = json.loads(Path(apiserver.kubeconfig).read_text())
    config["users"][0]["user"]["token"] = "not-a-valid-token"
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text(json.dumps(config))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jetgen.runtime.cli",
            "--kinds",
            str(harness.kinds_file(random_provider)),
            "--kubeconfig",
            str(bad),
            "--workdir-root",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        f"jetgen-runtime: the apiserver at {apiserver.url} refused the credentials"
        " (401 Unauthorized)"
    ]
