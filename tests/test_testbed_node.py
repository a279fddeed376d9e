"""The test bed's node: image tarballs, pins, its configuration, and (marker e2e) a real
kubelet node: Ready, running a locally built image that reaches the apiserver in-cluster
under RBAC, keeping pod traffic on the machine, and leaving nothing behind when torn down."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import pytest

from tests.testbed import install, nodeconfig, nodehost, ociimage
from tests.testbed import node as node_module


def _read_tar(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_image_tarball_is_an_oci_layout_naming_the_image(tmp_path):
    out = tmp_path / "probe.tar"
    files = [ociimage.File("/bin/probe", b"\x7fELF program", 0o755)]
    digest = ociimage.write(out, "jetgen.test/probe:1", files, ["/bin/probe"])

    entries = _read_tar(out)
    # every blob is stored under its own digest
    for name, data in entries.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    (manifest_ref,) = json.loads(entries["index.json"])["manifests"]
    assert manifest_ref["digest"] == digest
    assert manifest_ref["annotations"]["io.containerd.image.name"] == "jetgen.test/probe:1"
    manifest = json.loads(entries[f"blobs/sha256/{digest.split(':')[1]}"])
    config = json.loads(entries[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Entrypoint"] == ["/bin/probe"]
    assert config["config"]["User"] == "65532:65532"  # not root
    layer = entries[f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        member = tar.getmember("bin/probe")
        assert (member.mode, tar.extractfile(member).read()) == (0o755, b"\x7fELF program")
        assert tar.getmember("bin").isdir()


def test_image_digest_depends_only_on_the_inputs(tmp_path):
    files = [ociimage.File("/pause", b"x")]
    first = ociimage.write(tmp_path / "a.tar", "r/p:1", files, ["/pause"])
    assert ociimage.write(tmp_path / "b.tar", "r/p:1", files, ["/pause"]) == first
    assert ociimage.digest("r/p:1", files, ["/pause"]) == first
    assert ociimage.digest("r/p:1", [ociimage.File("/pause", b"y")], ["/pause"]) != first


def test_debian_version_matches_its_upstream_pin_only():
    assert install._same_upstream("1.6.20~ds1-1+deb12u3", "1.6.20")
    assert install._same_upstream("1.8.9-2", "1.8.9")
    assert not install._same_upstream("1.6.201-1", "1.6.20")
    assert not install._same_upstream("1.7.0-1", "1.6.20")


# --- the node's configuration and host bookkeeping (pure logic) ----------------------------


def test_containerd_config_keeps_everything_under_the_node_folder(tmp_path):
    paths = nodeconfig.NodePaths(tmp_path / "node")
    config = tomllib.loads(nodeconfig.toml(nodeconfig.containerd_config(paths)))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    places = [config["root"], config["state"], config["grpc"]["address"], runc["options"]["Root"]]
    places.append(cri["cni"]["conf_dir"])
    assert all(p.startswith(str(paths.root) + "/") for p in places)
    assert "io.containerd.internal.v1.opt" in config["disabled_plugins"]  # no /opt/containerd


def test_toml_dump_reads_back_and_refuses_what_it_cannot_write():
    data = {"a": 1, "b": {"c.d": {"e": 'x"y', "f": [True, "z"]}}, "g": False}
    assert tomllib.loads(nodeconfig.toml(data)) == data
    with pytest.raises(TypeError):
        nodeconfig.toml({"a": 1.5})


def test_network_derives_the_node_address_from_the_pod_range(tmp_path):
    network = nodeconfig.NodeNetwork(bridge="br-x", pod_cidr="10.9.8.0/24")
    assert (network.address, network.prefix_length) == ("10.9.8.1", 24)
    cni = nodeconfig.cni_config(nodeconfig.NodePaths(tmp_path), network)
    (bridge,) = cni["plugins"]
    assert bridge["bridge"] == "br-x" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.9.8.0/24", "gateway": "10.9.8.1"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))


def test_kubelet_and_kube_proxy_configs_bind_to_the_bridge_and_keep_host_defaults(tmp_path):
    paths, network = nodeconfig.NodePaths(tmp_path), nodeconfig.NodeNetwork()
    kubelet = nodeconfig.kubelet_config(paths, network, tmp_path / "ca.crt", 12345)
    assert (kubelet["address"], kubelet["port"], kubelet["readOnlyPort"]) == (
        network.address,
        12345,
        0,
    )
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["failCgroupV1"] is False and kubelet["cgroupDriver"] == "cgroupfs"
    for key in ("podLogsDir", "volumePluginDir"):
        assert kubelet[key].startswith(str(tmp_path))
    proxy = nodeconfig.kube_proxy_config(paths, network, tmp_path / "kc", (1, 2))
    assert proxy["mode"] == "iptables" and proxy["clusterCIDR"] == network.pod_cidr
    assert proxy["conntrack"]["maxPerCore"] == 0  # leaves the conntrack sysctls alone


SAVED = """\
# Generated by iptables-save
*mangle
:PREROUTING ACCEPT [5:300]
:FORWARD ACCEPT [0:0]
:JETGEN-NODE-GUARD - [0:0]
[0:0] -A FORWARD -j JETGEN-NODE-GUARD
[0:0] -A JETGEN-NODE-GUARD -i jetgen0 ! -o jetgen0 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
[1:60] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[0:0] -A KUBE-SERVICES -m comment --comment "default/kubernetes:https" -j KUBE-SVC-NPX46M4PTMTKRN6Y
[2:120] -A OUTPUT -d 192.0.2.9/32 -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
[3:180] -A INPUT -i lo -j ACCEPT
COMMIT
"""


def test_node_chains_and_jumps_to_them_are_dropped_and_other_rules_kept():
    kept, changed = nodehost.without_node_chains(SAVED)
    assert changed
    # Only the tables that changed are restored; the filter table is left untouched.
    assert "*filter" not in kept
    assert "*mangle" in kept and "*nat" in kept
    assert "KUBE-" not in kept and "JETGEN-" not in kept
    # Other rules stay, with their counters.
    assert "[2:120] -A OUTPUT -d 192.0.2.9/32 -j ACCEPT" in kept
    assert ":PREROUTING ACCEPT [5:300]" in kept
    assert kept.count("COMMIT") == 2


def test_nothing_to_restore_when_no_node_chain_exists():
    kept, changed = nodehost.without_node_chains("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
    assert (kept, changed) == ("", False)


def test_host_state_round_trips_and_a_missing_file_means_no_state(tmp_path):
    state = nodehost.HostState({"net.ipv4.ip_forward": "0"}, ["x"], True, False, True)
    state.save(tmp_path / "s.json")
    assert nodehost.HostState.load(tmp_path / "s.json") == state
    assert nodehost.HostState.load(tmp_path / "missing.json") is None


# --- a real node (e2e) -------------------------------------------------------------------

PROBE_IMAGE = "jetgen.test/kubeprobe:0.1.0"


def probe_pod(namespace: str, name: str, account: str, paths: list[str]) -> dict:
    """A pod running the kubeprobe image as a non-root, read-only container."""
    container = {
        "name": "probe",
        "image": PROBE_IMAGE,
        "imagePullPolicy": "Never",  # imported into containerd, never pulled
        "args": paths,
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "serviceAccountName": account,
            "containers": [container],
            "terminationGracePeriodSeconds": 1,
        },
    }


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def pod_running(api, namespace: str, name: str) -> dict | None:
    pod = api.get_json("pod", name, "-n", namespace)
    return pod if pod["status"].get("phase") == "Running" else None


@pytest.mark.e2e
def test_node_runs_a_local_image_that_reaches_the_apiserver_in_cluster_under_rbac(node):
    api = node.api
    status = api.get_json("node", node.name)["status"]
    assert {"type": "InternalIP", "address": node.network.address} in status["addresses"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.35.4"
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.6.20")

    ns = api.create_namespace("probe")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "list-pods", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "probe-list-pods", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "list-pods"},
        "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": ns}],
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "probe"}}
    account["metadata"]["namespace"] = ns
    allowed = f"/api/v1/namespaces/{ns}/pods"
    refused = ["/api/v1/namespaces/kube-system/secrets", f"/api/v1/namespaces/{ns}/secrets"]
    api.apply([account, role, binding, probe_pod(ns, "probe", "probe", [allowed, *refused])])

    pod = wait_for(lambda: pod_running(api, ns, "probe"), 60, "the probe pod Running")
    # Placed by the scheduler (the manifest names no node), on the bridge's range.
    assert pod["spec"]["nodeName"] == node.name
    assert pod["status"]["podIP"].startswith("10.244.0.")

    def probe_output() -> list[str] | None:
        # `kubectl logs` goes apiserver -> kubelet with the apiserver's client certificate.
        lines = api.kubectl("logs", "-n", ns, "probe").stdout.splitlines()
        return lines if len(lines) == 3 else None

    lines = wait_for(probe_output, 30, "the probe's three lines")
    # In-cluster: KUBERNETES_SERVICE_HOST (the `kubernetes` Service's ClusterIP, DNATed by
    # kube-proxy to the apiserver on the bridge), the projected token and ca.crt.
    assert lines == [f"200 {allowed}", *(f"403 {path}" for path in refused)]


@pytest.mark.e2e
def test_second_node_on_the_machine_is_refused(node):
    with pytest.raises(node_module.NodeBusy, match="already up"):
        node_module.claim(node.paths, node.network, node.tools)
    assert node.paths.root.is_dir()  # the running node's folder is untouched


@pytest.mark.e2e
def test_pod_traffic_is_kept_on_the_machine(node):
    """Anything routed from the bridge (or the pod range) out another interface is dropped,
    first thing in mangle FORWARD, ahead of kube-proxy's filter FORWARD rules."""
    for command in ("iptables", "ip6tables"):
        forward = _iptables(command, "-t", "mangle", "-S", "FORWARD")
        assert forward[1] == f"-A FORWARD -j {nodehost.GUARD_CHAIN}", command
        guard = _iptables(command, "-t", "mangle", "-S", nodehost.GUARD_CHAIN)
        assert f"-A {nodehost.GUARD_CHAIN} -i jetgen0 ! -o jetgen0 -j DROP" in guard
    guard = _iptables("iptables", "-t", "mangle", "-S", nodehost.GUARD_CHAIN)
    assert f"-A {nodehost.GUARD_CHAIN} -s 10.244.0.0/24 ! -o jetgen0 -j DROP" in guard


