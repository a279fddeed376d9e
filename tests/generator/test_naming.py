"""Names: camelCase with collisions, kinds and groups, plurals, CEL escaping."""

from __future__ import annotations

import itertools

import pytest
from jetgen.generator import naming


@pytest.mark.parametrize(
    ("tf", "json"),
    [
        ("name", "name"),
        ("ip_v4", "ipV4"),
        ("k8s_version", "k8sVersion"),
        ("a__b", "aB"),
        ("_private", "private"),
        ("api_version", "apiVersion"),
    ],
)
def test_camel(tf, json):
    assert naming.camel(tf) == json


def test_colliding_names_stay_distinct_and_round_trip():
    names = naming.assign_json_names(["ip_v4", "ipv4", "ip_v_4"])
    assert names == {"ip_v4": "ipV4", "ipv4": "ipv4", "ip_v_4": "ip_v_4"}


def test_collision_result_does_not_depend_on_order():
    tf_names = ["ip_v4", "ip_v_4", "ipV4", "ip__v4"]
    results = {
        tuple(sorted(naming.assign_json_names(order).items()))
        for order in itertools.permutations(tf_names)
    }
    assert len(results) == 1
    (result,) = results
    assert len({json for _, json in result}) == len(tf_names)


def test_collision_with_taken_and_verbatim_names():
    # "a_b" wants "aB" (taken); its verbatim spelling "a_b" is taken too -> numbered.
    names = naming.assign_json_names(["a_b"], taken=["aB", "a_b"])
    assert names == {"a_b": "a_b2"}


def test_no_round_trip_owner_takes_first_sorted():
    # Neither "x__y" nor "x___y" is snake("xY") == "x_y": the first in sorted order wins.
    names = naming.assign_json_names(["x__y", "x___y"])
    assert names == {"x___y": "xY", "x__y": "x__y"}


@pytest.mark.parametrize(
    ("type_name", "group", "kind"),
    [
        ("linode_lke_cluster", "lke", "Cluster"),
        ("linode_instance", None, "Instance"),
        ("random_password", None, "Password"),
        ("aws_wafv2_web_acl", "wafv2", "WebAcl"),
        ("other_thing_here", "other", "ThingHere"),
        ("aws_s3_2fa", "s3", "S32fa"),
    ],
)
def test_split_type(type_name, group, kind):
    provider = type_name.split("_")[0] if not type_name.startswith("other") else "aws"
    assert naming.split_type(type_name, provider) == (group, kind)


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Policy", "policies"),
        ("Address", "addresses"),
        ("Key", "keys"),
        ("Box", "boxes"),
        ("Status", "statuses"),
        ("Settings", "settings"),
        ("Day", "days"),
        ("Branch", "branches"),
        ("Alias", "aliases"),
    ],
)
def test_plural(kind, plural):
    assert naming.plural(kind) == plural


def test_group_name():
    assert naming.group_name("lke", "linode", "jetgen.dev", True) == "lke.linode.m.jetgen.dev"
    assert naming.group_name(None, "random", "jetgen.dev", True) == "random.m.jetgen.dev"
    assert naming.group_name("lke", "linode", "example.org", False) == "lke.linode.example.org"


@pytest.mark.parametrize(
    ("name", "cel"),
    [
        ("namespace", "__namespace__"),
        ("in", "__in__"),
        ("name", "name"),
        ("a__b", "a__underscores__b"),
        ("x.y", "x__dot__y"),
        ("a-b", "a__dash__b"),
        ("ip_v_4", "ip_v_4"),
    ],
)
def test_cel_property(name, cel):
    assert naming.cel_property(name) == cel


def test_snake_kind():
    assert naming.snake_kind("NodeBalancerConfig") == "node_balancer_config"
    assert naming.snake_kind("S3Bucket") == "s3_bucket"
