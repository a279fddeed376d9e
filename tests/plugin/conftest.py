"""Fixtures of the plugin client tests: provider binaries from the test bed, process checks.

Every test here is also checked for leaked provider processes: after each test, no
`terraform-provider-*` process may remain among this pytest process's descendants.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from jetgen.runtime.tfplugin.cty import UNKNOWN

from tests.linode_standin import StandIn
from tests.providers.lke import admin_access

REGISTRY = "registry.terraform.io"
# linode/linode's own waits, shortened for the stand-in (which answers at once).
LINODE_FAST = {"event_poll_ms": 300, "lke_event_poll_ms": 300, "min_retry_delay_ms": 300,
               "max_retry_delay_ms": 1000}  # fmt: skip


@pytest.fixture(scope="session")
def provider_binary(testbed) -> Callable[[str], Path]:
    """name -> path of the test bed's hashicorp/<name> provider binary."""

    def find(name: str) -> Path:
        label = testbed.providers.get(name)
        if label is None:
            pytest.fail(f"test bed has no provider {name!r}", pytrace=False)
        return testbed.layout.provider_binary(REGISTRY, "hashicorp", name, label)

    return find


@pytest.fixture
def standin(apiserver) -> Iterator[StandIn]:
    """The Linode API stand-in, with the node and kubeconfig waits of a fast cluster."""
    token = f"lin-{secrets.token_hex(16)}"
    with StandIn(token, admin_access(apiserver), node_ready_seconds=1, kubeconfig_seconds=1) as api:
        yield api


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run one async scenario to completion (no pytest-asyncio needed)."""
    return asyncio.run(coro)


def leaves(value: Any, path: tuple = ()) -> dict[tuple, Any]:
    """path -> leaf (scalars, None, UNKNOWN and empty collections) of a plain value."""
    if isinstance(value, dict) and value:
        return {p: v for k, item in value.items() for p, v in leaves(item, (*path, k)).items()}
    if isinstance(value, list) and value:
        return {p: v for i, item in enumerate(value) for p, v in leaves(item, (*path, i)).items()}
    return {path: value}


def same_plan(planned: dict, tofu_change: dict, what: str = "", ty: Any = "dynamic") -> None:
    """Assert our planned state says what `tofu show -json`'s change says: equal known
    values (tofu leaves unknowns out of `after`) and unknowns at the same paths.

    `ty` (the resource's cty type) lets set elements be compared regardless of order.
    """
    mine, _ = _sort_sets(ty, planned, None)
    after, after_unknown = _sort_sets(ty, tofu_change["after"], tofu_change["after_unknown"])
    mine = leaves(mine)
    our_unknown = {p for p, v in mine.items() if v is UNKNOWN}
    their_unknown = {p for p, v in leaves(after_unknown).items() if v is True}
    assert our_unknown == their_unknown, what
    theirs = leaves(after)
    our_known = {p: v for p, v in mine.items() if v is not UNKNOWN and v is not None}
    their_known = {p: v for p, v in theirs.items() if p not in their_unknown and v is not None}
    assert our_known == their_known, what


def _sort_sets(ty: Any, value: Any, unknown: Any) -> tuple[Any, Any]:
    """Reorder set elements (and their unknown markers alongside) into one canonical order."""
    if isinstance(ty, str) or value is None or value is UNKNOWN:
        return value, unknown
    kind, inner = ty
    if kind == "object" and isinstance(value, dict):
        out, out_unknown = dict(value), dict(unknown) if isinstance(unknown, dict) else unknown
        for name, item in value.items():
            marks = unknown.get(name) if isinstance(unknown, dict) else None
            out[name], marks = _sort_sets(inner.get(name, "dynamic"), item, marks)
            if isinstance(unknown, dict) and name in unknown:
                out_unknown[name] = marks
        return out, out_unknown
    if kind == "set" and isinstance(value, list):
        marks = unknown if isinstance(unknown, list) else [None] * len(value)
        pairs = [_sort_sets(inner, v, m) for v, m in zip(value, marks, strict=True)]
        pairs.sort(key=lambda pair: json.dumps(_known_part(pair[0]), sort_keys=True))
        return [v for v, _ in pairs], (
            [m for _, m in pairs] if isinstance(unknown, list) else unknown
        )
    return value, unknown


def _known_part(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _known_part(v) for k, v in value.items() if v is not None and v is not UNKNOWN}
    if isinstance(value, list):
        return [_known_part(v) for v in value]
    return None if value is UNKNOWN else value


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
