"""Start etcd, kube-apiserver and kube-controller-manager on loopback ports.

No kubelet, no scheduler: enough Kubernetes for CRDs, RBAC, ServiceAccount tokens
(TokenRequest) and garbage collection of owned objects. All state lives in one temp folder.
Given a `NodeAccess`, the apiserver is set up for a node instead (see node.py): it serves
on the node's bridge address, where pods reach it through the `kubernetes` Service.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import pki as pki_module
from . import processes
from .bed import Testbed
from .kube import ApiServer, write_kubeconfig

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# What jetgen's runtime needs from the controller manager: garbage collection of
# connection Secrets owned by managed resources, namespace deletion, the `default`
# ServiceAccount and its root CA ConfigMap, and aggregated ClusterRoles.
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
)


# What a node needs on top: the node-lifecycle controller removes the not-ready taint the
# kubelet registers with (no pod is scheduled before), Deployments and ReplicaSets make
# pods, the endpoint controllers back Services, pod GC removes pods of a deleted node.
NODE_CONTROLLERS = (
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "deployment-controller",
    "replicaset-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "pod-garbage-collector-controller",
)
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"


@dataclass(frozen=True)
class NodeAccess:
    """Serve the apiserver on `address` (a node's bridge) and accept nodes: client
    certificates, the Node authorizer and the NodeRestriction admission plugin."""

    address: str


@dataclass
class ControlPlane:
    folder: Path
    servers: list[processes.Server]
    api: ApiServer
    startup_seconds: float  # etcd + apiserver until /readyz answers ok
    pki: pki_module.Pki

    def stop(self) -> None:
        processes.stop_all(self.servers)


def start(
    testbed: Testbed,
    folder: Path,
    *,
    tied: bool = True,
    controllers: bool = True,
    timeout: float = 60.0,
    node: NodeAccess | None = None,
) -> ControlPlane:
    """Start the control plane in `folder`; on any failure stop what was started and raise."""
    started = time.monotonic()
    bins = {
        name: testbed.bin(name)
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
    }
    servers: list[processes.Server] = []
    try:
        extra_ips = (node.address,) if node else ()
        pki = pki_module.create(folder / "pki", extra_ips, node_users=node is not None)
        etcd_url = processes.retry_port_clash(
            lambda: _start_etcd(bins["etcd"], folder, servers, tied, timeout)
        )
        api = processes.retry_port_clash(
            lambda: _start_apiserver(bins, folder, pki, etcd_url, servers, tied, timeout, node)
        )
        startup = time.monotonic() - started
        if controllers:
            names = CONTROLLERS + (NODE_CONTROLLERS if node else ())
            _start_controller_manager(bins, folder, pki, api, servers, tied, timeout, names)
    except BaseException:
        processes.stop_all(servers)
        raise
    return ControlPlane(folder, servers, api, startup, pki)


@contextmanager
def running(testbed: Testbed, folder: Path) -> Iterator[ControlPlane]:
    """``start``, for the length of a ``with``: then stopped, its logs kept (pytest prunes
    old temp dirs) and etcd's data dropped (its preallocated WAL files are large)."""
    plane = start(testbed, folder)
    try:
        yield plane
    finally:
        plane.stop()
        shutil.rmtree(folder / "etcd", ignore_errors=True)


def _start_etcd(binary: Path, folder: Path, servers: list, tied: bool, timeout: float) -> str:
    client_url = f"http://127.0.0.1:{processes.free_port()}"
    peer_url = f"http://127.0.0.1:{processes.free_port()}"
    cmd = [
        str(binary),
        "--name=testbed",
        f"--data-dir={folder / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=testbed={peer_url}",
        "--log-level=warn",
        # A throwaway store: durability buys nothing and costs seconds.
        "--unsafe-no-fsync",
    ]
    shutil.rmtree(folder / "etcd", ignore_errors=True)  # left over by a lost port race
    ready = lambda: _etcd_healthy(client_url)  # noqa: E731
    servers.append(processes.start_server("etcd", cmd, folder / "etcd.log", ready, timeout, tied))
    return client_url


def _etcd_healthy(client_url: str) -> bool:
    try:
        with urllib.request.urlopen(client_url + "/health", timeout=2) as response:
            return json.loads(response.read()).get("health") == "true"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _start_apiserver(bins, folder, pki, etcd_url, servers, tied, timeout, node) -> ApiServer:
    address = node.address if node else "127.0.0.1"
    port = processes.free_port()
    cmd = [
        str(bins["kube-apiserver"]),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={port}",
        f"--cert-dir={folder / 'apiserver-certs'}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--token-auth-file={pki.token_file}",
        f"--authorization-mode={'Node,RBAC' if node else 'RBAC'}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--profiling=false",
    ]
    if node:
        crt, key = pki_module.client_cert(
            pki, "kubelet-client", KUBELET_CLIENT_USER, "system:masters"
        )
        cmd += [
            f"--client-ca-file={pki.ca_file}",
            "--enable-admission-plugins=NodeRestriction",
            # `kubectl logs` and `exec` go through the kubelet, which checks this identity.
            f"--kubelet-client-certificate={crt}",
            f"--kubelet-client-key={key}",
            "--kubelet-preferred-address-types=InternalIP",
        ]
    url = f"https://{address}:{port}"
    kubeconfig = folder / "kubeconfig"
    write_kubeconfig(kubeconfig, url, pki.ca_file, pki.admin_token, pki_module.ADMIN_USER)
    api = ApiServer(url, kubeconfig, pki.ca_file, pki.admin_token, bins["kubectl"])
    ready = lambda: api.http_get("/readyz")[0] == 200  # noqa: E731
    log = folder / "kube-apiserver.log"
    servers.append(
        processes.start_server("kube-apiserver", cmd, log, ready, timeout, tied, watch=servers)
    )
    return api


def _start_controller_manager(bins, folder, pki, api, servers, tied, timeout, names) -> None:
    kubeconfig = folder / "kube-controller-manager.kubeconfig"
    write_kubeconfig(kubeconfig, api.url, pki.ca_file, pki.kcm_token, pki_module.KCM_USER)
    cmd = [
        str(bins["kube-controller-manager"]),
        f"--kubeconfig={kubeconfig}",
        f"--controllers={','.join(names)}",
        "--leader-elect=false",
        "--secure-port=0",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_file}",
    ]

    # The serviceaccount controller creating `default/default` proves the controller
    # manager is up and acting on the cluster.
    def default_service_account() -> bool:
        proc = api.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
        return proc.returncode == 0

    log = folder / "kube-controller-manager.log"
    name = "kube-controller-manager"
    servers.append(
        processes.start_server(
            name, cmd, log, default_service_account, timeout, tied, watch=servers
        )
    )


def restart_apiserver(plane: ControlPlane, down: float = 0.0, timeout: float = 60.0) -> float:
    """Stop kube-apiserver and start it again with the same command (same port, same etcd),
    as clients see an apiserver restart; returns the seconds it was unreachable."""
    (old,) = [s for s in plane.servers if s.name == "kube-apiserver"]
    if old.popen is None:
        raise RuntimeError("only an apiserver this process started can be restarted")
    cmd = [str(arg) for arg in old.popen.args]
    stopped = time.monotonic()
    old.stop()
    time.sleep(down)
    others = [s for s in plane.servers if s is not old]
    ready = lambda: plane.api.http_get("/readyz")[0] == 200  # noqa: E731
    new = processes.start_server("kube-apiserver", cmd, old.log, ready, timeout, True, watch=others)
    plane.servers[plane.servers.index(old)] = new
    return time.monotonic() - stopped