def _iptables(command: str, *args: str) -> list[str]:
    return subprocess.run(
        [command, *args], capture_output=True, text=True, check=True
    ).stdout.splitlines()


# The checks below look at the machine directly, not through nodehost's own bookkeeping.
NODE_PROGRAMS = {"kubelet", "kube-proxy", "kube-scheduler", "containerd", "containerd-shim-runc-v2"}


def node_processes(node_dir: Path) -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not args:
            continue
        ours = Path(args[0]).name in NODE_PROGRAMS and any(str(node_dir) in a for a in args)
        in_pod = args[0] in ("/pause", "/kubeprobe")
        if ours or in_pod or Path(args[0]).name in ("kubelet", "kube-proxy", "kube-scheduler"):
            found.append(f"{proc.name} {' '.join(args)}")
    return found


def node_mounts(node_dir: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(str(node_dir)) or p.startswith("/run/netns/cni-")]


def node_cgroups() -> list[str]:
    return [str(p) for p in Path("/sys/fs/cgroup").glob("*/jetgen-node")]


def node_chains() -> list[str]:
    found = []
    for command in ("iptables-save", "ip6tables-save"):
        out = subprocess.run([command], capture_output=True, text=True, check=True).stdout
        found += [
            f"{command} {line}"
            for line in out.splitlines()
            if line.startswith((":KUBE-", ":CNI-", ":JETGEN-"))
        ]
    return found


