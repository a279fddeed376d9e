"""Serve the stand-in in a process of its own, so what it costs is not charged to the caller.

    LINODE_STANDIN_TOKEN=... python -m tests.linode_standin

Prints the URL it serves (``http://127.0.0.1:<port>``) as its first line of output and
runs until SIGTERM or SIGINT. The token comes from the environment, never the command line
(other users can read a command line). No Kubernetes access: LKE kubeconfigs stay
unavailable and nodes are not registered; the benchmarks use kinds that need neither.
Drive it with `RemoteStandIn(url)`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .server import StandIn


def main() -> int:
    token = os.environ.get("LINODE_STANDIN_TOKEN")
    if not token:
        print("linode stand-in: set LINODE_STANDIN_TOKEN", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with StandIn(token) as stand_in:
        print(stand_in.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
