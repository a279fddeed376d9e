"""Memory the read caches hold per object, for sizing at 10,000 MRs.

    .venv/bin/python benchmarks/cache_memory.py [--objects 10000] [--runs 3]

Feeds ``--objects`` watch events of each shape into an informer (runtime/cache.py) and
measures with tracemalloc what the informer holds afterwards, per object:

* a connection Secret (four keys, ~2 KiB of data, as a kubeconfig-bearing one is) kept
  as the cache keeps one: identity, owner reference and a digest;
* the same Secret kept with its data (how a credentials Secret is kept);
* a referenced MR (a 40-field spec, status.atProvider with 40 fields) projected to what
  references read: name, labels, external name, owner references, one status path;
* the same MR kept whole (what a cache without projection would hold).

Medians of ``--runs``.  No apiserver: the events are built here, as the watch delivers them.
"""

from __future__ import annotations

import argparse
import base64
import gc
import statistics
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetgen.runtime import cache  # noqa: E402


def connection_secret(i: int) -> dict[str, Any]:
    data = {
        "attribute.kubeconfig": base64.b64encode(b"k" * 1500 + str(i).encode()).decode(),
        "attribute.token": base64.b64encode(b"t" * 64).decode(),
        "endpoint": base64.b64encode(b"https://10.0.0.1:6443").decode(),
        "username": base64.b64encode(b"admin").decode(),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "connection.crossplane.io/v1alpha1",
        "metadata": {
            "name": f"conn-{i}",
            "namespace": "team",
            "uid": f"00000000-0000-0000-0000-{i:012d}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-12-07T04:00:00Z",
            "ownerReferences": [
                {
                    "apiVersion": "linode.m.jetgen.dev/v1alpha1",
                    "kind": "Cluster",
                    "name": f"cluster-{i}",
                    "uid": f"10000000-0000-0000-0000-{i:012d}",
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
            "managedFields": [{"manager": "jetgen", "operation": "Update"}],
        },
        "data": data,
    }


def managed_resource(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "linode.m.jetgen.dev/v1alpha1",
        "kind": "Cluster",
        "metadata": {
            "name": f"cluster-{i}",
            "namespace": "team",
            "uid": f"10000000-0000-0000-0000-{i:012d}",
            "resourceVersion": str(2000 + i),
            "generation": 1,
            "labels": {"team": "a", "env": "prod"},
            "annotations": {
                "crossplane.io/external-name": str(100000 + i),
                "jetgen.dev/last-handled-configuration": "{" + "x" * 800 + "}",
            },
            "finalizers": ["jetgen.dev/finalizer"],
        },
        "spec": {"forProvider": {f"field{n}": f"value-{n}-{i}" for n in range(40)}},
        "status": {
            "atProvider": {f"field{n}": f"value-{n}-{i}" for n in range(40)} | {"id": str(i)},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    }


def held_bytes(
    count: int, build: Callable[[int], dict[str, Any]], informer: cache.Informer
) -> float:
    gc.collect()
    tracemalloc.start()  # traces only what is allocated from here on
    events = [{"type": "ADDED", "object": build(i)} for i in range(count)]
    for event in events:
        informer.apply(event)
    del events, event  # what stays allocated is what the informer holds
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return held / count


def informer(project: cache.Projection, keep_all: bool, wanted: int = 0) -> cache.Informer:
    inf = cache.Informer(None, cache.Scope("v1", "x", "team"), project=project, keep_all=keep_all)  # type: ignore[arg-type]
    inf.wanted = {("team", f"conn-{i}") for i in range(wanted)}
    return inf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.objects
    digest_only = lambda o: cache.secret_view(o, keep_data=False)  # noqa: E731
    with_data = lambda o: cache.secret_view(o, keep_data=True)  # noqa: E731
    projected = cache.reference_projection(["status.atProvider.id"], "crossplane.io/external-name")
    cases = {
        "connection Secret, digest (as kept)": (connection_secret, digest_only, False),
        "Secret with its data (credentials)": (connection_secret, with_data, False),
        "referenced MR, projected (as kept)": (managed_resource, projected, True),
        "referenced MR, whole (not done)": (managed_resource, cache.whole, True),
    }
    for label, (build, project, keep_all) in cases.items():
        sizes = []
        for _ in range(args.runs):
            sizes.append(held_bytes(n, build, informer(project, keep_all, n)))
        per = statistics.median(sizes)
        print(f"{label}: {per:.0f} bytes per object, {per * n / 2**20:.1f} MiB for {n:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
