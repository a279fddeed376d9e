"""Safe-start's decisions (runtime/serving.py): which CRD states serve a kind, and what the
gate writes into kopf's insights.  The real thing runs in test_e2e_safe_start.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
from jetgen.runtime import cli, serving
from jetgen.runtime.serving import Insights

GROUP = "random.m.jetgen.dev"


def crd(
    plural: str = "ids",
    kind: str = "Id",
    *,
    established: str | None = "True",
    served: bool = True,
    terminating: str | None = None,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    conditions = []
    if established is not None:
        conditions.append({"type": "Established", "status": established})
    if terminating is not None:
        conditions.append({"type": "Terminating", "status": "True", "reason": terminating})
    return {
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {"plural": plural, "kind": kind},
            "versions": [
                {"name": "v1alpha1", "served": served, "subresources": {"status": {}}},
                {"name": "v1beta1", "served": False},
            ],
        },
        "status": {
            "conditions": conditions,
            "acceptedNames": {
                "plural": plural,
                "kind": kind,
                "singular": kind.lower(),
                "categories": ["managed"],
            },
        },
    }


ID = serving.Wanted("Id", GROUP, "v1alpha1", "ids")
PET = serving.Wanted("Pet", GROUP, "v1alpha1", "pets")
CONFIG = serving.Wanted("providerconfigs", GROUP, "v1alpha1", "providerconfigs", managed=False)


@pytest.mark.parametrize(
    ("body", "version", "expected"),
    [
        (crd(), "v1alpha1", True),
        (crd(established="False"), "v1alpha1", False),  # names accepted, not yet established
        (crd(established=None), "v1alpha1", False),  # just created: no status yet
        (crd(served=False), "v1alpha1", False),  # the version is switched off
        (crd(), "v1beta1", False),  # a version that is not served
        (crd(), "v9", False),  # a version the CRD does not have
        # Being deleted: its objects still need their finalizers run, so keep serving ...
        (crd(terminating="InstanceDeletionInProgress"), "v1alpha1", True),
        (crd(terminating="InstanceDeletionCheck"), "v1alpha1", True),
        # ... until the API server says they are all gone.
        (crd(terminating="InstanceDeletionCompleted"), "v1alpha1", False),
        ({}, "v1alpha1", False),  # nothing at all
        ({"status": {"conditions": ["junk", None]}}, "v1alpha1", False),
    ],
)
def test_servable(body, version, expected):
    assert serving.servable(body, version) is expected


def test_resource_of_is_what_discovery_would_give():
    res = serving.resource_of(crd(scope="Cluster"), "v1alpha1")
    assert res == kopf.Resource(GROUP, "v1alpha1", "ids")
    assert res.kind == "Id" and res.singular == "id" and res.categories == {"managed"}
    assert res.subresources == {"status"} and res.namespaced is False
    assert {"list", "watch", "patch"} <= res.verbs
    assert serving.resource_of(crd(), "v1alpha1").namespaced is True


def gate(*wanted: serving.Wanted, insights: Insights | None = None) -> serving.Gate:
    return serving.Gate(wanted or (ID, PET, CONFIG), insights or Insights())


def test_gate_serves_established_kinds_only():
    g = gate()
    asyncio.run(g.observe(crd(established="False")))
    assert g.insights.watched_resources == set() and g.count() == 0
    asyncio.run(g.observe(crd()))
    assert g.insights.watched_resources == {ID.key}
    # Nothing indexed: kopf would hold every object's first event until all are listed.
    assert g.insights.indexed_resources == set()
    assert g.count() == 1


def test_gate_counts_only_managed_kinds():
    g = gate()
    asyncio.run(g.observe(crd("providerconfigs", "ProviderConfig")))
    assert g.insights.watched_resources == {CONFIG.key}
    assert g.insights.indexed_resources == set()
    assert g.count() == 0


def test_gate_stops_serving_when_the_crd_goes():
    g = gate()
    asyncio.run(g.observe(crd()))
    asyncio.run(g.observe(crd("pets", "Pet")))
    asyncio.run(g.observe(crd(terminating="InstanceDeletionInProgress")))
    assert g.insights.watched_resources == {ID.key, PET.key}  # finalizers still to run
    asyncio.run(g.observe(crd(terminating="InstanceDeletionCompleted")))
    assert g.insights.watched_resources == {PET.key}
    asyncio.run(g.observe(crd("pets", "Pet"), deleted=True))
    assert g.insights.watched_resources == set() and g.count() == 0


def test_gate_leaves_other_resources_alone():
    """kopf's own watches (the CRD watch itself, namespaces) are in the same sets."""
    insights = Insights()
    crds = kopf.Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    insights.watched_resources.add(crds)
    g = gate(insights=insights)
    asyncio.run(g.observe(crd()))
    asyncio.run(g.observe(crd(), deleted=True))
    assert insights.watched_resources == {crds}


