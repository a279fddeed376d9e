"""End-to-end: the controller is SIGKILLed in the middle of a create.

With the CLI driver (the plugin driver's windows are the fault matrix's).  To hit the
dangerous window on purpose, the first controller runs Terraform through a
wrapper that lets the real ``tofu apply`` finish (the file exists, the workdir has state)
and then hangs, as a slow provider would before returning.  The test SIGKILLs the
controller's whole process group (controller, wrapper, tofu) while the create-pending
annotation is set, then starts a normal controller and checks that nothing is created a
second time.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr
from tests.runtime.scrape import Metrics
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

PENDING = "crossplane.io/external-create-pending"
SUCCEEDED = "crossplane.io/external-create-succeeded"


def hanging_tofu(tmp_path, real) -> str:
    script = tmp_path / "hanging-tofu"
    script.write_text(
        f'#!/bin/sh\n"{real}" "$@"\nrc=$?\nif [ "$1" = "apply" ]; then sleep 600; fi\nexit $rc\n'
    )
    script.chmod(0o755)
    return str(script)


def controller(
    apiserver, testbed, provider, tmp_path, log: str, *, cli: bool = True, **kw
) -> Controller:
    # The CLI driver whatever the run's --driver (unless cli=False): these windows are held
    # open by a wrapper around tofu, which runs no apply under the plugin driver.  The
    # plugin driver's windows are the fault matrix's (test_e2e_faults.py, "Under the
    # plugin-protocol driver" in docs/faults.md).
    return Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / log,
        poll=3,
        env={"JETGEN_DRIVER": "cli"} if cli else None,
        **kw,
    )


def more_passes(metrics: Metrics, count: int) -> None:
    """Wait for ``count`` more reconcile passes of the File kind: counted, as a fixed sleep
    may hold fewer of them on a loaded machine (the controller's metrics not up yet: 0)."""

    def passes() -> int:
        try:
            return metrics.passes("File")
        except OSError:  # not serving yet: no pass yet either
            return 0

    start = passes()
    wait_for(f"{count} more passes", lambda: passes() >= start + count)


def create_events(apiserver, ns) -> int:
    items = json.loads(harness.events_text(apiserver, ns))["items"]
    return sum(e.get("count", 1) for e in items if e["reason"] == "CreatedExternalResource")


def kill_mid_create(apiserver, testbed, provider, tmp_path, ns, target):
    # The create hangs in a tofu run: the CLI driver's (the next controller may use either).
    first = controller(
        apiserver, testbed, provider, tmp_path, "first.log", namespace=ns, driver="cli"
    )
    first.args[first.args.index("--terraform") + 1] = hanging_tofu(tmp_path, testbed.tofu)
    first.start()
    try:
        apiserver.apply(file_mr("crash", ns, target, "once\n"))
        wait_for("the create to be under way", target.exists, timeout=60)
        obj = get(apiserver, "files." + GROUP, "crash", ns)
        assert PENDING in obj["metadata"]["annotations"]
        assert SUCCEEDED not in obj["metadata"]["annotations"]
    finally:
        first.kill()
    return target.stat()


def test_kill_during_create_then_restart_creates_nothing_twice(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("crash")
    out = tmp_path / "out"
    target = out / "crash.txt"
    before = kill_mid_create(apiserver, testbed, local_provider, tmp_path, ns, target)

    with controller(apiserver, testbed, local_provider, tmp_path, "second.log", namespace=ns):
        obj = wait_for(
            "Ready after restart",
            lambda: (o := get(apiserver, "files." + GROUP, "crash", ns)) and is_ready(o) and o,
        )
    annotations = obj["metadata"]["annotations"]
    assert annotations[SUCCEEDED] > annotations[PENDING]
    assert [p.name for p in out.iterdir()] == ["crash.txt"]
    after = target.stat()
    # Same file, never rewritten: the restarted controller found the create in the state.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert create_events(apiserver, ns) == 0  # the first controller died before reporting


def test_kill_during_create_with_lost_workdir_refuses_to_guess(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("crash-lost")
    out = tmp_path / "out"
    target = out / "crash.txt"
    before = kill_mid_create(apiserver, testbed, local_provider, tmp_path, ns, target)
    shutil.rmtree(tmp_path / "work")  # a new pod: the workdir (and its state) is gone

    port = free_port()
    with controller(
        apiserver, testbed, local_provider, tmp_path, "second.log", namespace=ns,
        extra_args=["--metrics-port", str(port)],
    ):  # fmt: skip
        # local_file has no import and its ID comes from the provider: the controller
        # cannot know whether the interrupted create made something, so it must not
        # create again; it says so and waits for a human.
        obj = wait_for(
            "Synced=False about the interrupted create",
            lambda: (
                (o := get(apiserver, "files." + GROUP, "crash", ns))
                and "interrupted" in harness.condition(o, "Synced").get("message", "")
                and o
            ),
        )
        assert harness.condition(obj, "Synced")["reason"] == "ReconcileError"
        more_passes(Metrics(port), 2)  # still no second create
        after = target.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert create_events(apiserver, ns) == 0

        # The human checked: creating again is safe.  Removing the mark lets it proceed.
        apiserver.kubectl("annotate", "files." + GROUP, "crash", "-n", ns, f"{PENDING}-")
        obj = wait_for(
            "Ready after the mark is removed",
            lambda: (o := get(apiserver, "files." + GROUP, "crash", ns)) and is_ready(o) and o,
        )
    assert [p.name for p in out.iterdir()] == ["crash.txt"]
    assert target.read_text() == "once\n"
    assert create_events(apiserver, ns) == 1


def test_restart_with_lost_workdir_restores_state_from_secret(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("restart")
    target = tmp_path / "out" / "kept.txt"
    # No wrapper here: the run's own driver (a state the plugin driver wrote and restored).
    with controller(
        apiserver, testbed, local_provider, tmp_path, "first.log", namespace=ns, cli=False
    ):
        apiserver.apply(file_mr("r", ns, target, "stable\n"))
        wait_for("Ready", lambda: is_ready(get(apiserver, "files." + GROUP, "r", ns)))
    before = target.stat()
    shutil.rmtree(tmp_path / "work")

    port = free_port()
    with controller(
        apiserver, testbed, local_provider, tmp_path, "second.log", namespace=ns, cli=False,
        extra_args=["--metrics-port", str(port)],
    ):  # fmt: skip
        # Two passes of the new controller (counted: a fixed sleep was less than that at
        # load 20, before its first pass had restored anything).
        more_passes(Metrics(port), 2)
        obj = get(apiserver, "files." + GROUP, "r", ns)
        assert is_ready(obj)
        # The new controller did work: its workdir holds the state restored from the Secret.
        (restored,) = (tmp_path / "work").glob("*/terraform.tfstate")
        assert "stable" in restored.read_text()
        after = target.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert create_events(apiserver, ns) == 1
        # The restored state is enough to delete the file too.
        apiserver.kubectl("delete", "files." + GROUP, "r", "-n", ns, "--timeout=60s")
    assert not target.exists()


def test_create_timeout_leaves_the_create_incomplete_and_the_state_recovers_it(
    apiserver, testbed, local_provider, tmp_path
):
    """A create that outlives its timeout is not a failed create: the file was made (as a
    slow cloud API may still make the resource), so the next pass must find it in the
    state Terraform saved, never create again."""
    ns = apiserver.create_namespace("timeout")
    out = tmp_path / "out"
    target = out / "slow.txt"
    script = tmp_path / "slow-tofu"
    # The real apply finishes, then the "provider" keeps the run open past the timeout.
    script.write_text(
        f'#!/bin/sh\n"{testbed.tofu}" "$@"\nrc=$?\n'
        'if [ "$1" = "apply" ]; then exec sleep 600; fi\nexit $rc\n'
    )
    script.chmod(0o755)
    port = free_port()
    ctl = controller(
        apiserver, testbed, local_provider, tmp_path, "ctl.log", namespace=ns,
        extra_args=["--run-timeout", "8", "--metrics-port", str(port)],  # a tofu run's timeout
        driver="cli",
    )  # fmt: skip
    ctl.args[ctl.args.index("--terraform") + 1] = str(script)
    with ctl:
        apiserver.apply(file_mr("slow", ns, target, "once\n"))
        obj = wait_for(
            "Ready after the timed-out create",
            lambda: (o := get(apiserver, "files." + GROUP, "slow", ns)) and is_ready(o) and o,
            timeout=90,
        )
        before = target.stat()
        more_passes(Metrics(port), 2)  # nothing is created again
        after = target.stat()
    annotations = obj["metadata"]["annotations"]
    assert "crossplane.io/external-create-failed" not in annotations
    assert annotations[SUCCEEDED] > annotations[PENDING]
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in out.iterdir()] == ["slow.txt"]
    assert "timed out after 8s" in ctl.logs()
    assert create_events(apiserver, ns) == 0  # the create's own report never came
