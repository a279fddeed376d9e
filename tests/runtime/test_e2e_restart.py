"""End-to-end: a restarted controller re-checks its settled MRs over the plugin protocol.

Before, a restart cost one Terraform plan per MR (the proof that an MR was settled lived
only in memory).  Now the settled mark is saved with the state in the state Secret, so a
new controller -- here with an empty workdir root, as a rescheduled pod has -- proves
each unchanged MR over the plugin protocol (ReadResource + PlanResourceChange) and runs
no plan at all; only ``init`` runs once.  An MR changed while no controller ran is still
planned and replaced.  Driver operations and CLI runs are counted by the controller's
own metrics; the test holds under either write driver (``--driver``).
"""

from __future__ import annotations

import time

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.random_mrs import IDS, id_mr
from tests.runtime.scrape import Metrics
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

MRS = 12
POLL = 4.0


def controller(apiserver, testbed, provider, tmp_path, ns, run: str, port: int) -> Controller:
    return Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / f"work-{run}",  # a new pod: nothing on disk
        log=tmp_path / f"{run}.log",
        poll=POLL,
        extra_args=["--metrics-port", str(port)],
        namespace=ns,
    )


def ready_ids(apiserver, ns: str, names: list[str]) -> dict[str, dict] | None:
    found = {n: get(apiserver, IDS, n, ns) for n in names}
    return found if all(is_ready(o) for o in found.values()) else None


def test_restart_proves_settled_mrs_unchanged_without_a_plan(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("restart-plugin")
    names = [f"id-{i:02d}" for i in range(MRS)]
    with controller(apiserver, testbed, random_provider, tmp_path, ns, "first", free_port()):
        apiserver.apply([id_mr(n, ns) for n in names])
        before = wait_for(f"{MRS} Ids Ready", lambda: ready_ids(apiserver, ns, names), 240)

    # While no controller runs, one MR is edited (a replacement: a new byte length).
    apiserver.apply(id_mr("id-00", ns, byte_length=16))

    port = free_port()
    metrics = Metrics(port)
    started = time.monotonic()
    with controller(apiserver, testbed, random_provider, tmp_path, ns, "second", port) as ctl:
        wait_for(
            f"{MRS - 1} unchanged MRs proven over the plugin protocol",
            lambda: metrics.polls("unchanged") >= MRS - 1,
            timeout=3 * POLL + 90,
        )
        proven = time.monotonic() - started
        edited = wait_for(
            "the edited Id replaced",
            lambda: (
                (o := get(apiserver, IDS, "id-00", ns))
                and o["status"].get("observedGeneration") == o["metadata"]["generation"]
                and is_ready(o)
                and o
            ),
            timeout=120,
        )
        runs = metrics.terraform_runs()
        ops = metrics.writes()
        after = wait_for("all Ready", lambda: ready_ids(apiserver, ns, names), 60)
        logs = ctl.logs()

    # The edited MR alone was planned and replaced (by whichever driver writes: the CLI's
    # plan, show and apply, or the plugin protocol's); every unchanged one was proven over
    # the plugin protocol: no plan, no Terraform run for any of them.
    assert ops.get("plan") == 1 and ops.get("apply") == 1, ops
    assert runs.get("plan", 0) <= 1 and runs.get("init") == 1, runs
    assert set(runs) <= {"init", "plan", "show", "apply"}, runs
    assert "poll found" not in logs  # no check found anything to hand to Terraform
    assert edited["status"]["atProvider"]["byteLength"] == 16
    old_hex = before["id-00"]["status"]["atProvider"]["hex"]
    assert edited["status"]["atProvider"]["hex"] != old_hex
    for name in names[1:]:
        # Unchanged: the same random value, never recreated.
        assert after[name]["status"]["atProvider"] == before[name]["status"]["atProvider"]
    print(
        f"\nrestart with {MRS} settled Ids (one edited while down): {MRS - 1} proven unchanged"
        f" over the plugin protocol {proven:.1f} s after the start; driver operations {ops},"
        f" Terraform runs {runs}"
    )
