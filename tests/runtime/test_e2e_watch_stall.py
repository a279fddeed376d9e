"""A kind's watch stream that stops delivering is started again within a bound.

The controller talks to the real apiserver through the fault proxy.  Once a first MR is
Ready, the proxy stalls the kopf watch of the kind that is open: nothing more comes
through it, and its connection stays open (an apiserver, or a half-dead connection, that
stopped feeding the stream).  A new MR created then must still be reconciled: the
controller drops the stream ``--watch-timeout`` plus a slack after it opened it, and
resumes from its last resourceVersion (operator.watch_settings).  With kopf's defaults
(no timeouts) only kopf's inactivity timer, 70 s after the last event, would end it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.runtime import harness
from tests.runtime.faultproxy import FaultProxy
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.random_mrs import GROUP

pytestmark = pytest.mark.e2e

WATCH_TIMEOUT = 3
# Stream dropped within WATCH_TIMEOUT + WATCH_SLACK (13 s) of the stall, then one pass;
# kopf's inactivity timer alone would wait 70 s from the last event (just before the stall).
BOUND = 45.0


def mr(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Id",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": {"byteLength": 4}},
    }


def test_a_stalled_watch_is_started_again_and_a_new_mr_reconciled(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("watch-stall")
    proxy = FaultProxy(apiserver, victim=lambda: None).start()
    ctl = Controller(
        kinds=harness.kinds_file(random_provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=60,
        namespace=ns,
        extra_args=["--watch-timeout", str(WATCH_TIMEOUT)],
    )
    ctl.args[ctl.args.index("--kubeconfig") + 1] = str(
        proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
    )

    def kind_watch(path: str) -> bool:
        return f"/namespaces/{ns}/ids?" in path and "watch=" in path

    try:
        with ctl:
            wait_for("the controller serving", lambda: "serving" in ctl.logs(), timeout=60)
            apiserver.apply([mr("first", ns)])
            wait_for(
                "the first MR Ready",
                lambda: is_ready(get(apiserver, "ids." + GROUP, "first", ns)),
                timeout=120,
            )
            # A last event just before the stall: without the timeouts the stalled stream
            # would then wait out kopf's whole inactivity timer.
            apiserver.kubectl("annotate", "-n", ns, f"ids.{GROUP}/first", "jetgen.dev/test=1")
            time.sleep(1)
            proxy.stall_watches(kind_watch)
            stalled = time.monotonic()
            apiserver.apply([mr("second", ns)])
            wait_for(
                "the MR created after the stall Ready",
                lambda: is_ready(get(apiserver, "ids." + GROUP, "second", ns)),
                timeout=BOUND,
                every=0.5,
            )
            took = time.monotonic() - stalled
    finally:
        proxy.stop()
    assert took < BOUND, ctl.logs()[-3000:]
    # The stall was real: a watch of the kind was opened again after it.
    reopened = [s for s in proxy.seen if kind_watch(s.path)]
    assert len(reopened) >= 2, [s.path for s in reopened]
