"""What a node changes on the machine itself, and how each change is undone.

The node is machine-wide: a bridge interface, iptables chains (the kube-proxy's and the
kubelet's KUBE-*, the bridge plugin's CNI-*, our own JETGEN-*), cgroups in every
hierarchy, mounts (container root filesystems, projected volumes, network namespaces) and
kernel sysctls that the kubelet, kube-proxy and the bridge plugin set. `prepare` records
what it will need to restore in a file before changing anything; `clean` undoes all of it
from that file and fixed names alone, so it also cleans up after a killed session; and
`leftovers` lists whatever is still there, so tear-down fails loudly instead of leaking.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .nodeconfig import CGROUP_ROOT, NodeNetwork, NodePaths

# Sysctls a node changes: the bridge plugin turns on forwarding, the kubelet sets its
# kernel "tunables" (panic on oops, overcommit, key quotas), kube-proxy may set
# route_localnet and conntrack limits. ip_forward first: writing it resets the
# per-interface forwarding flags, which are then restored after it.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.default.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
# iptables chains a node creates (prefixes), in every table, IPv4 and IPv6.
CHAIN_PREFIXES = ("KUBE-", "CNI-", "JETGEN-")
GUARD_CHAIN = "JETGEN-NODE-GUARD"
IPTABLES = (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore"))
CGROUP_MOUNTS = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
CONTAINER_LOGS = Path("/var/log/containers")  # the kubelet's symlinks; not configurable
SHIM_SOCKETS = Path("/run/containerd")  # containerd 1.6 puts shim sockets here, fixed


class HostError(RuntimeError):
    """A host change could not be made or undone."""


@dataclass(frozen=True)
class HostState:
    """What `prepare` saw before the node changed anything."""

    sysctls: dict[str, str]
    netns: list[str]  # /run/netns entries that were there before
    had_netns_dir: bool
    had_container_logs: bool
    had_shim_sockets: bool

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> HostState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None


def read_sysctls() -> dict[str, str]:
    """The current value of every sysctl in SYSCTLS this kernel has."""
    values = {}
    for name in SYSCTLS:
        try:
            values[name] = _sysctl_path(name).read_text().strip()
        except FileNotFoundError:
            continue
    return values


def prepare(paths: NodePaths, network: NodeNetwork) -> HostState:
    """Record the host's state, then make the bridge and the guard rules."""
    state = HostState(
        sysctls=read_sysctls(),
        netns=sorted(p.name for p in NETNS_DIR.glob("*")),
        had_netns_dir=NETNS_DIR.exists(),
        had_container_logs=CONTAINER_LOGS.exists(),
        had_shim_sockets=SHIM_SOCKETS.exists(),
    )
    state.save(paths.state)
    # `ip link add` is atomic: a second node on this machine fails here.
    _run("ip", "link", "add", network.bridge, "type", "bridge")
    cidr = f"{network.address}/{network.prefix_length}"
    _run("ip", "addr", "add", cidr, "dev", network.bridge)
    _run("ip", "link", "set", network.bridge, "up")
    _add_guard(network)
    return state


def _add_guard(network: NodeNetwork) -> None:
    """Pod traffic never leaves the machine: drop anything routed from the bridge (or
    from the pod range) to another interface. In the mangle table, which is consulted
    before the filter table's FORWARD chain that kube-proxy prepends its own rules to."""
    rules = {
        "iptables": [
            ["-i", network.bridge, "!", "-o", network.bridge, "-j", "DROP"],
            ["-s", network.pod_cidr, "!", "-o", network.bridge, "-j", "DROP"],
        ],
        "ip6tables": [["-i", network.bridge, "!", "-o", network.bridge, "-j", "DROP"]],
    }
    for command, chain_rules in rules.items():
        _run(command, "-w", "-t", "mangle", "-N", GUARD_CHAIN)
        for rule in chain_rules:
            _run(command, "-w", "-t", "mangle", "-A", GUARD_CHAIN, *rule)
        _run(command, "-w", "-t", "mangle", "-I", "FORWARD", "1", "-j", GUARD_CHAIN)


