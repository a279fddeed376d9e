"""End-to-end: safe-start -- a kind is served once its CRD is established, not before.

As under Crossplane v2, where a kind's CRD appears only when an activation policy selects
its ManagedResourceDefinition: the controller starts with none of the provider's CRDs
installed, healthy and serving nothing; CRDs applied later are taken up without a
restart; a deleted CRD (its objects finalized first) stops being served while the rest
keeps working.  The random provider is generated under its own group suffix, so the CRDs
other tests install are not its own.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request
from pathlib import Path

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.scrape import Metrics
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

SUFFIX = "safestart.jetgen.dev"
GROUP = f"random.m.{SUFFIX}"
ERRORS = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")
SERVING = re.compile(r"\bserving (\w+) \(")  # the controller's line when it takes a kind up


@pytest.fixture(scope="module")
def provider(testbed, schema_file, tmp_path_factory) -> Path:
    """The random provider, generated but with no CRD installed."""
    return harness.generate(
        schema_file,
        tmp_path_factory.mktemp("safe-start"),
        "random",
        testbed.providers["random"],
        {"groupSuffix": SUFFIX},
    )


def crd_file(provider: Path, plural: str) -> Path:
    return provider / "install" / "crds" / f"{GROUP}_{plural}.yaml"


def install(apiserver, provider: Path, plural: str) -> float:
    """Apply one CRD and wait until it is Established; returns when that was seen."""
    apiserver.kubectl("apply", "--server-side", "-f", str(crd_file(provider, plural)))
    wait_for(
        f"CRD {plural} Established",
        lambda: (
            harness.condition(get(apiserver, "crd", f"{plural}.{GROUP}", None), "Established").get(
                "status"
            )
            == "True"
        ),
        every=0.02,
    )
    return time.monotonic()


def kind_of(provider: Path, plural: str) -> str:
    kinds = json.loads(harness.kinds_file(provider).read_text())["kinds"]
    return next(k["kind"] for k in kinds if k["plural"] == plural)


def mr(provider: Path, plural: str, name: str, ns: str, spec: dict) -> dict:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": kind_of(provider, plural),
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": spec},
    }


def ready(apiserver, plural: str, name: str, ns: str) -> dict:
    return wait_for(
        f"{plural}/{name} Ready",
        lambda: (o := get(apiserver, f"{plural}.{GROUP}", name, ns)) and is_ready(o) and o,
        timeout=120,
    )


def healthz(port: int) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return response.status, response.read().decode()


def test_kinds_are_served_as_their_crds_appear(apiserver, testbed, provider, tmp_path):
    ns = apiserver.create_namespace("safe-start")
    metrics, health = Metrics(free_port()), free_port()
    all_kinds = len(json.loads(harness.kinds_file(provider).read_text())["kinds"])
    ctl = Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        namespace=ns,
        extra_args=["--metrics-port", str(metrics.port), "--health-port", str(health)],
    )
    try:
        with ctl:
            # 1. No CRD of the provider: running, healthy, serving nothing.
            wait_for("metrics", lambda: metrics.gauge("jetgen_kinds_served") == 0)
            assert metrics.gauge("jetgen_kinds_selected") == all_kinds > 3
            assert healthz(health) == (200, "ok (leader)\n")
            wait_for("start-up logged", lambda: "safe-start:" in ctl.logs())
            time.sleep(3)  # kopf's initial scan and CRD listing are done by now
            assert ctl.proc.poll() is None
            assert metrics.gauge("jetgen_kinds_served") == 0
            assert not SERVING.findall(ctl.logs())

            # 2. Two CRDs: exactly those two kinds are served and reconcile.
            install(apiserver, provider, "ids")
            install(apiserver, provider, "pets")
            apiserver.apply(mr(provider, "ids", "one", ns, {"byteLength": 4}))
            apiserver.apply(mr(provider, "pets", "one", ns, {"length": 2}))
            ready(apiserver, "ids", "one", ns)
            ready(apiserver, "pets", "one", ns)
            assert metrics.gauge("jetgen_kinds_served") == 2
            served = set(SERVING.findall(ctl.logs()))
            assert served == {kind_of(provider, "ids"), kind_of(provider, "pets")}

            # 3. A third CRD later: served without a restart.
            pid = ctl.proc.pid
            install(apiserver, provider, "uuids")
            apiserver.apply(mr(provider, "uuids", "one", ns, {}))
            ready(apiserver, "uuids", "one", ns)
            assert ctl.proc.pid == pid and ctl.proc.poll() is None
            assert metrics.gauge("jetgen_kinds_served") == 3

            # 4. A CRD deleted while one of its objects exists: the object is finalized
            # (the controller keeps serving the kind while the CRD terminates), the CRD
            # goes, the controller stops serving it and keeps working on the rest.
            apiserver.kubectl("delete", "crd", f"pets.{GROUP}", "--timeout=120s")
            wait_for("Pet no longer served", lambda: metrics.gauge("jetgen_kinds_served") == 2)
            assert "stopped serving " + kind_of(provider, "pets") in ctl.logs()
            apiserver.apply(mr(provider, "ids", "two", ns, {"byteLength": 2}))
            ready(apiserver, "ids", "two", ns)
            assert healthz(health)[0] == 200 and ctl.proc.poll() is None

            # Clean up while the controller runs, so the finalizers are handled.
            for plural in ("ids", "uuids"):
                apiserver.kubectl("delete", "crd", f"{plural}.{GROUP}", "--timeout=120s")
            wait_for("nothing served", lambda: metrics.gauge("jetgen_kinds_served") == 0)
        logs = ctl.logs()
        assert ctl.proc.returncode == 0, logs[-3000:]
        assert not ERRORS.search(logs), [line for line in logs.splitlines() if ERRORS.search(line)]
    finally:  # after a failure: leave nothing of this group behind for later tests
        for plural in ("ids", "pets", "uuids"):
            apiserver.kubectl("delete", "crd", f"{plural}.{GROUP}", "--wait=false", check=False)


def test_namespace_globs_are_followed(apiserver, testbed, provider, tmp_path):
    """With kopf's discovery off, namespace globs are matched by the runtime: a namespace
    created after the start is picked up; one that does not match is left alone."""
    stem = f"glob-{secrets.token_hex(3)}"
    other = apiserver.create_namespace(f"other-{stem}")
    ctl = Controller(
        kinds=harness.kinds_file(provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        extra_args=["--namespace", f"{stem}-*"],
    )
    try:
        install(apiserver, provider, "ids")
        with ctl:
            wait_for("start-up logged", lambda: "safe-start:" in ctl.logs())
            ns = apiserver.create_namespace(stem)  # <stem>-<random>: matches
            apiserver.apply(mr(provider, "ids", "in", ns, {"byteLength": 2}))
            apiserver.apply(mr(provider, "ids", "out", other, {"byteLength": 2}))
            ready(apiserver, "ids", "in", ns)
            assert f"watching namespaces: {ns}" in ctl.logs()
            untouched = get(apiserver, f"ids.{GROUP}", "out", other)
            assert not untouched["metadata"].get("finalizers")
            assert "status" not in untouched or not untouched["status"].get("conditions")
            apiserver.kubectl("delete", f"ids.{GROUP}", "in", "-n", ns, "--timeout=60s")
        assert not ERRORS.search(ctl.logs()), ctl.logs()[-3000:]
    finally:
        apiserver.kubectl("delete", f"ids.{GROUP}", "out", "-n", other, "--wait=false", check=False)
        apiserver.kubectl("delete", "crd", f"ids.{GROUP}", "--wait=false", check=False)