def test_gate_replaces_what_kopfs_initial_scan_found():
    """The initial scan may have served a kind the CRDs say is not servable (any more)."""
    insights = Insights()
    insights.watched_resources.add(PET.key)
    insights.indexed_resources.add(PET.key)
    g = gate(insights=insights)
    asyncio.run(g.observe(crd()))
    assert insights.watched_resources == {ID.key}
    assert insights.indexed_resources == set()


def test_gate_ignores_crds_it_does_not_want():
    g = gate()
    other = crd("widgets", "Widget")
    assert not g.cares(other["metadata"]["name"]) and g.cares(ID.crd_name)
    asyncio.run(g.observe(other))
    assert g.insights.watched_resources == set()


def test_gate_wakes_kopf_and_logs_each_change(caplog):
    g = gate()

    async def scenario() -> list[str]:
        seen: list[str] = []

        async def orchestrator() -> None:  # what kopf's orchestrator does
            async with g.insights.revised:
                await g.insights.revised.wait()
                seen.extend(sorted(r.plural for r in g.insights.watched_resources))

        waiter = asyncio.ensure_future(orchestrator())
        await asyncio.sleep(0)
        await g.observe(crd())
        await asyncio.wait_for(waiter, 1)
        await g.observe(crd())  # no change: no log line
        return seen

    with caplog.at_level(logging.INFO, logger="jetgen.runtime.serving"):
        assert asyncio.run(scenario()) == ["ids"]
    assert [r.getMessage() for r in caplog.records] == [
        f"serving Id ({GROUP}/v1alpha1); 1 of 2 kinds served"
    ]


def test_served_count_reads_kopfs_watched_set():
    insights = Insights()
    insights.watched_resources.update({ID.key, CONFIG.key})
    assert serving.served_count(insights, [ID, PET, CONFIG]) == 1


def test_unresolved_warning_is_quiet_with_safe_start():
    quiet = serving.QuietUnresolved()
    make = lambda msg: logging.LogRecord("kopf", logging.WARNING, "", 1, msg, (), None)  # noqa: E731
    assert not quiet.filter(make("Unresolved resources cannot be served (try ...): ids"))
    assert quiet.filter(make("Non-patchable resources will not be served: ids"))


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["team-*"], {"team-a", "team-b"}),
        (["team-*, !team-b"], {"team-a"}),
        (["default", "t?am-a"], {"default", "team-a"}),
        (["absent"], set()),
    ],
)
def test_namespace_globs(patterns, expected):
    names = ["default", "team-a", "team-b", "kube-system"]
    assert serving.matching(names, patterns) == expected


def test_has_globs():
    assert not serving.has_globs(["a", "b"])
    assert serving.has_globs(["a", "b-*"]) and serving.has_globs(["!c"])


def test_namespace_poll_follows_the_cluster_and_survives_errors(caplog):
    insights = Insights()
    answers: list[Any] = [["team-a", "other"], RuntimeError("apiserver down"), ["team-a", "team-b"]]
    seen: list[set[Any]] = []  # kopf's namespaces as each poll starts
    done = asyncio.Event()

    async def names() -> list[str]:
        seen.append(set(insights.namespaces))
        if not answers:
            done.set()
            await asyncio.Event().wait()  # parked until cancelled
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    async def scenario() -> None:
        task = asyncio.ensure_future(serving.watch_namespaces(insights, ["team-*"], names, 0))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()

    with caplog.at_level(logging.INFO, logger="jetgen.runtime.serving"):
        asyncio.run(scenario())
    assert seen == [set(), {"team-a"}, {"team-a"}, {"team-a", "team-b"}]
    assert any("apiserver down" in r.getMessage() for r in caplog.records)


