"""End-to-end: a start logs no asyncio error, with MRs and their state Secrets present.

At start kopf's initial scan begins watching every kind API discovery shows, and then the
safe-start gate sees the CRDs one at a time.  The gate used to write, at its first CRD,
that only that CRD's kinds were served: kopf cancelled the other kinds' watch streams
mid-listing (to start them again a moment later), and each half-read stream's async
generators, collected unfinished, logged "Task exception was never retrieved" with
"aclose(): asynchronous generator is already running" -- once per start with a few
hundred MRs.  The start here lists a few hundred MRs and their state Secrets (the
start's list and sweep of them run too), twice: when it creates them and on a restart.
"""

from __future__ import annotations

import json

import pytest
from jetgen.runtime import state

from tests.runtime import harness
from tests.runtime.harness import Controller, is_ready, wait_for
from tests.runtime.random_mrs import IDS, id_mr
from tests.runtime.scrape import Metrics
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

# Enough that kopf is still handing the listed MRs over when the gate sees its first CRD.
MRS = 300
POLL = 5.0
ASYNCIO_ERRORS = ("Task exception was never retrieved", "already running", "was never awaited")


def controller(apiserver, testbed, provider, tmp_path, ns, state_ns, run: str, port: int):
    return Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / f"work-{run}",
        log=tmp_path / f"{run}.log",
        poll=POLL,
        extra_args=["--metrics-port", str(port), "--state-namespace", state_ns],
        namespace=ns,
    )


def count(apiserver, resource: str, ns: str, selector: str | None = None) -> int:
    args = ["get", resource, "-n", ns, "-o", "name"] + (["-l", selector] if selector else [])
    return len(apiserver.kubectl(*args).stdout.split())


def test_a_start_logs_no_asyncio_error(apiserver, testbed, random_provider, tmp_path):
    ns, state_ns = apiserver.create_namespace("start-log"), apiserver.create_namespace("start-st")
    apiserver.apply([id_mr(f"id-{i:03d}", ns) for i in range(MRS)])
    logs = {}
    for run in ("create", "restart"):
        port = free_port()
        metrics = Metrics(port)
        args = (apiserver, testbed, random_provider, tmp_path, ns, state_ns, run, port)
        with controller(*args) as ctl:
            # Every MR handed to a pass (its first one after this start): kopf's listing
            # of them, and the start's list and sweep of the state Secrets, are over.
            wait_for(f"{MRS} Id passes", lambda m=metrics: m.passes("Id") >= MRS, 300)
            if run == "create":
                wait_for(
                    f"{MRS} state Secrets",
                    lambda: count(apiserver, "secrets", state_ns, state.STATE_LABEL) == MRS,
                    120,
                )
            logs[run] = ctl.logs()
    items = json.loads(apiserver.kubectl("get", IDS, "-n", ns, "-o", "json").stdout)["items"]
    assert sum(1 for o in items if is_ready(o)) == MRS
    for run, text in logs.items():
        found = [line for line in text.splitlines() if any(e in line for e in ASYNCIO_ERRORS)]
        assert not found, f"{run}: {found}"
