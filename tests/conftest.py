"""Suite-wide set-up: the test bed's fixtures, and how `make test` splits the suite between
pytest-xdist workers (`pytest -n 3`, with `--dist loadgroup` from pyproject's addopts).

The unit of work handed to a worker is a whole module, in the order its tests are written,
as in a serial run: tests of a module share module fixtures and sometimes objects on the
session's kube-apiserver. A module that is long and whose tests do not depend on each other
may set ``XDIST_SPLIT = True``: its tests are then handed out one by one. Tests that share
something machine-wide (the node) carry ``pytest.mark.xdist_group(name)`` and all run in one
worker, whatever module they are in. Each worker has its own session fixtures (control plane,
PostgreSQL), so two workers never share a cluster. docs/testbed.md, "Workers", has the figures.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.testbed.fixtures"]

# Modules that take longest (measured with `--durations`), started first so that no worker
# begins one of them when the others are nearly done. Any module not listed comes after
# them: end-to-end modules first, then the rest, each in collection order.
LONGEST_FIRST = (
    "tests/generator/test_apiserver.py",  # the 987 AWS CRDs: the longest single test
    "tests/providers/test_e2e_node_provider.py",  # the node's group: an image build, pods
    "tests/providers/test_e2e_seed_story.py",
    "tests/runtime/test_e2e_faults.py",
    "tests/generator/test_properties.py",
    "tests/test_install_e2e.py",
    "tests/generator/test_packaging_e2e.py",
    "tests/providers/test_e2e_postgresql.py",
    "tests/generator/test_cli.py",
)


DRIVERS = ("plugin", "cli")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--driver",
        choices=DRIVERS,
        default=os.environ.get("JETGEN_DRIVER") or "plugin",
        help="driver of every controller the tests start (its --driver, through "
        "JETGEN_DRIVER): plugin (plugin protocol, the CLI for what it cannot prove) or cli; "
        "default $JETGEN_DRIVER, else plugin",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Every controller a test starts (tests/runtime/harness.py's Controller) inherits the
    # environment; a test that chooses a driver itself passes --driver, which wins.
    os.environ["JETGEN_DRIVER"] = config.getoption("driver")


def pytest_report_header(config: pytest.Config) -> str:
    return f"jetgen driver: {config.getoption('driver')} (--driver)"


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _rank(item: pytest.Item) -> tuple[int, int]:
    module = _module(item)
    if module in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(module))
    return (1, 0) if item.get_closest_marker("e2e") else (2, 0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: pytest-xdist's worker reads the xdist_group marks in this same hook.
    items.sort(key=_rank)  # stable: each module keeps its own order
    for item in items:
        split = getattr(item.module, "XDIST_SPLIT", False) if item.module else False
        if not split and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_module(item)))


_LOST_GROUP = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """In a worker of `--dist loadgroup`: a test whose group did not take fails at setup.

    pytest-xdist passes a test's group to the scheduler as a suffix of its node ID; a
    pytest whose node IDs ignore that (9.2 with xdist 3.8) or a group mark added after
    xdist read the marks (a hook without tryfirst) would silently run grouped tests in
    parallel. (An exception here would only show as a worker's INTERNALERROR.)
    """
    if not session.config.getoption("loadgroup", default=False):
        return
    for item in session.items:
        names = sorted({_group(mark) for mark in item.iter_markers("xdist_group")})
        if names and not item.nodeid.endswith("@" + "_".join(names)):
            item.stash[_LOST_GROUP] = (
                f"xdist_group {names} not applied, so this test could run in parallel with "
                "its group: pytest-xdist reads the groups in pytest_collection_modifyitems "
                "(add a mark there in a tryfirst hook) from the node ID (pytest<9.2)"
            )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _LOST_GROUP in item.stash:
        pytest.fail(item.stash[_LOST_GROUP], pytrace=False)


def _group(mark: pytest.Mark) -> str:
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