def test_safe_start_flag(monkeypatch):
    assert cli.settings_from(cli.parser().parse_args([])).safe_start is True
    assert cli.settings_from(cli.parser().parse_args(["--no-safe-start"])).safe_start is False
    monkeypatch.setenv("JETGEN_SAFE_START", "0")
    assert cli.settings_from(cli.parser().parse_args([])).safe_start is False
    assert cli.settings_from(cli.parser().parse_args(["--safe-start"])).safe_start is True


def test_initial_listing_is_summarised_in_one_line(caplog):
    """At start every established CRD arrives in kopf's listing: one line, not one per kind."""
    g = gate()

    async def scenario() -> None:
        await g.observe(crd(), listing=True)
        await g.observe(crd("pets", "Pet"), listing=True)
        await asyncio.sleep(1.2)

    with caplog.at_level(logging.INFO, logger="jetgen.runtime.serving"):
        asyncio.run(scenario())
    assert [r.getMessage() for r in caplog.records] == [
        "serving 2 of 2 kinds whose CRDs are established: Id, Pet"
    ]
    assert g.insights.watched_resources == {ID.key, PET.key}


def test_a_kind_is_served_once_the_api_server_answers_for_it():
    """Right after Established the API server still says 404, then 429 while its storage
    initialises; kopf would log each retry as an error, so the gate waits for an answer."""
    answers = [False, False, True]
    asked: list[kopf.Resource] = []

    async def probe(resource: kopf.Resource) -> bool:
        asked.append(resource)
        return answers.pop(0)

    g = serving.Gate([ID], Insights(), probe)
    asyncio.run(g.observe(crd()))
    assert asked == [ID.key] * 3 and g.insights.watched_resources == {ID.key}


def test_a_kind_that_never_answers_is_served_after_a_while(monkeypatch, caplog):
    monkeypatch.setattr(serving, "ANSWER_TIMEOUT", 0.2)

    async def never(resource: kopf.Resource) -> bool:
        return False

    g = serving.Gate([ID], Insights(), never)
    with caplog.at_level(logging.WARNING, logger="jetgen.runtime.serving"):
        asyncio.run(g.observe(crd()))
    assert g.insights.watched_resources == {ID.key}
    assert "serving it anyway" in caplog.text


def test_access_check_names_what_is_missing():
    reviews = serving.access_reviews()
    attributes = [r["spec"]["resourceAttributes"] for r in reviews]
    assert attributes == [
        {"group": "apiextensions.k8s.io", "resource": "customresourcedefinitions", "verb": v}
        for v in ("list", "watch")
    ]
    allowed = [r | {"status": {"allowed": True}} for r in reviews]
    assert serving.denied(allowed) is None
    no_watch = [allowed[0], reviews[1] | {"status": {"allowed": False, "reason": ""}}]
    message = serving.denied(no_watch)
    assert message is not None and message.startswith(
        "safe-start needs watch on customresourcedefinitions"
    )
    assert "--no-safe-start" in message and "\n" not in message
    assert serving.denied(reviews).startswith("safe-start needs list and watch")  # no status


def test_kinds_kopfs_scan_found_stay_served_while_the_crds_are_listed(monkeypatch):
    """kopf's initial scan has started a watch stream for every kind discovery showed when
    the CRDs' listing reaches the gate, one CRD at a time.  Its first CRD must not stop the
    others: kopf would cancel their streams mid-listing and start them again a moment
    later (every MR listed twice, and the half-read watch generators log "aclose():
    asynchronous generator is already running" as they are collected)."""
    monkeypatch.setattr(serving, "LISTING_SECONDS", 0.2, raising=False)
    insights = Insights()
    insights.watched_resources.update({ID.key, PET.key, CONFIG.key})
    g = gate(insights=insights)

    async def scenario() -> list[set[str]]:
        seen = []
        await g.observe(crd(), listing=True)
        seen.append({r.plural for r in insights.watched_resources})
        await g.observe(crd("pets", "Pet", established="False"), listing=True)
        seen.append({r.plural for r in insights.watched_resources})
        await asyncio.sleep(0.5)
        seen.append({r.plural for r in insights.watched_resources})
        return seen

    first, second, after = asyncio.run(scenario())
    assert first == {"ids", "pets", "providerconfigs"}  # nothing stopped by the first CRD
    assert second == {"ids", "providerconfigs"}  # its CRD says no: stopped at once
    assert after == {"ids"}  # the listing is over and its CRD never came: dropped
