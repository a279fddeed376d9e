"""Memory of the controller's Kubernetes client choices: RSS after import and after a
500-MR workload against the test bed's real apiserver.

    .venv/bin/python benchmarks/kube_client_rss.py [--runs 5] [--mrs 500]

Candidates, each in a fresh process that also imports kopf (as the controller does):

- ``before``     the hand-written aiohttp client as it was before kubeauth.py: kopf's
                 minimal kubeconfig login, plain JSON over aiohttp;
- ``jetgen``     what the runtime uses now: lightkube's kubeconfig loader
                 (kubeauth.py) and kube.py's aiohttp requests;
- ``lightkube``  lightkube's own AsyncClient (httpx2 and its typed models) for the requests;
- ``kubernetes`` the official client (synchronous, so calls go through ``asyncio.to_thread``);
- ``kubernetes_asyncio`` its asyncio port.

kopf imports ``kubernetes`` (or ``kubernetes_asyncio``) at its own import whenever it is
installed, to offer a login through it; so each candidate runs with the other client
packages hidden, as in an image that installs only its own (the ``+kopf`` column shows
that cost).  The workload per MR is what a pass does to the apiserver at
most: GET its object, PATCH it (merge patch), GET a Secret; 20 MRs at once.

The comparison clients live in their own venv (``build/kube-client-bench/venv``, made on
the first run with pinned versions), not in the project's.  Printed: medians over
``--runs`` fresh processes per candidate of RSS after import + kubeconfig load, RSS after
the workload, peak RSS, and the workload's wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_VENV = REPO / "build" / "kube-client-bench" / "venv"
PINS = ["kubernetes==37.0.2", "kubernetes-asyncio==36.1.0"]
CANDIDATES = ["before", "jetgen", "lightkube", "kubernetes", "kubernetes_asyncio"]
HIDDEN = ("kubernetes", "kubernetes_asyncio", "pykube")
CONCURRENCY = 20


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


# --- the child: one candidate in a fresh process -------------------------------------------


def child(candidate: str, kubeconfig: str, namespace: str, mrs: int) -> dict[str, Any]:
    for name in HIDDEN:
        if name != candidate:
            sys.modules[name] = None  # type: ignore[assignment]  # "not installed"
    python = status_kib("VmRSS")
    import kopf  # noqa: F401 - the controller always has it

    base = status_kib("VmRSS")

    work = {
        "before": _before,
        "jetgen": _jetgen,
        "lightkube": _lightkube,
        "kubernetes": _kubernetes,
        "kubernetes_asyncio": _kubernetes_asyncio,
    }[candidate]
    return {"python": python / 1024, **asyncio.run(work(kubeconfig, namespace, mrs, base))}


def _names(mrs: int) -> list[str]:
    return [f"mr-{i:05d}" for i in range(mrs)]


async def _drive(mrs: int, one: Any) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def guarded(name: str) -> None:
        async with gate:
            await one(name)

    started = time.monotonic()
    await asyncio.gather(*(guarded(name) for name in _names(mrs)))
    return time.monotonic() - started


def _result(base: int, imported: int, wall: float) -> dict[str, Any]:
    return {
        "base": base / 1024,
        "import": imported / 1024,
        "after": status_kib("VmRSS") / 1024,
        "peak": status_kib("VmHWM") / 1024,
        "wall": wall,
    }


async def _before(kubeconfig: str, namespace: str, mrs: int, base: int) -> dict[str, Any]:
    import aiohttp
    import kopf
    import yarl

    os.environ["KUBECONFIG"] = kubeconfig
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings(), logger=logging.getLogger())
    assert info is not None
    imported = status_kib("VmRSS")
    ctx = info.as_ssl_context()
    headers = {"Authorization": f"Bearer {info.token}", "Accept": "application/json"}
    server = str(info.server).rstrip("/")
    async with aiohttp.ClientSession() as session:

        async def call(method: str, path: str, body: Any = None) -> Any:
            h = dict(headers)
            if body is not None:
                h["Content-Type"] = "application/merge-patch+json"
            url = yarl.URL(server + path, encoded=True)
            data = json.dumps(body) if body is not None else None
            async with session.request(method, url, data=data, headers=h, ssl=ctx) as r:
                r.raise_for_status()
                return json.loads(await r.text())

        async def one(name: str) -> None:
            path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
            await call("GET", path)
            await call("PATCH", path, {"data": {"seen": "before"}})
            await call("GET", f"/api/v1/namespaces/{namespace}/secrets/bench")

        wall = await _drive(mrs, one)
    return _result(base, imported, wall)


async def _jetgen(kubeconfig: str, namespace: str, mrs: int, base: int) -> dict[str, Any]:
    from jetgen.runtime import kube, kubeauth

    creds = kubeauth.load(kubeconfig)
    await creds.check()
    imported = status_kib("VmRSS")
    client = kube.KubeClient(creds, kube.Limits(qps=0))

    async def one(name: str) -> None:
        path = kube.object_path("v1", "configmaps", namespace, name)
        await client.get(path)
        await client.patch(path, {"data": {"seen": "jetgen"}})
        await client.get(kube.secret_path(namespace, "bench"))

    try:
        wall = await _drive(mrs, one)
    finally:
        await client.close()
    return _result(base, imported, wall)


async def _lightkube(kubeconfig: str, namespace: str, mrs: int, base: int) -> dict[str, Any]:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.resources.core_v1 import ConfigMap, Secret
    from lightkube.types import PatchType

    client = AsyncClient(KubeConfig.from_file(kubeconfig))
    imported = status_kib("VmRSS")

    async def one(name: str) -> None:
        await client.get(ConfigMap, name, namespace=namespace)
        patch = {"data": {"seen": "lightkube"}}
        await client.patch(ConfigMap, name, patch, namespace=namespace, patch_type=PatchType.MERGE)
        await client.get(Secret, "bench", namespace=namespace)

    try:
        wall = await _drive(mrs, one)
    finally:
        await client.close()
    return _result(base, imported, wall)


async def _kubernetes(kubeconfig: str, namespace: str, mrs: int, base: int) -> dict[str, Any]:
    import kubernetes

    api_client = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = CONCURRENCY
    core = kubernetes.client.CoreV1Api(api_client)
    imported = status_kib("VmRSS")

    def one_sync(name: str) -> None:
        core.read_namespaced_config_map(name, namespace)
        core.patch_namespaced_config_map(name, namespace, {"data": {"seen": "kubernetes"}})
        core.read_namespaced_secret("bench", namespace)

    async def one(name: str) -> None:
        await asyncio.to_thread(one_sync, name)

    wall = await _drive(mrs, one)
    api_client.close()
    return _result(base, imported, wall)


async def _kubernetes_asyncio(
    kubeconfig: str, namespace: str, mrs: int, base: int
) -> dict[str, Any]:
    import kubernetes_asyncio

    api_client = await kubernetes_asyncio.config.new_client_from_config(config_file=kubeconfig)
    core = kubernetes_asyncio.client.CoreV1Api(api_client)
    imported = status_kib("VmRSS")

    async def one(name: str) -> None:
        await core.read_namespaced_config_map(name, namespace)
        await core.patch_namespaced_config_map(name, namespace, {"data": {"seen": "k8s-asyncio"}})
        await core.read_namespaced_secret("bench", namespace)

    try:
        wall = await _drive(mrs, one)
    finally:
        await api_client.close()
    return _result(base, imported, wall)


# --- the parent: set-up, runs, table -----------------------------------------------------


def bench_python() -> Path:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {BENCH_VENV} (first run only) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-e", str(REPO), *PINS], check=True)
    return python


def setup_objects(api: Any, mrs: int) -> str:
    namespace = api.create_namespace("kube-client-bench")
    items: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": namespace}}
        for n in _names(mrs)
    ]
    items.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bench", "namespace": namespace},
            "stringData": {"token": "x" * 40},
        }
    )
    api.apply(items)
    return namespace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mrs", type=int, default=500)
    parser.add_argument("--only", action="append", choices=CANDIDATES)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.testbed import controlplane
    from tests.testbed.bed import Testbed

    python = bench_python()
    bed = Testbed()
    bed.require_installed()
    candidates = args.only or CANDIDATES
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in candidates}
    with tempfile.TemporaryDirectory(prefix="kube-client-bench-") as tmp:
        plane = controlplane.start(bed, Path(tmp), controllers=False)
        try:
            namespace = setup_objects(plane.api, args.mrs)
            for run in range(args.runs):
                for candidate in candidates:  # interleaved, so load drifts hit all alike
                    proc = subprocess.run(
                        [str(python), __file__, "--child", candidate, str(plane.api.kubeconfig)]
                        + [namespace, str(args.mrs)],
                        capture_output=True,
                        text=True,
                        cwd=REPO,
                    )
                    if proc.returncode != 0:
                        sys.exit(f"{candidate} failed:\n{proc.stderr}")
                    results[candidate].append(json.loads(proc.stdout))
                print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
        finally:
            plane.stop()
    print(
        f"{args.mrs} MRs x (GET + PATCH + GET Secret), {CONCURRENCY} at once;"
        f" medians of {args.runs} fresh processes; MiB"
    )
    print(
        f"{'client':<20} {'python':>6} {'+kopf':>6} {'+client':>8} {'after':>7}"
        f" {'+workload':>9} {'peak':>6} {'wall s':>7}"
    )
    for candidate in candidates:
        rows = results[candidate]

        def med(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        kopf_only = med("base")
        print(
            f"{candidate:<20} {med('python'):>6.1f} {kopf_only - med('python'):>6.1f}"
            f" {med('import') - kopf_only:>8.1f}"
            f" {med('after'):>7.1f} {med('after') - med('import'):>9.1f} {med('peak'):>6.1f}"
            f" {med('wall'):>7.2f}"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, candidate, kubeconfig, namespace, mrs = sys.argv
        print(json.dumps(child(candidate, kubeconfig, namespace, int(mrs))))
    else:
        sys.exit(main())
