from jetgen.runtime import backoff, conditions


def test_merge_replaces_same_type_and_keeps_others():
    existing = [
        {"type": "Ready", "status": "False", "reason": "Creating", "lastTransitionTime": "t0"},
        {"type": "Custom", "status": "True", "reason": "X", "lastTransitionTime": "t0"},
    ]
    merged = conditions.merge(existing, [conditions.available(), conditions.success()], at="t1")
    by_type = {c["type"]: c for c in merged}
    assert by_type["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "Available",
        "lastTransitionTime": "t1",
    }
    assert by_type["Synced"]["reason"] == "ReconcileSuccess"
    assert by_type["Custom"]["lastTransitionTime"] == "t0"


def test_transition_time_moves_only_when_status_flips():
    first = conditions.merge([], [conditions.error("boom")], at="t1")
    again = conditions.merge(first, [conditions.error("other message")], at="t2")
    assert again[0]["lastTransitionTime"] == "t1"
    assert again[0]["message"] == "other message"
    healed = conditions.merge(again, [conditions.success()], at="t3")
    assert healed[0]["lastTransitionTime"] == "t3"
    assert "message" not in healed[0]


def test_same_ignores_timestamps_but_not_messages():
    a = conditions.merge([], [conditions.error("x")], at="t1")
    b = conditions.merge([], [conditions.error("x")], at="t2")
    c = conditions.merge([], [conditions.error("y")], at="t2")
    assert conditions.same(a, b)
    assert not conditions.same(a, c)


def test_long_messages_are_shortened():
    cond = conditions.error("x" * 5000).to_dict("t", None)
    assert len(cond["message"]) == conditions.MAX_MESSAGE
    assert cond["message"].endswith("...")


def test_backoff_doubles_and_caps_at_poll():
    assert backoff.delay(0, 2, 60) == 60
    assert [backoff.delay(n, 2, 60) for n in range(1, 7)] == [2, 4, 8, 16, 32, 60]
