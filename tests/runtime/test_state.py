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
