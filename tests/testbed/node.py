"""A real Kubernetes node on this machine: containerd, kubelet, kube-proxy, kube-scheduler.

`start` brings up, in order: the host side (bridge, guard rules, the node's cgroup root;
nodehost.py), a control plane set up for a node (controlplane.NodeAccess), containerd
with the test bed's images imported, the kubelet, kube-proxy and kube-scheduler; it
returns once the Node is Ready, untainted, the `kubernetes` Service is routed and the
scheduler leads. `teardown` stops it all and undoes every host change, then checks that
nothing is left and raises `TeardownError` naming what is.

The node is machine-wide (one bridge, one set of iptables chains), so its files live in
one fixed folder (<cache>/run/node): a second `start` while one runs fails, and one that
finds the remains of a killed session cleans them first. Pod traffic never leaves the
machine: see nodehost._add_guard.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import controlplane, nodehost, processes
from . import pki as pki_module
from .bed import NotInstalled, Testbed
from .kube import ApiServer, write_cert_kubeconfig, write_kubeconfig
from .nodeconfig import (
    CNI_BIN_DIR,
    NODE_NAME,
    NodeNetwork,
    NodePaths,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
    toml,
    write_json,
)

NODE_TOOLS = ("kubelet", "kube-proxy", "kube-scheduler", "crictl")
# From Debian (versions.toml [debian-node]); found on PATH or in /usr/lib/cni.
SYSTEM_TOOLS = ("containerd", "ctr", "runc", "iptables-save", "iptables-restore", "ip6tables")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
IMAGES = ("pause", "kubeprobe")  # imported at start (<cache>/images/<name>.tar)
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
SERVER_PROGRAMS = ("containerd", "kubelet", "kube-proxy", "kube-scheduler")


class NodeBusy(RuntimeError):
    """Another node is up on this machine."""


class TeardownError(RuntimeError):
    """Tear-down left something behind, or a step of it failed; the message lists it."""


@dataclass
class Node:
    paths: NodePaths
    network: NodeNetwork
    plane: controlplane.ControlPlane
    servers: list[processes.Server]  # containerd, kubelet, kube-proxy, kube-scheduler
    tools: dict[str, Path] = field(repr=False)
    startup_seconds: float  # from nothing to Ready, schedulable and routed
    phases: dict[str, float]  # seconds from the start until each step was done
    name: str = NODE_NAME

    @property
    def api(self) -> ApiServer:
        return self.plane.api

    def import_image(self, tarball: Path) -> None:
        """Make an OCI image tarball runnable here (pods use imagePullPolicy: Never)."""
        _import_image(self.tools["ctr"], self.paths, tarball)

    def stop(self) -> None:
        teardown(self.paths, self.network, [*self.plane.servers, *self.servers], self.tools)


def find_tools(bed: Testbed) -> dict[str, Path]:
    """Every program the node runs; raises NotInstalled naming the first missing one."""
    tools = {name: bed.bin(name) for name in NODE_TOOLS}
    for name in SYSTEM_TOOLS:
        found = shutil.which(name)
        if found is None:
            raise NotInstalled(f"{name} (Debian package, see versions.toml [debian-node])")
        tools[name] = Path(found)
    for plugin in CNI_PLUGINS:
        if not (CNI_BIN_DIR / plugin).is_file():
            raise NotInstalled(f"CNI plugin {plugin} in {CNI_BIN_DIR}")
    for image in IMAGES:
        if not bed.layout.image(image).is_file():
            raise NotInstalled(f"image {bed.layout.image(image)}")
    return tools


def start(
    bed: Testbed,
    log_dir: Path,
    *,
    tied: bool = True,
    timeout: float = 120.0,
) -> Node:
    """Start a node (and its control plane); on failure undo everything and raise."""
    started = time.monotonic()
    network = NodeNetwork()
    tools = find_tools(bed)
    paths = NodePaths(bed.layout.node_dir)
    claim(paths, network, tools)
    servers: list[processes.Server] = []
    plane: controlplane.ControlPlane | None = None
    phases: dict[str, float] = {}  # seconds since `started` when each step was done
    try:
        nodehost.prepare(paths, network)
        nodehost.make_cgroup_root()
        access = controlplane.NodeAccess(network.address)
        plane = controlplane.start(
            bed, log_dir / "controlplane", tied=tied, timeout=timeout, node=access
        )
        phases["control plane"] = time.monotonic() - started
        deadline = started + timeout
        servers.append(_start_containerd(tools, paths, network, log_dir, tied, deadline))
        for image in IMAGES:
            _import_image(tools["ctr"], paths, bed.layout.image(image))
        phases["containerd and images"] = time.monotonic() - started
        servers.append(_start_kubelet(tools, paths, network, plane, log_dir, tied))
        servers.append(_start_kube_proxy(tools, paths, network, plane, log_dir, tied))
        servers.append(_start_scheduler(tools, paths, plane, log_dir, tied))
        watch = [*plane.servers, *servers]
        processes.wait_until(watch, lambda: _node_ready(plane.api), _left(deadline), "node Ready")
        phases["node Ready"] = time.monotonic() - started
        processes.wait_until(watch, _service_routed, _left(deadline), "kube-proxy rules")
        processes.wait_until(
            watch, lambda: _scheduler_leads(plane.api), _left(deadline), "kube-scheduler lease"
        )
    except BaseException as exc:
        all_servers = [*(plane.servers if plane else []), *servers]
        try:
            teardown(paths, network, all_servers, tools)
        except TeardownError as cleanup:
            raise cleanup from exc
        raise
    total = time.monotonic() - started
    return Node(paths, network, plane, servers, tools, total, phases)


def claim(paths: NodePaths, network: NodeNetwork, tools: dict[str, Path]) -> None:
    """Take the machine's node slot: refuse if a node runs, clean up a dead one's remains."""
    if paths.root.exists() or nodehost.node_links(network):
        # Shims outlive a killed session; only the node's own servers mean it is alive.
        running = [
            (pid, cmd)
            for pid, cmd in nodehost.node_processes(paths.root)
            if Path(cmd.split()[0]).name in SERVER_PROGRAMS
        ]
        if running:
            pids = ", ".join(str(pid) for pid, _ in running)
            raise NodeBusy(f"a node is already up (pids {pids}); scripts/testbed down stops it")
        print(f"cleaning up a node left behind in {paths.root}", file=sys.stderr)
        teardown(paths, network, [], tools)
    paths.root.mkdir(parents=True)
    paths.root.chmod(0o700)


def teardown(
    paths: NodePaths, network: NodeNetwork, servers: list[processes.Server], tools: dict
) -> None:
    """Stop `servers` (in reverse start order; pods are removed through the CRI before
    containerd stops), undo the host changes, delete the node folder, then check."""
    errors: list[str] = []
    for server in reversed(servers):
        if server.name == "containerd" and server.alive():
            errors += _remove_pods(tools["crictl"], paths)
        server.stop()
    state = nodehost.HostState.load(paths.state)
    errors += nodehost.clean(paths, network)
    shutil.rmtree(paths.root, ignore_errors=True)
    if paths.root.exists():
        errors.append(f"cannot remove {paths.root}")
    left = nodehost.leftovers(paths, network, state)
    if errors or left:
        raise TeardownError("node tear-down incomplete:\n  " + "\n  ".join(errors + left))


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 1.0)


# --- containerd ----------------------------------------------------------------------------


def _start_containerd(tools, paths, network, log_dir, tied, deadline) -> processes.Server:
    paths.containerd.mkdir(parents=True, exist_ok=True)
    paths.containerd_config.write_text(toml(containerd_config(paths)))
    write_json(paths.cni_conf_dir / "10-jetgen.conflist", cni_config(paths, network))
    cmd = [str(tools["containerd"]), "--config", str(paths.containerd_config)]
    ctr = [str(tools["ctr"]), "--address", str(paths.containerd_socket), "version"]

    def answers() -> bool:
        if not paths.containerd_socket.exists():
            return False
        return subprocess.run(ctr, capture_output=True).returncode == 0

    log = log_dir / "containerd.log"
    return processes.start_server("containerd", cmd, log, answers, _left(deadline), tied)


def _import_image(ctr: Path, paths: NodePaths, tarball: Path) -> None:
    cmd = [str(ctr), "--address", str(paths.containerd_socket), "--namespace", "k8s.io"]
    proc = subprocess.run([*cmd, "images", "import", str(tarball)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ctr images import {tarball} failed: {proc.stderr.strip()}")


def _remove_pods(crictl: Path, paths: NodePaths) -> list[str]:
    """Stop and remove every pod through the CRI, so containerd itself releases their
    network (veth, IP lease, namespace), mounts and cgroups."""
    cmd = [str(crictl), "--runtime-endpoint", paths.runtime_endpoint, "--timeout", "60s"]
    # A container whose shim has just died answers "ttrpc: closed" once; containerd then
    # notices the exit, and a second try removes the pod. What stays is still reported,
    # and the leftover check after the clean-up sees anything it left.
    for attempt in range(3):
        proc = subprocess.run([*cmd, "rmp", "--all", "--force"], capture_output=True, text=True)
        if proc.returncode == 0:
            return []
        time.sleep(2 * (attempt + 1))
    return [f"crictl rmp --all --force failed: {proc.stderr.strip()}"]


# --- kubelet, kube-proxy, kube-scheduler -------------------------------------------------


def _start_kubelet(tools, paths, network, plane, log_dir, tied) -> processes.Server:
    crt, key = pki_module.client_cert(
        plane.pki, "kubelet", f"system:node:{NODE_NAME}", "system:nodes"
    )
    kubeconfig = paths.root / "kubelet.kubeconfig"
    user = f"system:node:{NODE_NAME}"
    write_cert_kubeconfig(kubeconfig, plane.api.url, plane.pki.ca_file, crt, key, user)
    port = processes.free_port()
    write_json(paths.kubelet_config, kubelet_config(paths, network, plane.pki.ca_file, port))
    cmd = [
        str(tools["kubelet"]),
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={paths.kubelet_dir}",
        f"--node-ip={network.address}",
        f"--hostname-override={NODE_NAME}",
    ]
    return processes.spawn("kubelet", cmd, log_dir / "kubelet.log", tied=tied)


def _start_kube_proxy(tools, paths, network, plane, log_dir, tied) -> processes.Server:
    kubeconfig = paths.root / "kube-proxy.kubeconfig"
    user = "system:kube-proxy"
    write_kubeconfig(kubeconfig, plane.api.url, plane.pki.ca_file, plane.pki.tokens[user], user)
    ports = (processes.free_port(), processes.free_port())
    write_json(paths.kube_proxy_config, kube_proxy_config(paths, network, kubeconfig, ports))
    cmd = [str(tools["kube-proxy"]), f"--config={paths.kube_proxy_config}"]
    return processes.spawn("kube-proxy", cmd, log_dir / "kube-proxy.log", tied=tied)


def _start_scheduler(tools, paths, plane, log_dir, tied) -> processes.Server:
    kubeconfig = paths.root / "kube-scheduler.kubeconfig"
    user = "system:kube-scheduler"
    write_kubeconfig(kubeconfig, plane.api.url, plane.pki.ca_file, plane.pki.tokens[user], user)
    cmd = [
        str(tools["kube-scheduler"]),
        f"--kubeconfig={kubeconfig}",
        "--secure-port=0",
        # Leader election only for its Lease: the sign that it is up and talking.
        "--leader-elect=true",
    ]
    return processes.spawn("kube-scheduler", cmd, log_dir / "kube-scheduler.log", tied=tied)


def _node_ready(api: ApiServer) -> bool:
    status, body = api.http_get(f"/api/v1/nodes/{NODE_NAME}")
    if status != 200:
        return False
    node = json.loads(body)
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )
    taints = [t["key"] for t in node.get("spec", {}).get("taints", [])]
    return ready and NOT_READY_TAINT not in taints


def _service_routed() -> bool:
    """kube-proxy has written the `kubernetes` Service's DNAT rules."""
    proc = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True)
    return "default/kubernetes:https" in proc.stdout and "KUBE-SEP-" in proc.stdout


def _scheduler_leads(api: ApiServer) -> bool:
    status, body = api.http_get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases")
    if status != 200:
        return False
    leases = json.loads(body).get("items", [])
    return any(
        lease["metadata"]["name"] == "kube-scheduler"
        and lease.get("spec", {}).get("holderIdentity")
        for lease in leases
    )
