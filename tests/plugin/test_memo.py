"""DigestMemo: the digests of RPC inputs whose answers the client need not ask for again."""

from __future__ import annotations

from jetgen.runtime.tfplugin.memo import DigestMemo, digest


def test_a_digest_covers_every_part_and_where_parts_end():
    key = digest("random_id", 0, b'{"id":"a"}')
    assert key == digest("random_id", 0, b'{"id":"a"}')
    assert len(key) == 16
    others = {
        digest("random_pet", 0, b'{"id":"a"}'),
        digest("random_id", 1, b'{"id":"a"}'),
        digest("random_id", 0, b'{"id":"b"}'),
        digest("random_id", 0, b'{"id":"a"} '),
        # a type name does not run into the version, nor one byte string into the next
        digest("random_id1", 0, b'{"id":"a"}'),
        digest("random_id", 10, b'{"id":"a"}'),
        digest("random_id", 0, b'{"id":', b'"a"}'),
        digest("random_id", 0),
    }
    assert key not in others and len(others) == 8


def test_bounded_least_recently_used_first():
    memo = DigestMemo(limit=2)
    a, b, c = (digest(x) for x in (b"a", b"b", b"c"))
    memo.add(a)
    memo.add(b)
    assert a in memo  # a used: b is now the oldest
    memo.add(c)
    assert len(memo) == 2
    assert a in memo and c in memo and b not in memo


def test_adding_twice_keeps_one_entry():
    memo = DigestMemo()
    memo.add(digest(b"{}"))
    memo.add(digest(b"{}"))
    assert len(memo) == 1
