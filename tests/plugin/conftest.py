"""Fixtures of the plugin client tests: provider binaries from the test bed, process checks.

Every test here is also checked for leaked provider processes: after each test, no
`terraform-provider-*` process may remain among this pytest process's descendants.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

REGISTRY = "registry.terraform.io"


@pytest.fixture(scope="session")
def provider_binary(testbed) -> Callable[[str], Path]:
    """name -> path of the test bed's hashicorp/<name> provider binary."""

    def find(name: str) -> Path:
        label = testbed.providers.get(name)
        if label is None:
            pytest.fail(f"test bed has no provider {name!r}", pytrace=False)
        return testbed.layout.provider_binary(REGISTRY, "hashicorp", name, label)

    return find


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run one async scenario to completion (no pytest-asyncio needed)."""
    return asyncio.run(coro)


def provider_descendants(prefix: str = "terraform-prov") -> list[tuple[int, str]]:
    """(pid, name) of live processes below this one whose name starts with `prefix`.

    Names come from /proc/<pid>/stat, cut to 15 characters ("terraform-provi").
    """
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue  # a zombie is already dead, only not reaped yet
        parents[int(entry)] = int(fields[1])
        names[int(entry)] = comm
    me = os.getpid()

    def below_me(pid: int) -> bool:
        seen = set()
        while pid in parents and pid not in seen:
            seen.add(pid)
            pid = parents[pid]
            if pid == me:
                return True
        return False

    return [(p, n) for p, n in names.items() if n.startswith(prefix) and below_me(p)]


@pytest.fixture(autouse=True)
def no_provider_left_behind():
    yield
    left = provider_descendants()
    assert not left, f"provider processes left behind: {left}"
