"""Pytest plugin: the `testbed`, `apiserver` and `postgres` session fixtures.

Enable with `pytest_plugins = ["tests.testbed.fixtures"]` in tests/conftest.py. When the
test bed is not installed the fixtures fail (never skip): a missing tool is a broken
environment, not a reason to pass.

Servers are stopped by the fixture finalizers; should those not run (pytest killed), the
processes die with the pytest process (PR_SET_PDEATHSIG, see processes.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import controlplane, pgserver
from .bed import NotInstalled, Testbed
from .kube import ApiServer


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
    folder = tmp_path_factory.mktemp("controlplane")
    plane = controlplane.start(testbed, folder)
    try:
        yield plane.api
    finally:
        plane.stop()
        # Keep the logs (pytest prunes old temp dirs), drop etcd's preallocated WAL files.
        shutil.rmtree(folder / "etcd", ignore_errors=True)


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
