"""Pytest plugin: the `testbed`, `apiserver` and `postgres` session fixtures, and `node`.

Enable with `pytest_plugins = ["tests.testbed.fixtures"]` in tests/conftest.py. When the
test bed is not installed the fixtures fail (never skip): a missing tool is a broken
environment, not a reason to pass.

Servers are stopped by the fixture finalizers; should those not run (pytest killed), the
processes die with the pytest process (PR_SET_PDEATHSIG, see processes.py).

`node` (a real kubelet node with its own control plane, node.py) is started by the first
test that asks for it and shared by the session; `node_slot` can also stop it mid-session
(the tear-down test). The node is machine-wide, so every test using it is marked `node`
and put in one pytest-xdist group: with `--dist loadgroup` they all run in one worker.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import controlplane, pgserver
from . import node as node_module
from .bed import NotInstalled, Testbed
from .kube import ApiServer

NODE_FIXTURES = {"node", "node_slot"}


# tryfirst: pytest-xdist's worker reads the xdist_group marks in this same hook (and
# tests/conftest.py gives every test without a group its module's).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if NODE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.node)
            item.add_marker(pytest.mark.xdist_group("node"))


@pytest.fixture(scope="session")
def testbed() -> Testbed:
    bed = Testbed()
    try:
        bed.require_installed()
    except NotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    return bed


@pytest.fixture(scope="session")
def apiserver(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with controlplane.running(testbed, tmp_path_factory.mktemp("controlplane")) as plane:
        yield plane.api


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.Postgres]:
    if pgserver.find_binaries(required=False) is None:
        pytest.fail(str(NotInstalled("postgresql")), pytrace=False)
    # Not under pytest's temp dir: that one is private to root, and the cluster may have
    # to belong to the `postgres` user.
    folder = Path(tempfile.mkdtemp(prefix="jetgen-postgres-"))
    try:
        server = pgserver.start(folder)
        try:
            yield server.client
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class NodeSlot:
    """The session's node: started on first use, stoppable (and startable again)."""

    def __init__(self, testbed: Testbed, log_root: Path):
        self.testbed = testbed
        self.log_root = log_root
        self.current: node_module.Node | None = None
        self.starts = 0

    def get(self) -> node_module.Node:
        if self.current is None:
            self.starts += 1
            try:
                logs = self.log_root / f"start-{self.starts}"
                self.current = node_module.start(self.testbed, logs)
            except NotInstalled as exc:
                pytest.fail(str(exc), pytrace=False)
        return self.current

    def stop(self) -> None:
        """Tear the node down; raises TeardownError naming anything left behind."""
        if self.current is not None:
            current, self.current = self.current, None
            current.stop()


@pytest.fixture(scope="session")
def node_slot(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeSlot]:
    slot = NodeSlot(testbed, tmp_path_factory.mktemp("node"))
    try:
        yield slot
    finally:
        slot.stop()


@pytest.fixture
def node(node_slot: NodeSlot) -> node_module.Node:
    return node_slot.get()
