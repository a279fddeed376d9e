"""Names a user writes: the rules, and the URL paths they become."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import pytest
from aiohttp import web
from jetgen.runtime import connection, kube, names
from jetgen.runtime.kubeauth import Credentials, StaticToken

TRAVERSALS = [
    "..",
    ".",
    "../../kube-system/secrets/victim",
    "%2e%2e",
    "%2E%2E/%2e%2e",
    "..%2f..%2fvictim",
    "a/b",
    "a%2Fb",
    "UPPER",
    "-lead",
    "trail-",
    "a..b",
    "",
    "x" * 254,
    "sp ace",
    "a?b",
    "a#b",
    "ünï",
]


@pytest.mark.parametrize("value", TRAVERSALS)
def test_bad_object_names_are_refused_naming_the_field(value):
    with pytest.raises(names.InvalidName, match=r"^spec\.x\.name: "):
        names.object_name("spec.x.name", value)


@pytest.mark.parametrize("value", ["a", "my-secret", "a.b.c", "0", "x" * 253, "a-1.b-2"])
def test_good_object_names(value):
    assert names.object_name("f", value) == value


def test_namespaces_are_labels():
    assert names.namespace("f", "team-a") == "team-a"
    for bad in ("a.b", "x" * 64, "..", "A"):
        with pytest.raises(names.InvalidName):
            names.namespace("f", bad)


@pytest.mark.parametrize("value", [".", "..", "..x", "a/b", "a b", "", "%2e", "x" * 254])
def test_bad_secret_keys(value):
    with pytest.raises(names.InvalidName, match="^f: "):
        names.secret_key("f", value)


@pytest.mark.parametrize("value", ["token", ".dockerconfigjson", "a.b", "A_B-c", "x" * 253])
def test_good_secret_keys(value):
    assert names.secret_key("f", value) == value


def test_selector_labels():
    good = {"app": "x", "example.com/tier": "", "a.b/c_d": "v-1.2"}
    assert names.match_labels("sel", good) == good
    for bad in (
        {"a,b": "x"},
        {"app": "x,y=z"},
        {"app!": "x"},
        {"app": "-x"},
        {"x" * 64: "y"},
        {"app": "v" * 64},
        {"/a": "x"},
        {"a/": "x"},
        {"Example.com/a": "x"},
        {"app": 3},
    ):
        with pytest.raises(names.InvalidName, match="^sel"):
            names.match_labels("sel", bad)
    with pytest.raises(names.InvalidName):
        names.match_labels("sel", ["app"])


def test_a_namespaced_object_reaches_only_its_own_namespace():
    assert names.own_namespace("f", None, "t") == "t"
    assert names.own_namespace("f", "t", "t") == "t"
    with pytest.raises(names.InvalidName, match="another namespace"):
        names.own_namespace("f", "victim", "t")
    with pytest.raises(names.InvalidName):
        names.own_namespace("f", "../victim", "t")
    assert names.own_namespace("f", "victim", None) == "victim"  # cluster-scoped: named


def test_connection_secret_target_is_checked():
    body = {"metadata": {"namespace": "t"}, "spec": {}}
    body["spec"]["writeConnectionSecretToRef"] = {"name": "conn"}
    assert connection.target(body) == ("t", "conn")
    for ref in ({"name": "../x"}, {"name": "conn", "namespace": "victim"}):
        body["spec"]["writeConnectionSecretToRef"] = ref
        with pytest.raises(names.InvalidName, match=r"spec\.writeConnectionSecretToRef\."):
            connection.target(body)


# --- paths ---------------------------------------------------------------------------


def test_every_segment_is_encoded_with_nothing_safe():
    path = kube.object_path("v1", "secrets", "t", "a/b%2e?#")
    assert path == "/api/v1/namespaces/t/secrets/a%2Fb%252e%3F%23"
    assert (
        kube.object_path("g.io/v1", "things", None, "x", "status")
        == "/apis/g.io/v1/things/x/status"
    )
    for bad in ("", ".", ".."):
        with pytest.raises(ValueError):
            kube.object_path("v1", "secrets", "t", bad)
        with pytest.raises(ValueError):
            kube.object_path("v1", "secrets", bad, "x")


def test_nothing_escapes_on_the_wire():
    """What a real HTTP server receives from KubeClient for hostile names: every name stays
    one segment below /namespaces/t/secrets/, nothing is decoded or folded on the way."""
    received: list[str] = []

    async def record(request: web.Request) -> web.Response:
        received.append(request.raw_path)
        return web.json_response({"kind": "Secret"})

    async def run() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        server = f"http://127.0.0.1:{port}"
        client = kube.KubeClient(Credentials(server, tokens=StaticToken("t")))
        try:
            for name in TRAVERSALS[2:]:
                if name:
                    await client.get(kube.secret_path("t", name))
        finally:
            await client.close()
            await runner.cleanup()

    asyncio.run(run())
    sent = [n for n in TRAVERSALS[2:] if n]
    assert len(received) == len(sent)
    for name, raw in zip(sent, received, strict=True):
        prefix = "/api/v1/namespaces/t/secrets/"
        assert raw.startswith(prefix), raw
        tail = raw[len(prefix) :]
        assert "/" not in tail, raw  # one segment
        assert unquote(tail) == name  # exactly the name, decoded once by the server
