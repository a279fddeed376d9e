"""The node's configuration files, built as data: containerd, CNI, kubelet, kube-proxy.

Pure functions of `NodePaths` and `NodeNetwork`, so they are unit-tested without a node.
Every path a component would otherwise put somewhere machine-wide (/var/lib/kubelet,
/var/lib/containerd, /var/log/pods, /var/lib/cni/networks, /opt/containerd, the flex
volume folder) is moved under the node's own folder, so tear-down knows what to remove.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "jetgen-node"
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"  # must match the name in the pause tarball
CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class NodeNetwork:
    """The bridge the pods hang off; its address is the node's (and the apiserver's)."""

    bridge: str = "jetgen0"
    pod_cidr: str = "10.244.0.0/24"

    @property
    def address(self) -> str:
        """The bridge's own address: the pods' gateway, the node IP, the apiserver's."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def prefix_length(self) -> int:
        return ipaddress.ip_network(self.pod_cidr).prefixlen


@dataclass(frozen=True)
class NodePaths:
    """Everything the node writes, under one folder."""

    root: Path

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_config(self) -> Path:
        return self.containerd / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def runtime_endpoint(self) -> str:
        return f"unix://{self.containerd_socket}"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.json"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.json"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def state(self) -> Path:
        """What tear-down needs even after a crash: sysctls to restore, paths seen before."""
        return self.root / "host-state.json"


# The cgroup (in every hierarchy) that holds the kubelet's `kubepods` tree. A name of its
# own, so tear-down removes exactly the node's cgroups.
CGROUP_ROOT = "jetgen-node"


def containerd_config(paths: NodePaths) -> dict:
    """containerd 1.6 (config version 2) with everything under `paths.containerd`."""
    cri = {
        "sandbox_image": SANDBOX_IMAGE,
        # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails to start
        # (runc cannot lower oom_score_adj).
        "restrict_oom_score_adj": True,
        "disable_apparmor": True,
        "stream_server_address": "127.0.0.1",
        "stream_server_port": "0",
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {
                "runc": {
                    "runtime_type": "io.containerd.runc.v2",
                    "options": {
                        "SystemdCgroup": False,
                        "Root": str(paths.containerd / "runc"),
                    },
                }
            },
        },
        "cni": {"bin_dir": str(CNI_BIN_DIR), "conf_dir": str(paths.cni_conf_dir)},
    }
    return {
        "version": 2,
        "root": str(paths.containerd / "root"),
        "state": str(paths.containerd / "state"),
        # opt would create /opt/containerd; the others only log that they cannot work here.
        "disabled_plugins": [
            "io.containerd.internal.v1.opt",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ],
        "grpc": {"address": str(paths.containerd_socket)},
        "ttrpc": {"address": str(paths.containerd / "ttrpc.sock")},
        "metrics": {"address": ""},
        "plugins": {"io.containerd.grpc.v1.cri": cri},
    }


def cni_config(paths: NodePaths, network: NodeNetwork) -> dict:
    """One bridge network; no masquerade and no portmap, so no CNI-* iptables chains."""
    ipam = {
        "type": "host-local",
        "ranges": [[{"subnet": network.pod_cidr, "gateway": network.address}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": str(paths.cni_ipam_dir),
    }
    bridge = {
        "type": "bridge",
        "bridge": network.bridge,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": ipam,
    }
    return {"cniVersion": "0.4.0", "name": "jetgen-node", "plugins": [bridge]}


def kubelet_config(paths: NodePaths, network: NodeNetwork, ca_file: Path, port: int) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.address,
        "port": port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        # This machine has cgroup v1 controllers (v1 is deprecated in 1.35) and no swap
        # accounting worth refusing over.
        "failCgroupV1": False,
        "failSwapOn": False,
        # Root here cannot lower oom_score_adj: keep the kubelet's own where it is.
        "oomScoreAdj": 0,
        "containerRuntimeEndpoint": paths.runtime_endpoint,
        "podLogsDir": str(paths.pod_logs),
        "volumePluginDir": str(paths.root / "volume-plugins"),
        # No cluster DNS and the host's resolvers are not the pods' business.
        "resolvConf": "",
        "clusterDomain": CLUSTER_DOMAIN,
        # The images are imported, not pulled: the kubelet must never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%"},
        "serializeImagePulls": False,
    }


def kube_proxy_config(
    paths: NodePaths, network: NodeNetwork, kubeconfig: Path, ports: tuple[int, int]
) -> dict:
    """`ports`: its healthz and metrics ports, on loopback (port 0 is refused)."""
    zero = "0s"
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": network.address,
        "healthzBindAddress": f"127.0.0.1:{ports[0]}",
        "metricsBindAddress": f"127.0.0.1:{ports[1]}",
        "clusterCIDR": network.pod_cidr,
        "nodePortAddresses": ["primary"],
        # Zero: leave the machine's conntrack sysctls as they are.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": zero,
            "tcpCloseWaitTimeout": zero,
        },
        "oomScoreAdj": 0,
    }


def write_json(path: Path, data: dict) -> None:
    """The kubelet and kube-proxy read JSON as their YAML config format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def toml(data: dict) -> str:
    """Dump nested dicts of str/bool/int/list-of-str as TOML (containerd's format)."""
    lines: list[str] = []
    _toml_table(data, [], lines)
    return "\n".join(lines) + "\n"


def _toml_table(data: dict, path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if path and scalars:
        lines.append("[" + ".".join(_toml_key(k) for k in path) + "]")
    for key, value in scalars.items():
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in tables.items():
        _toml_table(value, [*path, key], lines)


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum()
    return key if bare else json.dumps(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")
