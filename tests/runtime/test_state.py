import datetime

import hypothesis
import pytest
from jetgen.runtime import state


def test_no_pending_mark_means_nothing_incomplete():
    assert not state.create_incomplete({})


def test_pending_newer_than_results_is_incomplete():
    ann = {
        state.PENDING: "2026-01-01T10:00:05.000000Z",
        state.SUCCEEDED: "2026-01-01T10:00:00.000000Z",
    }
    assert state.create_incomplete(ann)


def test_success_or_failure_after_pending_completes_it():
    pending = "2026-01-01T10:00:00.100000Z"
    assert not state.create_incomplete(
        {state.PENDING: pending, state.SUCCEEDED: "2026-01-01T10:00:00.200000Z"}
    )
    assert not state.create_incomplete(
        {state.PENDING: pending, state.FAILED: "2026-01-01T10:00:00.100000Z"}
    )


def test_crossplane_second_precision_timestamps_are_understood():
    ann = {state.PENDING: "2026-01-01T10:00:05Z", state.FAILED: "2026-01-01T10:00:06Z"}
    assert not state.create_incomplete(ann)


def test_marks_order_even_within_one_second():
    first = state.mark(state.PENDING)[state.PENDING]
    second = state.mark(state.FAILED)[state.FAILED]
    assert not state.create_incomplete({state.PENDING: first, state.FAILED: second})


def test_state_roundtrip_is_compressed():
    data = b'{"resources": []}' * 1000
    packed = state.encode_state(data)
    assert len(packed) < len(data) / 10
    assert state.decode_state(packed) == data


def test_owner_reference_points_at_the_managed_resource():
    body = {
        "apiVersion": "g/v1",
        "kind": "File",
        "metadata": {"name": "n", "uid": "u-1", "namespace": "ns"},
    }
    ref = state.owner_reference(body)
    assert ref["uid"] == "u-1" and ref["kind"] == "File" and ref["apiVersion"] == "g/v1"
    assert state.secret_name("u-1") == "jetgen-tfstate-u-1"


def test_the_owner_annotation_reads_back_what_describe_wrote_and_nothing_else():
    def secret(annotation: object) -> dict:
        return {"metadata": {"annotations": {state.STATE_OF: annotation}}}

    body = {"apiVersion": "g/v1", "kind": "File", "metadata": {"name": "f", "namespace": "a"}}
    assert state.owner(secret(state.describe(body))) == state.Owner("g/v1", "File", "a", "f")
    cluster = {"apiVersion": "g/v1", "kind": "Id", "metadata": {"name": "i"}}
    assert state.owner(secret(state.describe(cluster))) == state.Owner("g/v1", "Id", None, "i")
    for hostile in ("", "g/v1 File", "g/v1 File a/f extra", "g/v1  a/f", "g/v1 File a/", 7, None):
        assert state.owner(secret(hostile)) is None, hostile
    assert state.owner({"metadata": {}}) is None and state.owner({}) is None


def _parse_as_before(value):
    """The marks' reading before the ISO fast path (the oracle for the test below)."""
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


MARKS = [
    "2026-12-07T12:51:43.534454Z",  # what state.timestamp() writes (a fixed value: xdist's
    # workers must collect the same test ids; the live one is checked below)
    "2026-01-01T10:00:05Z",
    "2026-01-01T10:00:05.1Z",
    "2026-01-01T10:00:05.1234567Z",
    "2026-1-1T1:0:5Z",
    "2026-01-01T10:00Z",
    "2026-01-01 10:00:05Z",
    "2026-01-01T10:00:05+02:00",
    "2026-01-01T10:00:05+02:00Z",
    "2026-01-01T24:00:00Z",
    "2026-02-30T10:00:05Z",
    "2026-01-01T23:59:60Z",
    "20260101T100005Z",
    "2026-01-01",
    "Z",
    "ZZ",
    "",
    "not a time",
    "2026-01-01T10:00:05.Z",
    "\u0661\u0662\u0663\u0664-01-01T10:00:05Z",  # Arabic-Indic digits
]


@pytest.mark.parametrize("value", MARKS)
def test_marks_are_read_as_before_the_fast_path(value):
    assert state._parse(value) == _parse_as_before(value)


def test_a_mark_written_now_is_read_as_before_the_fast_path():
    value = state.timestamp()
    assert state._parse(value) == _parse_as_before(value) is not None


@hypothesis.given(
    hypothesis.strategies.one_of(
        hypothesis.strategies.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        hypothesis.strategies.datetimes().map(lambda d: d.isoformat() + "Z"),
        hypothesis.strategies.text(alphabet="0123456789-:.TZ+ ", max_size=32),
    )
)
def test_any_mark_is_read_as_before_the_fast_path(value):
    assert state._parse(value) == _parse_as_before(value)
