"""The controller (``jetgen.runtime.cli``) under tracemalloc, for benchmarks/runtime_memory.py.

    python benchmarks/traced_controller.py <the controller's own arguments>

Allocations are traced from the first line (``$JETGEN_TRACE_FRAMES`` frames each, 8
unless set: enough to reach the runtime's or kopf's frame behind most allocations).  On SIGUSR2 the
process writes, next to ``$JETGEN_TRACE_PREFIX``, ``<prefix>.<n>.snap`` (the tracemalloc
snapshot, after a full collection) and ``<prefix>.<n>.types.json`` (live objects the
garbage collector tracks, counted by type), then ``<prefix>.<n>.done``; n counts the
signals from 1.  The files are read by the benchmark, which compares two of them.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from typing import Any


def _dump(prefix: str, count: list[int]) -> None:
    count[0] += 1
    base = f"{prefix}.{count[0]}"
    gc.collect()
    types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    tracemalloc.take_snapshot().dump(f"{base}.snap")
    Path(f"{base}.types.json").write_text(json.dumps(dict(types)))
    Path(f"{base}.done").write_text("")


def main() -> None:
    prefix = os.environ["JETGEN_TRACE_PREFIX"]
    tracemalloc.start(int(os.environ.get("JETGEN_TRACE_FRAMES", "8")))
    count = [0]

    def on_signal(*_: Any) -> None:
        _dump(prefix, count)

    signal.signal(signal.SIGUSR2, on_signal)
    sys.argv = ["jetgen.runtime.cli", *sys.argv[1:]]
    runpy.run_module("jetgen.runtime.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
