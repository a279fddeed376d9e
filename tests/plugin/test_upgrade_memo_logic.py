"""UpgradeMemo: which stored states a binary's UpgradeResourceState leaves unchanged."""

from __future__ import annotations

from jetgen.runtime.tfplugin.schemacache import UpgradeMemo


def test_the_key_covers_type_version_and_every_byte_of_the_state():
    key = UpgradeMemo.key("random_id", 0, b'{"id":"a"}')
    assert key == UpgradeMemo.key("random_id", 0, b'{"id":"a"}')
    assert len(key) == 16
    others = {
        UpgradeMemo.key("random_pet", 0, b'{"id":"a"}'),
        UpgradeMemo.key("random_id", 1, b'{"id":"a"}'),
        UpgradeMemo.key("random_id", 0, b'{"id":"b"}'),
        UpgradeMemo.key("random_id", 0, b'{"id":"a"} '),
        # the separator keeps a type name from running into the version
        UpgradeMemo.key("random_id1", 0, b'{"id":"a"}'),
        UpgradeMemo.key("random_id", 10, b'{"id":"a"}'),
    }
    assert key not in others and len(others) == 6


def test_bounded_least_recently_used_first():
    memo = UpgradeMemo(limit=2)
    a, b, c = (UpgradeMemo.key("t", 0, x) for x in (b"a", b"b", b"c"))
    memo.add(a)
    memo.add(b)
    assert a in memo  # a used: b is now the oldest
    memo.add(c)
    assert len(memo) == 2
    assert a in memo and c in memo and b not in memo


def test_adding_twice_keeps_one_entry():
    memo = UpgradeMemo()
    key = UpgradeMemo.key("t", 0, b"{}")
    memo.add(key)
    memo.add(key)
    assert len(memo) == 1