def clean(paths: NodePaths, network: NodeNetwork) -> list[str]:
    """Undo every host change the node made (processes already stopped); return errors.

    Each step runs even when an earlier one failed, so one stuck mount does not leave the
    bridge and the sysctls behind too.
    """
    errors: list[str] = []
    state = HostState.load(paths.state)
    for step in (
        lambda: kill_processes(paths.root),
        lambda: remove_chains(),
        lambda: unmount_under(paths.root),
        lambda: unmount_netns(state),
        lambda: remove_cgroups(),
        lambda: delete_links(network),
        lambda: remove_container_log_links(paths, state),
        lambda: remove_shim_socket_dir(state),
        lambda: restore_sysctls(state),
    ):
        try:
            step()
        except (HostError, OSError) as exc:
            errors.append(str(exc))
    return errors


def leftovers(paths: NodePaths, network: NodeNetwork, state: HostState | None) -> list[str]:
    """Everything of a node still on the machine, one line each (empty when clean)."""
    found = [f"process {pid}: {cmd}" for pid, cmd in node_processes(paths.root)]
    found += [f"mount {m}" for m in mounts_under(paths.root)]
    found += [f"cgroup {c}" for c in node_cgroups()]
    found += [f"iptables chain {c}" for c in node_chains()]
    found += [f"interface {i}" for i in node_links(network)]
    if state is not None:
        found += [f"network namespace {n}" for n in new_netns(state)]
        found += [f"sysctl {n}" for n in changed_sysctls(state)]
    return found


# --- processes ---------------------------------------------------------------------------


def node_processes(root: Path) -> list[tuple[int, str]]:
    """The node's servers and containerd's shims: every process whose command line names
    a path in the node's folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in args if a]
        if any(str(root) in word for word in words):
            found.append((int(proc.name), " ".join(words)))
    return found


def kill_processes(root: Path) -> None:
    """A shim outlives containerd by design; those and whatever a killed session left."""
    for pid, _ in node_processes(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while node_processes(root) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- iptables ----------------------------------------------------------------------------


def node_chains() -> list[str]:
    """`<command> <table> <chain>` for every node chain, IPv4 and IPv6."""
    found = []
    for save, _ in IPTABLES:
        table = "?"
        for line in _save(save).splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
                found.append(f"{save.split('-')[0]} {table} {line[1:].split()[0]}")
    return found


def remove_chains() -> None:
    """Drop every node chain and every rule that jumps to one, table by table, through
    save/restore (atomic per table, counters kept); other rules stay as they are."""
    for save, restore in IPTABLES:
        text = _save(save, "-c")
        kept, changed = without_node_chains(text)
        if changed:
            proc = subprocess.run([restore, "-w", "-c"], input=kept, capture_output=True, text=True)
            if proc.returncode != 0:
                raise HostError(f"{restore} failed: {proc.stderr.strip()}")


def without_node_chains(save_output: str) -> tuple[str, bool]:
    """`iptables-save -c` output minus node chains and jumps to them; only the tables
    that changed are returned (restore replaces exactly the tables it is given)."""
    tables: list[tuple[list[str], bool]] = []
    current: list[str] = []
    changed = False
    for line in save_output.splitlines():
        if line.startswith("*"):
            current, changed = [line], False
        elif line == "COMMIT":
            current.append(line)
            tables.append((current, changed))
        elif line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
            changed = True
        elif _is_node_rule(line):
            changed = True
        elif current:
            current.append(line)
    kept = [line for lines, was_changed in tables if was_changed for line in lines]
    return ("\n".join(kept) + "\n" if kept else ""), bool(kept)


def _is_node_rule(line: str) -> bool:
    words = shlex.split(line)
    if words and words[0].startswith("["):  # "[packets:bytes]" with -c
        words = words[1:]
    if not words or words[0] != "-A":
        return False
    chain = words[1]
    targets = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")]
    return any(name.startswith(CHAIN_PREFIXES) for name in (chain, *targets))


def _save(command: str, *args: str) -> str:
    proc = subprocess.run([command, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"{command} failed: {proc.stderr.strip()}")
    return proc.stdout


# --- mounts ------------------------------------------------------------------------------


def mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    return [m for m in _mount_points() if m.startswith(prefix) or m == str(root)]


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # mountinfo escapes spaces and the like as octal: \040
        points.append(line.split()[4].encode().decode("unicode_escape"))
    return points


def unmount_under(root: Path) -> None:
    for point in sorted(mounts_under(root), key=len, reverse=True):
        _umount(point)


def _umount(point: str) -> None:
    proc = subprocess.run(["umount", point], capture_output=True, text=True)
    if proc.returncode != 0:
        # Still busy: detach it now, the kernel frees it when its last user goes.
        subprocess.run(["umount", "--lazy", point], capture_output=True, text=True)


def new_netns(state: HostState) -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob("*") if p.name not in state.netns)


def unmount_netns(state: HostState | None) -> None:
    """Pod network namespaces containerd left (it removes them when a pod is removed)."""
    if state is None:
        return
    for name in new_netns(state):
        path = NETNS_DIR / name
        _umount(str(path))
        path.unlink(missing_ok=True)
    if not state.had_netns_dir and NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        NETNS_DIR.rmdir()


# --- cgroups -----------------------------------------------------------------------------


def cgroup_hierarchies() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers and the v2 one)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        if after.split()[0] in ("cgroup", "cgroup2"):
            found.append(Path(before.split()[4]))
    return found


def node_cgroups() -> list[str]:
    return [str(h / CGROUP_ROOT) for h in cgroup_hierarchies() if (h / CGROUP_ROOT).is_dir()]


def make_cgroup_root() -> None:
    """The kubelet refuses a cgroupRoot that does not exist."""
    for hierarchy in cgroup_hierarchies():
        folder = hierarchy / CGROUP_ROOT
        folder.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):  # empty in a new v1 cpuset cgroup
            if (hierarchy / name).is_file() and not (folder / name).read_text().strip():
                (folder / name).write_text((hierarchy / name).read_text())


def remove_cgroups() -> None:
    """Kill what still runs in the node's cgroups, then remove them bottom-up."""
    for hierarchy in cgroup_hierarchies():
        top = hierarchy / CGROUP_ROOT
        if not top.is_dir():
            continue
        folders = [Path(d) for d, _, _ in os.walk(top, topdown=False)]
        for folder in folders:
            _kill_tasks(folder)
        for folder in folders:
            _rmdir_cgroup(folder)


