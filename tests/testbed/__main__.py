"""scripts/testbed: build the test bed and run a throwaway control plane by hand.

install   build the pinned tools and providers into the cache (idempotent)
up        start etcd, kube-apiserver, kube-controller-manager and PostgreSQL in the
          background; prints shell exports. --node: also a node (containerd, kubelet,
          kube-proxy, kube-scheduler) on a bridge, the apiserver on the bridge's address
down      stop what `up` started, undo the node's host changes, delete its temp folder
env       print shell exports: eval "$(scripts/testbed env)"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from . import controlplane, install, pgserver, pins, processes
from . import node as node_module
from .bed import NotInstalled, Testbed
from .layout import Layout
from .nodeconfig import NodeNetwork, NodePaths

TF_VARIABLES = (
    "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR",
    "CHECKPOINT_DISABLE",
    "TF_IN_AUTOMATION",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/testbed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="build the pinned tools and providers into the cache")
    up = commands.add_parser("up", help="start a throwaway control plane (and PostgreSQL)")
    up.add_argument("--no-postgres", action="store_true", help="do not start PostgreSQL")
    up.add_argument("--node", action="store_true", help="also start a node (kubelet, ...)")
    commands.add_parser("down", help="stop what `up` started")
    commands.add_parser("env", help="print shell exports for the tools (and a running `up`)")
    args = parser.parse_args(argv)

    layout = Layout.default()
    if args.command == "install":
        try:
            pinned = pins.load()
        except pins.PinError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return install.run(layout, pinned)
    if args.command == "up":
        return cmd_up(Testbed(layout), postgres=not args.no_postgres, node=args.node)
    if args.command == "down":
        return cmd_down(layout)
    return cmd_env(Testbed(layout))


def cmd_up(bed: Testbed, postgres: bool, node: bool = False) -> int:
    if _read_state(bed.layout) is not None:
        print("already up (scripts/testbed down stops it)", file=sys.stderr)
        return cmd_env(bed)
    try:
        bed.require_installed()
    except NotInstalled as exc:
        print(exc, file=sys.stderr)
        return 1

    folder = Path(tempfile.mkdtemp(prefix="jetgen-testbed-"))
    folder.chmod(0o711)  # the postgres user must reach its own sub-folder
    state: dict = {"folder": str(folder), "servers": []}
    try:
        if node:
            try:
                running = node_module.start(bed, folder / "node", tied=False)
            except (NotInstalled, node_module.NodeBusy) as exc:
                print(exc, file=sys.stderr)
                shutil.rmtree(folder, ignore_errors=True)
                return 1
            plane = running.plane
            state["node"] = {"startup_seconds": round(running.startup_seconds, 1)}
            servers = [*plane.servers, *running.servers]
        else:
            plane = controlplane.start(bed, folder / "controlplane", tied=False)
            servers = plane.servers
        state["servers"] += [_server_state(s, signal.SIGTERM) for s in servers]
        state["kubeconfig"] = str(plane.api.kubeconfig)
        if postgres:
            pg = pgserver.start(folder / "postgres", tied=False)
            state["servers"].append(_server_state(pg.server, signal.SIGINT))
            client = pg.client
            state["postgres"] = {"host": client.host, "port": client.port, "user": client.user}
            state["postgres"]["password"] = client.password
    except BaseException:
        _stop(state)
        raise
    _write_state(bed.layout, state)
    print(f"control plane up at {plane.api.url} in {plane.startup_seconds:.1f}s", file=sys.stderr)
    if node:
        print(f"node up in {state['node']['startup_seconds']}s", file=sys.stderr)
    return cmd_env(bed)


def cmd_down(layout: Layout) -> int:
    state = _read_state(layout)
    if state is None:
        # A node whose servers all died (or a killed test session's) still has host
        # changes to undo.
        if layout.node_dir.exists():
            return _stop_node(layout, [])
        print("nothing is up", file=sys.stderr)
        return 0
    if "node" in state:
        postgres = [e for e in state["servers"] if e["name"] == "postgres"]
        _stop({"folder": state["folder"], "servers": postgres})
        servers = [_server(e) for e in state["servers"] if e["name"] != "postgres"]
        code = _stop_node(layout, servers)
        shutil.rmtree(state["folder"], ignore_errors=True)
    else:
        _stop(state)
        code = 0
    layout.state_file.unlink()
    print("stopped", file=sys.stderr)
    return code


def _stop_node(layout: Layout, servers: list[processes.Server]) -> int:
    bed = Testbed(layout)
    try:
        tools = node_module.find_tools(bed)
        node_module.teardown(NodePaths(layout.node_dir), NodeNetwork(), servers, tools)
    except (NotInstalled, node_module.TeardownError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def cmd_env(bed: Testbed) -> int:
    tf_env = bed.tf_env()
    exports = {name: tf_env[name] for name in TF_VARIABLES}
    exports["PATH"] = f"{bed.layout.bin}:{os.environ.get('PATH', '')}"
    # The reference providers' jetgen.yaml find the providers' docs under <cache>/src.
    exports["JETGEN_TESTBED_DIR"] = str(bed.layout.root)
    state = _read_state(bed.layout)
    if state is not None:
        exports["KUBECONFIG"] = state["kubeconfig"]
        if "postgres" in state:
            pg = state["postgres"]
            exports.update(PGHOST=pg["host"], PGPORT=str(pg["port"]), PGUSER=pg["user"])
            exports["PGPASSWORD"] = pg["password"]
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _server_state(server: processes.Server, stop_signal: int) -> dict:
    return {
        "name": server.name,
        "pid": server.pid,
        "log": str(server.log),
        "binary": server.binary,
        "stop_signal": int(stop_signal),
    }


def _server(entry: dict) -> processes.Server:
    return processes.Server(entry["name"], entry["pid"], Path(entry["log"]), entry["binary"])


def _stop(state: dict) -> None:
    for entry in reversed(state["servers"]):
        _server(entry).stop(sig=signal.Signals(entry["stop_signal"]))
    shutil.rmtree(state["folder"], ignore_errors=True)


def _write_state(layout: Layout, state: dict) -> None:
    layout.state_file.parent.mkdir(parents=True, exist_ok=True)
    # It holds the throwaway PostgreSQL password: readable by us only.
    fd = os.open(layout.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)


def _read_state(layout: Layout) -> dict | None:
    """The state of a running `up`, or None (a stale file whose servers died is removed)."""
    try:
        state = json.loads(layout.state_file.read_text())
    except FileNotFoundError:
        return None
    servers = [_server(e) for e in state["servers"]]
    if not any(server.alive() for server in servers) and "node" not in state:
        layout.state_file.unlink()
        shutil.rmtree(state["folder"], ignore_errors=True)
        return None
    return state


if __name__ == "__main__":
    sys.exit(main())
