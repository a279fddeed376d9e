"""The Linode API stand-in itself: paging, X-Filter, errors, auth, delays, control API.

Plain HTTP against the stand-in on loopback (no provider, no Kubernetes: without a
ClusterAccess its kubeconfig stays unavailable and nodes are not registered anywhere).
The seed-story e2e (tests/providers/test_e2e_seed_story.py) drives it with the real
linode provider.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.linode_standin import StandIn, listing

TOKEN = "lin-test-token"


def call(stand_in: StandIn, method: str, path: str, body=None, token=TOKEN, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stand_in.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers["Content-Type"] == "application/json"
        return exc.code, json.loads(exc.read())


@pytest.fixture
def stand_in():
    with StandIn(TOKEN, None, node_ready_seconds=0.3, kubeconfig_seconds=0.5,
                 node_delete_seconds=0.2) as running:  # fmt: skip
        yield running
        assert running.problems() == []


CLUSTER = {
    "label": "seed",
    "region": "us-east",
    "k8s_version": "1.33",
    "node_pools": [{"type": "g6-standard-2", "count": 2}, {"type": "g6-standard-1", "count": 1}],
}


# --- pure listing logic ----------------------------------------------------------------


def test_filter_equality_operators_and_or_and_order():
    items = [
        {"id": 1, "action": "linode_delete", "entity": {"type": "linode"}, "tags": ["a"]},
        {"id": 2, "action": "linode_boot", "entity": {"type": "linode"}, "tags": []},
        {"id": 3, "action": "linode_delete", "entity": {"type": "disk"}, "tags": ["a", "b"]},
    ]
    by = {"+order_by": "id", "+order": "desc", "action": "linode_delete"}
    assert [i["id"] for i in listing.select(items, by)] == [3, 1]
    assert [i["id"] for i in listing.select(items, {"entity.type": "linode"})] == [1, 2]
    assert [i["id"] for i in listing.select(items, {"id": {"+gte": 2}})] == [2, 3]
    assert [i["id"] for i in listing.select(items, {"tags": "b"})] == [3]
    either = {"+or": [{"id": 1}, {"action": "linode_boot"}]}
    assert [i["id"] for i in listing.select(items, either)] == [1, 2]
    both = {"+and": [{"action": "linode_delete"}, {"entity.type": {"+neq": "disk"}}]}
    assert [i["id"] for i in listing.select(items, both)] == [1]
    with pytest.raises(listing.ListingError, match="Unknown filter operator"):
        listing.select(items, {"id": {"+like": 1}})
    with pytest.raises(listing.ListingError, match="Invalid JSON in X-Filter"):
        listing.parse_filter("{nope")


def test_pages_and_their_bounds():
    items = [{"id": n} for n in range(5)]
    assert listing.page(items, {}, 2) == {"data": items[:2], "page": 1, "pages": 3, "results": 5}
    assert listing.page(items, {"page": "3"}, 2)["data"] == items[4:]
    assert listing.page(items, {"page_size": "500"}, 2)["pages"] == 1
    with pytest.raises(listing.ListingError, match="page_size must be between 1 and 500"):
        listing.page(items, {"page_size": "501"}, 2)
    with pytest.raises(listing.ListingError, match="page must be an integer"):
        listing.page(items, {"page": "x"}, 2)


# --- the HTTP API ----------------------------------------------------------------------


def test_wrong_or_missing_token_is_401_in_the_linode_error_format(stand_in):
    assert call(stand_in, "GET", "/v4/lke/clusters", token="nope") == (
        401,
        {"errors": [{"reason": "Invalid Token"}]},
    )
    assert call(stand_in, "GET", "/v4/lke/clusters", token=None)[0] == 401
    assert call(stand_in, "GET", "/v4/nowhere")[1] == {"errors": [{"reason": "Not found"}]}
    assert all("nope" not in json.dumps(c) for c in stand_in.calls())


def test_create_validates_every_field_and_names_it(stand_in):
    bad = {"label": "bad label!", "region": "mars", "node_pools": [{"count": 0}]}
    status, body = call(stand_in, "POST", "/v4/lke/clusters", bad)
    assert status == 400
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"label", "region", "k8s_version", "node_pools[0].type",
                      "node_pools[0].count"}  # fmt: skip
    assert call(stand_in, "POST", "/v4/lke/clusters", CLUSTER)[0] == 200
    status, body = call(stand_in, "POST", "/v4/lke/clusters", CLUSTER)
    assert (status, body["errors"][0]["field"]) == (400, "label")
    assert stand_in.creates()["clusters"] == {"seed": 1}
    assert stand_in.creates()["cluster_requests"] == {"bad label!": 1, "seed": 2}


def test_cluster_lifecycle_ids_readiness_kubeconfig_pages_and_events(stand_in):
    status, cluster = call(stand_in, "POST", "/v4/lke/clusters", CLUSTER)
    assert status == 200
    cid = cluster["id"]
    assert "tier" not in cluster  # a v4beta field
    assert call(stand_in, "GET", f"/v4beta/lke/clusters/{cid}")[1]["tier"] == "standard"
    # Not ready at first: nodes not_ready, kubeconfig 503 with the API's words.
    _, pools = call(stand_in, "GET", f"/v4/lke/clusters/{cid}/pools")
    assert {n["status"] for p in pools["data"] for n in p["nodes"]} == {"not_ready"}
    status, body = call(stand_in, "GET", f"/v4/lke/clusters/{cid}/kubeconfig")
    assert status == 503 and "not yet available" in body["errors"][0]["reason"]
    time.sleep(0.8)
    _, pools = call(stand_in, "GET", f"/v4/lke/clusters/{cid}/pools?page_size=1")
    assert (pools["pages"], pools["results"], len(pools["data"])) == (2, 2, 1)
    _, second = call(stand_in, "GET", f"/v4/lke/clusters/{cid}/pools?page_size=1&page=2")
    pool_ids = [pools["data"][0]["id"], second["data"][0]["id"]]
    assert len(set(pool_ids)) == 2 and cid not in pool_ids
    assert {n["status"] for n in pools["data"][0]["nodes"]} == {"ready"}
    assert call(stand_in, "GET", f"/v4/lke/clusters/{cid}")[1]["status"] == "ready"

    # Resize in place, by the API and out of band: the pool keeps its ID.
    first = pools["data"][0]
    _, grown = call(stand_in, "PUT", f"/v4/lke/clusters/{cid}/pools/{first['id']}", {"count": 3})
    assert (grown["id"], grown["count"], len(grown["nodes"])) == (first["id"], 3, 3)
    assert stand_in.resize_pool(first["id"], 1)["count"] == 1

    # Deleted in the "web console": gone at once, node deletion events come later.
    stand_in.delete_cluster(cid)
    assert call(stand_in, "GET", f"/v4/lke/clusters/{cid}")[0] == 404
    time.sleep(0.6)
    deletes = {"action": "linode_delete", "entity.type": "linode", "+order_by": "created",
               "+order": "desc"}  # fmt: skip
    _, events = call(stand_in, "GET", "/v4/account/events",
                     headers={"X-Filter": json.dumps(deletes)})  # fmt: skip
    # The resize 3 -> 1 deleted 2 nodes; the cluster's deletion the last 1 + 1.
    assert events["results"] == 4
    assert len({e["entity"]["id"] for e in events["data"]}) == 4
    assert stand_in.clusters() == []


def test_fail_next_answers_matching_calls_with_the_error_then_recovers(stand_in):
    stand_in.fail_next(2, status=500, reason="Please try again", method="POST",
                       path="/v4/lke/clusters")  # fmt: skip
    assert call(stand_in, "GET", "/v4/lke/clusters")[0] == 200  # does not match
    for _ in range(2):
        assert call(stand_in, "POST", "/v4/lke/clusters", CLUSTER) == (
            500,
            {"errors": [{"reason": "Please try again"}]},
        )
    assert call(stand_in, "POST", "/v4/lke/clusters", CLUSTER)[0] == 200
    assert [c["status"] for c in stand_in.calls()] == [200, 500, 500, 200]


DOMAIN = {"domain": "example.org", "type": "master", "soa_email": "admin@example.org"}


def test_domain_lifecycle_validation_and_hostile_fields(stand_in):
    status, domain = call(stand_in, "POST", "/v4/domains", DOMAIN)
    assert status == 200
    assert (domain["status"], domain["ttl_sec"], domain["tags"]) == ("active", 0, [])
    did = domain["id"]
    assert call(stand_in, "GET", f"/v4/domains/{did}")[1] == domain
    # Unique names, a master needs its SOA email, a slave its masters; each error named.
    assert call(stand_in, "POST", "/v4/domains", DOMAIN)[1]["errors"][0]["field"] == "domain"
    hostile = {"domain": "../etc\n.org", "type": "master", "ttl_sec": "300", "tags": "x",
               "status": "hacked"}  # fmt: skip
    status, body = call(stand_in, "POST", "/v4/domains", hostile)
    assert status == 400
    assert {e["field"] for e in body["errors"]} == {"domain", "soa_email", "ttl_sec", "tags",
                                                    "status"}  # fmt: skip
    slave = {"domain": "b.example.org", "type": "slave"}
    assert call(stand_in, "POST", "/v4/domains", slave)[1]["errors"][0]["field"] == "master_ips"
    # Update keeps what it is not given; a rename onto a taken name is refused.
    status, updated = call(
        stand_in, "PUT", f"/v4/domains/{did}", {"ttl_sec": 300, "tags": ["b", "a"]}
    )
    assert (status, updated["ttl_sec"], updated["tags"], updated["soa_email"]) == (
        200, 300, ["a", "b"], "admin@example.org")  # fmt: skip
    other = {**DOMAIN, "domain": "example.net"}
    other_id = call(stand_in, "POST", "/v4/domains", other)[1]["id"]
    assert call(stand_in, "PUT", f"/v4/domains/{other_id}", {"domain": "example.org"})[0] == 400
    _, listed = call(
        stand_in, "GET", "/v4/domains", headers={"X-Filter": '{"domain": "example.net"}'}
    )
    assert [d["id"] for d in listed["data"]] == [other_id]
    assert call(stand_in, "DELETE", f"/v4/domains/{did}")[0] == 200
    assert call(stand_in, "GET", f"/v4/domains/{did}")[0] == 404
    assert call(stand_in, "GET", "/v4/domains/abc")[0] == 404
    assert [d["domain"] for d in stand_in.domains()] == ["example.net"]
    assert stand_in.call_count() == len(stand_in.calls()) == 12


def test_stand_in_in_its_own_process_serves_and_counts_calls(tmp_path):
    """`python -m tests.linode_standin`: the token from the environment, the URL printed
    first, driven through RemoteStandIn, gone on SIGTERM."""
    import os
    import subprocess
    import sys

    from tests.linode_standin import RemoteStandIn

    env = {**os.environ, "LINODE_STANDIN_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "tests.linode_standin"], env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        remote = RemoteStandIn(proc.stdout.readline().strip())
        assert remote.url.startswith("http://127.0.0.1:")
        assert call(remote, "POST", "/v4/domains", DOMAIN)[0] == 200
        assert call(remote, "GET", "/v4/domains", token="wrong")[0] == 401
        assert remote.call_count() == 2
        assert [d["domain"] for d in remote.domains()] == ["example.org"]
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
    missing = subprocess.run([sys.executable, "-m", "tests.linode_standin"], check=False,
                             env={k: v for k, v in env.items() if k != "LINODE_STANDIN_TOKEN"},
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and "LINODE_STANDIN_TOKEN" in missing.stderr