def _kill_tasks(folder: Path) -> None:
    try:
        pids = (folder / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rmdir_cgroup(folder: Path) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:  # EBUSY while killed tasks are still exiting
            if time.monotonic() > deadline:
                raise HostError(f"cannot remove cgroup {folder}: {exc}") from exc
            time.sleep(0.05)


# --- interfaces --------------------------------------------------------------------------


def node_links(network: NodeNetwork) -> list[str]:
    """The bridge and any veth still attached to it."""
    proc = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    found = []
    for line in proc.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == network.bridge or f" master {network.bridge} " in line:
            found.append(name)
    return found


def delete_links(network: NodeNetwork) -> None:
    for name in reversed(node_links(network)):  # ports before the bridge
        subprocess.run(["ip", "link", "delete", name], capture_output=True)
    left = node_links(network)
    if left:
        raise HostError(f"cannot delete interfaces {left}")


# --- files outside the node folder ---------------------------------------------------------


def remove_container_log_links(paths: NodePaths, state: HostState | None) -> None:
    """The kubelet links /var/log/containers/*.log to its pod logs; ours go."""
    if not CONTAINER_LOGS.is_dir():
        return
    for link in CONTAINER_LOGS.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(str(paths.pod_logs) + "/"):
            link.unlink()
    if state is not None and not state.had_container_logs and not any(CONTAINER_LOGS.iterdir()):
        CONTAINER_LOGS.rmdir()


def remove_shim_socket_dir(state: HostState | None) -> None:
    """/run/containerd/s holds shim sockets; empty once the shims are gone."""
    if state is None or state.had_shim_sockets or not SHIM_SOCKETS.is_dir():
        return
    for folder in sorted(SHIM_SOCKETS.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if not any(SHIM_SOCKETS.iterdir()):
        SHIM_SOCKETS.rmdir()


# --- sysctls -----------------------------------------------------------------------------


def changed_sysctls(state: HostState) -> list[str]:
    now = read_sysctls()
    return [
        f"{name} = {now.get(name)} (was {value})"
        for name, value in state.sysctls.items()
        if now.get(name) != value
    ]


def restore_sysctls(state: HostState | None) -> None:
    if state is None:
        return
    for name, value in state.sysctls.items():
        try:
            if _sysctl_path(name).read_text().strip() != value:
                _sysctl_path(name).write_text(value + "\n")
        except OSError as exc:
            raise HostError(f"cannot restore sysctl {name}={value}: {exc}") from exc


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _run(*cmd: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HostError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