def node_interfaces() -> list[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "jetgen0" in line]


def sysctls(names) -> dict[str, str]:
    return {n: Path("/proc/sys", *n.split(".")).read_text().strip() for n in names}


WATCHED_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)


@pytest.mark.e2e
def test_node_teardown_leaves_nothing_behind(node_slot, testbed):
    node_dir = testbed.layout.node_dir
    node_slot.stop()  # a node an earlier test started (its tear-down is checked too)
    before = sysctls(WATCHED_SYSCTLS)
    netns_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()

    node = node_slot.get()
    ns = node.api.create_namespace("teardown")
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "p"}}
    account["metadata"]["namespace"] = ns
    node.api.apply([account, probe_pod(ns, "idle", "p", [])])
    wait_for(lambda: pod_running(node.api, ns, "idle"), 60, "a pod Running")
    # Each check finds the running node's pieces, so its empty answer below means something.
    running = node_processes(node_dir)
    for program in ("kubelet", "kube-proxy", "kube-scheduler", "containerd", "/kubeprobe"):
        assert any(program in line for line in running), program
    assert any("/rootfs" in m for m in node_mounts(node_dir))
    assert node_cgroups() and node_chains() and node_interfaces()
    assert sysctls(["net.ipv4.ip_forward"]) == {"net.ipv4.ip_forward": "1"}

    node_slot.stop()
    assert node_processes(node_dir) == []
    assert node_mounts(node_dir) == []
    netns_after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert netns_after <= netns_before
    assert node_cgroups() == []
    assert node_chains() == []
    assert node_interfaces() == []
    assert sysctls(WATCHED_SYSCTLS) == before
    assert not node_dir.exists()
    links = Path("/var/log/containers")
    assert not links.exists() or not any(str(node_dir) in os.readlink(p) for p in links.iterdir())
