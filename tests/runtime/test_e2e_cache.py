"""End-to-end: settled MRs poll without asking the apiserver anything (cache.py).

Counted on the apiserver itself: ``apiserver_request_total`` of its /metrics, read before
and after a window of several poll periods in which the test makes no request of its
own.  The MRs read everything a pass can: a namespaced ProviderConfig and its credentials
Secret, a referenced object (Pet.prefixRef -> Id) and a connection Secret.  The same run
without the cache shows what the count would otherwise be, and a credential rotated
afterwards still reaches Terraform (a wrapper records a hash of what the credential's
variable held in each run).
"""

from __future__ import annotations

import time

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.random_mrs import FIRST, GROUP, PAIRS, manifests
from tests.runtime.scrape import Metrics, apiserver_requests, own_requests
from tests.runtime.tokens import kinds_with_token, plugin_tokens, recording_tofu, sha
from tests.testbed.processes import free_port

pytestmark = pytest.mark.e2e

POLL = 2.0
WINDOW = 4 * POLL + 1
ROTATED = "cache-token-2222"


def window(apiserver, seconds: float) -> dict[tuple[str, str], float]:
    """What the apiserver served during ``seconds`` of the test doing nothing."""
    before = apiserver_requests(apiserver)
    time.sleep(seconds)
    after = apiserver_requests(apiserver)
    diff = {key: after[key] - before.get(key, 0) for key in after}
    return {key: value for key, value in diff.items() if value}


def reads_of(diff: dict[tuple[str, str], float], resources: tuple[str, ...]) -> float:
    return sum(n for (verb, res), n in diff.items() if verb in ("GET", "LIST") and res in resources)


def all_ready(apiserver, ns: str) -> bool:
    for i in range(PAIRS):
        for plural, name in (("ids", f"id{i}"), ("pets", f"pet{i}")):
            if not is_ready(get(apiserver, f"{plural}.{GROUP}", name, ns)):
                return False
    return True


def settle(metrics: Metrics) -> None:
    """Every MR's poll a quiet plugin poll, twice over."""
    start = metrics.polls("unchanged")
    wait_for(
        "quiet polls",
        lambda: metrics.polls("unchanged") >= start + 4 * PAIRS,
        timeout=60,
    )


def test_settled_polls_make_no_reads_and_a_rotation_still_lands(
    apiserver, testbed, random_provider, tmp_path
):
    kinds, info = kinds_with_token(random_provider, tmp_path)
    tofu = recording_tofu(testbed, tmp_path)
    config_api = f"{info['config_group']}/{info['config_version']}"
    watched = ("secrets", "providerconfigs", "clusterproviderconfigs", "ids", "pets")

    def run(ns: str, *extra: str) -> tuple[Metrics, Controller]:
        port = free_port()
        ctl = Controller(
            kinds=kinds,
            apiserver=apiserver,
            testbed=testbed,
            workdir_root=tmp_path / f"work-{ns}",
            log=tmp_path / f"controller-{ns}.log",
            poll=POLL,
            extra_args=["--metrics-port", str(port), *extra],
            namespace=ns,
            driver="cli",  # the wrapper records what each tofu run is given
        )
        return Metrics(port), tofu.install(ctl)

    # Without the cache: every settled poll reads its config, Secrets and referenced Id.
    ns = apiserver.create_namespace("nocache")
    metrics, ctl = run(ns, "--no-kube-cache")
    with ctl:
        apiserver.apply(manifests(ns, config_api))
        wait_for("all Ready without the cache", lambda: all_ready(apiserver, ns), timeout=120)
        settle(metrics)
        uncached = window(apiserver, WINDOW)
    # Per poll: config + credentials for each MR, the Id per Pet, the connection Secret
    # per Id: 3 * PAIRS * 2 reads, at least one poll of each in the window.
    assert reads_of(uncached, watched) >= 6 * PAIRS, uncached

    ns = apiserver.create_namespace("cache")
    metrics, ctl = run(ns)
    with ctl:
        apiserver.apply(manifests(ns, config_api))
        wait_for("all Ready", lambda: all_ready(apiserver, ns), timeout=120)
        settle(metrics)
        hits = metrics.gauge("jetgen_cache_hits_total")
        own = own_requests(metrics)
        cached = window(apiserver, WINDOW)
        assert reads_of(cached, watched) == 0, cached
        assert own_requests(metrics) == own  # not one request of the controller's client
        # Those polls did read: from memory.
        assert metrics.gauge("jetgen_cache_hits_total") >= hits + 3 * 2 * PAIRS
        assert metrics.gauge("jetgen_cache_informers") >= 3  # Secrets, configs, Ids
        assert metrics.gauge("jetgen_cache_lists_total") == metrics.gauge("jetgen_cache_informers")

        # A rotated credential reaches the next poll through the watch: the MR is proven
        # unchanged over the plugin protocol by a provider process with the new token.
        assert sha(FIRST) in tofu.hashes()
        apiserver.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": ns},
                "stringData": {"token": ROTATED},
            }
        )
        work = tmp_path / f"work-{ns}"
        wait_for("rotated token used", lambda: sha(ROTATED) in plugin_tokens(work))
        # A connection Secret deleted by someone is written again from the cache's news.
        apiserver.kubectl("delete", "secret", "id0-conn", "-n", ns)
        wait_for("connection Secret back", lambda: harness.secret_data(apiserver, "id0-conn", ns))
    for token in (FIRST, ROTATED):
        assert token not in ctl.logs()
