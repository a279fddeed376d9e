"""kube-apiserver memory with every kind of an AWS-sized provider installed, vs two active.

    .venv/bin/python benchmarks/apiserver_memory_mrds.py [--runs 3] [--schema FILE]

The provider is generated once from the AWS schema (``../shared/schemas/aws-4.15.1.json``,
987 resources) with ``jetgen generate --no-models``.  Then, ``--runs`` times, each case on a
fresh control plane of the test bed (etcd + kube-apiserver + kube-controller-manager):

* **all kinds**: every managed-resource CRD applied (server-side, 50 per request) and
  Established — a provider installed without Crossplane, or under Crossplane v1;
* **two kinds (MRDs)**: Crossplane's ManagedResourceDefinition CRD (from the release tree
  the test bed unpacked), an MRD per kind applied Inactive (the generated ones if the
  provider ships MRDs, else each CRD converted as Crossplane's package manager converts
  it; each holds its kind's whole schema, so it is not free), then the CRDs of two kinds:
  what Crossplane v2 creates when an activation policy selects them
  (tests/providers/test_e2e_crossplane.py shows that on a real Crossplane);
* **empty**: nothing applied, the baseline.

CRDs are applied without kubectl's client-side validation (see ``apply_all``). After the
last apply the apiserver is left 20 s to settle (OpenAPI aggregation, watch
caches), Go's GC is not forced; then the resident set (VmRSS) of the kube-apiserver process
is read from /proc.  Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.runtime import harness  # noqa: E402
from tests.testbed import controlplane, crossplane  # noqa: E402
from tests.testbed.bed import Testbed  # noqa: E402

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "aws-4.15.1.json"
PROVIDER_CONFIG_KINDS = ("ProviderConfig", "ClusterProviderConfig", "ProviderConfigUsage")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SETTLE = 20.0
BATCH = 50


def generate(schema: Path, output: Path) -> None:
    command = [sys.executable, "-m", "jetgen.generator.cli", "generate", "--schema", str(schema),
               "--output", str(output), "--no-models"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True)


def documents(folder: Path, kind: str) -> list[dict]:
    """Every YAML document of ``kind`` under ``folder`` (the generated tree's layout moves)."""
    found = []
    for path in sorted(folder.rglob("*.yaml")):
        # libyaml's loader: the pure-Python one took minutes for the ~3,000 files here.
        for doc in yaml.load_all(path.read_text(), Loader=LOADER):
            if isinstance(doc, dict) and doc.get("kind") == kind:
                found.append(doc)
    return found


def managed(crds: list[dict]) -> list[dict]:
    return [c for c in crds if c["spec"]["names"]["kind"] not in PROVIDER_CONFIG_KINDS]


def unique(objects: list[dict]) -> list[dict]:
    """One object per name (the generated tree may hold a CRD in two places)."""
    return list({o["metadata"]["name"]: o for o in objects}.values())


def as_mrd(crd: dict) -> dict:
    """The MRD Crossplane makes of a package's CRD when the package ships none (its
    converter: the same object, apiVersion and kind swapped, state Inactive by default)."""
    mrd = copy.deepcopy(crd)
    mrd.pop("status", None)
    mrd["apiVersion"] = "apiextensions.crossplane.io/v1alpha1"
    mrd["kind"] = "ManagedResourceDefinition"
    return mrd


def apply_all(api, objects: list[dict]) -> None:
    """Server-side apply, ``BATCH`` objects a request, without kubectl's client-side
    validation: that downloads the apiserver's whole OpenAPI document before every
    request, which with hundreds of CRDs took over kubectl's fixed 32 s under load and
    failed the run (the apiserver still validates every CRD it is given)."""
    args = ["apply", "--server-side", "--force-conflicts", "--field-manager=jetgen-bench",
            "--validate=false", "-f", "-"]  # fmt: skip
    for start in range(0, len(objects), BATCH):
        batch = {"apiVersion": "v1", "kind": "List", "items": objects[start : start + BATCH]}
        api.kubectl(*args, input=json.dumps(batch))


def established(api, names: set[str]) -> bool:
    crds = api.get_json("crds")["items"]
    done = {
        c["metadata"]["name"]
        for c in crds
        if any(x["type"] == "Established" and x["status"] == "True"
               for x in c.get("status", {}).get("conditions", []))
    }  # fmt: skip
    return names <= done


def apiserver_rss(plane: controlplane.ControlPlane) -> int:
    (server,) = [s for s in plane.servers if s.name == "kube-apiserver"]
    for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def measure(bed: Testbed, work: Path, objects: list[dict], crd_names: set[str]) -> int:
    folder = Path(tempfile.mkdtemp(prefix="plane-", dir=work))
    plane = controlplane.start(bed, folder)
    try:
        # CRDs first, and Established, before any object of their kinds (the MRDs).
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        apply_all(plane.api, crds)
        harness.wait_for("the CRDs Established", lambda: established(plane.api, crd_names), 900, 1)
        apply_all(plane.api, [o for o in objects if o["kind"] != "CustomResourceDefinition"])
        harness.wait_for("the CRDs Established", lambda: established(plane.api, crd_names), 900, 1)
        time.sleep(SETTLE)
        return apiserver_rss(plane)
    finally:
        plane.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    parser.add_argument("--only", default="", help="run only the cases whose name has this")
    args = parser.parse_args()
    bed = Testbed()
    bed.require_installed()
    work = Path(tempfile.mkdtemp(prefix="jetgen-bench-apiserver-memory-"))
    try:
        generate(args.schema, work / "aws")
        crds = unique(managed(documents(work / "aws", "CustomResourceDefinition")))
        mrds = unique(documents(work / "aws", "ManagedResourceDefinition"))
        mrds = mrds or [as_mrd(crd) for crd in crds]
        mrd_crd = documents(crossplane.crds_path(bed), "CustomResourceDefinition")
        mrd_crd = [c for c in mrd_crd if c["spec"]["names"]["kind"] == "ManagedResourceDefinition"]
        for mrd in mrds:
            mrd["spec"]["state"] = "Inactive"
        two = crds[:2]
        cases = {
            "empty": ([], set()),
            f"all kinds ({len(crds)} CRDs)": (crds, {c["metadata"]["name"] for c in crds}),
            f"two kinds ({len(mrds)} MRDs Inactive + 2 CRDs)": (
                mrd_crd + mrds + two,
                {c["metadata"]["name"] for c in mrd_crd + two},
            ),
        }
        cases = {name: case for name, case in cases.items() if args.only in name}
        results: dict[str, list[int]] = {name: [] for name in cases}
        for run in range(1, args.runs + 1):
            for name, (objects, names) in cases.items():
                rss = measure(bed, work, objects, names)
                results[name].append(rss)
                print(f"run {run}: {name}: kube-apiserver RSS {rss / 2**20:.0f} MiB", flush=True)
        print(f"\nmedians (kube-apiserver VmRSS, {SETTLE} s after the last CRD Established):")
        for name, values in results.items():
            print(f"  {name}: {statistics.median(values) / 2**20:.0f} MiB "
                  f"(min {min(values) / 2**20:.0f}, max {max(values) / 2**20:.0f})")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
