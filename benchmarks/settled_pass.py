"""The controller's own CPU for one settled pass, the plugin-protocol RPCs left out.

    .venv/bin/python benchmarks/settled_pass.py [--mrs 200] [--passes 5] [--runs 5]

A settled pass renders the MR, proves it unchanged over the plugin protocol and reports;
benchmarks/poll_profile.py measures all of it on the test bed, RPCs, kopf and the event
loop included.  This one times only the reconciler's part, in process
(tests/runtime/passes.py): the real :class:`~jetgen.runtime.reconciler.Reconciler`, real
workdirs on disk, an MR body as the apiserver sends it (managedFields, status with
conditions and ``atProvider``), a ProviderConfig with a credentials Secret, and ``--mrs``
MRs settled by one create each; then ``--passes`` rounds of a settled pass over every
MR, with the poller answering ``unchanged`` at once (the RPCs are what
``poll_profile.py`` and the plugin client's own figures cover) and the Kubernetes reads
served from memory as the informer cache serves them.  Printed: microseconds of CPU
(``time.process_time``) per settled pass, each run and the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetgen.runtime import reconciler  # noqa: E402

from tests.runtime import passes  # noqa: E402


def one_run(mrs: int, rounds: int) -> float:
    """Seconds of CPU per settled pass, over ``rounds`` passes of ``mrs`` MRs."""
    with tempfile.TemporaryDirectory() as tmp:
        rec, kube, _ = passes.runtime(Path(tmp))

        async def go() -> float:
            settled = []
            for i in range(mrs):
                memory = reconciler.Memory()
                settled.append((await passes.settle(rec, passes.body(i), memory), memory))
            driver = rec.rt.driver
            driver.calls.clear()  # type: ignore[attr-defined]
            started = time.process_time()
            for _ in range(rounds):
                for b, memory in settled:
                    await rec.run_pass(b, memory)
            spent = time.process_time() - started
            # Settled passes all: no Terraform run, no failure, nothing written.
            runs = driver.calls  # type: ignore[attr-defined]
            if runs or kube.patches or any(m.failures for _, m in settled):
                raise SystemExit(
                    f"not settled: {len(runs)} Terraform runs, {len(kube.patches)} "
                    "writes in the timed passes"
                )
            return spent / (rounds * mrs)

        return asyncio.run(go())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mrs", type=int, default=200)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    figures = []
    for run in range(args.runs):
        figures.append(one_run(args.mrs, args.passes) * 1e6)
        print(f"run {run + 1}: {figures[-1]:.0f} us CPU per settled pass", flush=True)
    print(
        f"median of {args.runs} runs ({args.mrs} MRs x {args.passes} passes): "
        f"{statistics.median(figures):.0f} us CPU per settled pass (RPCs left out)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
