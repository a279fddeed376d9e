"""Apiserver requests per second while settled MRs poll, with and without the read cache.

    .venv/bin/python benchmarks/apiserver_reads.py [--pairs 50] [--poll 5] [--window 30]
                                                   [--repeat 3]

On a fresh control plane of the test bed, the random provider (its kinds.json given one
credential, as a provider with credentials has) serves ``--pairs`` Ids, each writing a
connection Secret, and as many Pets whose prefix references an Id (``resolve: Always``:
resolved every pass), all through one namespaced ProviderConfig and its credentials
Secret: everything a pass can read.  Once all are Ready and polled quietly, the apiserver's
own ``apiserver_request_total`` is read before and after ``--window`` seconds, ``--repeat``
times; first with ``--no-kube-cache`` (every pass reads from the apiserver, as before the
cache), then with the cache, each in its own namespace with its own controller.  Printed:
requests per second by verb and resource, the reads (GET and LIST) of the objects a pass
reads, the requests of the controller's own client (``jetgen_kube_requests_total``), and
the medians.  Nothing else runs against this apiserver meanwhile; its
kube-controller-manager's requests (lease renewals, endpoints) and the /metrics reads
themselves are in the totals, the same in both runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.runtime import harness  # noqa: E402
from tests.runtime.random_mrs import (
    GROUP,  # noqa: E402
    manifests,  # noqa: E402
)
from tests.runtime.scrape import (  # noqa: E402
    Metrics,  # noqa: E402
    apiserver_requests,
    own_requests,
)
from tests.testbed import controlplane  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402

METRICS_PORT = 18093
READ = ("secrets", "providerconfigs", "clusterproviderconfigs", "ids", "pets")
REFERENCE = {
    "resources": {
        "random_pet": {
            "references": [{"field": "prefix", "kind": "Id", "value_from": "status.atProvider.hex"}]
        }
    }
}


def ready_count(api, ns: str) -> int:
    count = 0
    for plural in ("ids", "pets"):
        status, text = api.http_get(f"/apis/{GROUP}/v1alpha1/namespaces/{ns}/{plural}")
        if status == 200:
            count += sum(harness.is_ready(o) for o in json.loads(text)["items"])
    return count


def measure(api, seconds: float) -> dict[tuple[str, str], float]:
    before = apiserver_requests(api)
    time.sleep(seconds)
    after = apiserver_requests(api)
    return {k: (after[k] - before.get(k, 0)) / seconds for k in after if after[k] != before.get(k)}


def run(args, bed, api, kinds: Path, config_api: str, work: Path, cached: bool) -> list[float]:
    label = "cache" if cached else "no-cache"
    ns = api.create_namespace(label)
    extra = ["--metrics-port", str(METRICS_PORT)] + ([] if cached else ["--no-kube-cache"])
    ctl = harness.Controller(
        kinds=kinds,
        apiserver=api,
        testbed=bed,
        workdir_root=work / f"workdirs-{label}",
        log=work / f"controller-{label}.log",
        poll=args.poll,
        extra_args=extra,
        namespace=ns,
    ).start()
    try:
        metrics = Metrics(METRICS_PORT)
        api.apply(manifests(ns, config_api, args.pairs))
        harness.wait_for(
            "all Ready", lambda: ready_count(api, ns) == 2 * args.pairs, timeout=1800, every=2
        )
        start = metrics.polls("unchanged")
        harness.wait_for(
            "every MR polled quietly",
            lambda: metrics.polls("unchanged") >= start + 2 * args.pairs,
            timeout=600,
            every=1,
        )
        totals, reads, own = [], [], []
        for _ in range(args.repeat):
            mine = own_requests(metrics)
            rates = measure(api, args.window)
            own.append((own_requests(metrics) - mine) / args.window)
            total = sum(rates.values())
            read = sum(
                r for (verb, res), r in rates.items() if verb in ("GET", "LIST") and res in READ
            )
            totals.append(total)
            reads.append(read)
            shown = ", ".join(
                f"{verb} {res or '-'} {rate:.2f}" for (verb, res), rate in sorted(rates.items())
            )
            print(
                f"  {label}: {total:.2f} requests/s ({read:.2f} pass reads; the controller's "
                f"client {own[-1]:.2f}): {shown}"
            )
        print(
            f"{label}: {2 * args.pairs} settled MRs, poll {args.poll:g}s: median "
            f"{statistics.median(totals):.2f} requests/s, of them "
            f"{statistics.median(reads):.2f} reads/s of Secrets, configs and referenced objects; "
            f"the controller's own client {statistics.median(own):.2f} requests/s"
        )
        return totals
    finally:
        ctl.stop()  # its namespace stays: deleting it would add the namespace controller's work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bed = Testbed()
    bed.require_installed()
    work = Path(tempfile.mkdtemp(prefix="jetgen-bench-reads-"))
    plane = controlplane.start(bed, work / "plane")
    try:
        api = plane.api
        schema = harness.provider_schema(bed, work / "schema", ["random"])
        provider = harness.generate(
            schema, work / "random", "random", bed.providers["random"], REFERENCE
        )
        harness.install_crds(api, provider)
        info = json.loads(harness.kinds_file(provider).read_text())
        info["credentials"] = [{"key": "token", "env": "JETGEN_BENCH_TOKEN"}]
        kinds = work / "kinds.json"
        kinds.write_text(json.dumps(info))
        config_api = f"{info['config_group']}/{info['config_version']}"
        before = run(args, bed, api, kinds, config_api, work, cached=False)
        after = run(args, bed, api, kinds, config_api, work, cached=True)
        print(
            f"apiserver requests/s, {2 * args.pairs} settled MRs at a {args.poll:g}s poll: "
            f"{statistics.median(before):.2f} without the cache, "
            f"{statistics.median(after):.2f} with it"
        )
        return 0
    finally:
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
