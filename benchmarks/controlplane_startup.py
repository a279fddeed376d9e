"""Median startup time of the test bed's throwaway control plane.

    .venv/bin/python benchmarks/controlplane_startup.py [--runs N]

Per run: "apiserver" is etcd + kube-apiserver until /readyz answers 200 (PKI included);
"with controllers" adds kube-controller-manager until it created the default
ServiceAccount, which is what the `apiserver` fixture waits for.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.testbed import controlplane  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bed = Testbed()
    bed.require_installed()

    apiserver, total = [], []
    for run in range(1, args.runs + 1):
        folder = Path(tempfile.mkdtemp(prefix="jetgen-bench-"))
        started = time.monotonic()
        plane = controlplane.start(bed, folder)
        total.append(time.monotonic() - started)
        apiserver.append(plane.startup_seconds)
        plane.stop()
        shutil.rmtree(folder)
        print(f"run {run}: apiserver {apiserver[-1]:.2f}s, with controllers {total[-1]:.2f}s")
    print(
        f"median of {args.runs}: apiserver ready {statistics.median(apiserver):.2f}s, "
        f"with controllers {statistics.median(total):.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
