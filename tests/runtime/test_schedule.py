"""The pass schedule: polls spread over the interval, a restart's re-checks spread too."""

from __future__ import annotations

import random
import statistics

import pytest
from jetgen.runtime import schedule


def settled_body(**changes) -> dict:
    body = {
        "metadata": {"name": "a", "generation": 3, "annotations": {}},
        "status": {
            "observedGeneration": 3,
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "True"},
            ],
        },
    }
    for path, value in changes.items():
        where = body
        *parents, last = path.split("__")
        for name in parents:
            where = where[name]
        where[last] = value
    return body


def test_polls_stay_within_the_last_tenth_of_the_interval() -> None:
    rng = random.Random(1)
    delays = [schedule.next_delay(0, 2.0, 60.0, rng) for _ in range(10_000)]
    assert min(delays) >= 54.0 and max(delays) <= 60.0
    # Spread over that tenth, not stuck at one value.
    assert max(delays) - min(delays) > 5.9
    assert 56.5 < statistics.mean(delays) < 57.5


def busiest_second(due: list[float]) -> int:
    per_second: dict[int, int] = {}
    for t in due:
        per_second[int(t)] = per_second.get(int(t), 0) + 1
    return max(per_second.values())


def test_mrs_settled_together_drift_apart() -> None:
    """10,000 MRs settled in the same instant (a burst): their first polls spread over the
    last tenth of the interval, and further with every poll (without jitter all 10,000
    would poll in the same instant, every interval)."""
    rng = random.Random(7)
    due = [schedule.next_delay(0, 2.0, 60.0, rng) for _ in range(10_000)]
    assert busiest_second(due) < 2_000
    for _ in range(9):
        due = [t + schedule.next_delay(0, 2.0, 60.0, rng) for t in due]
    assert busiest_second(due) < 1_000
    assert max(due) - min(due) > 20


def test_errors_back_off_without_jitter() -> None:
    assert schedule.next_delay(1, 2.0, 60.0) == 2.0
    assert schedule.next_delay(3, 2.0, 60.0) == 8.0
    assert schedule.next_delay(10, 2.0, 60.0) == 60.0


def test_a_restart_spreads_settled_mrs_over_one_interval() -> None:
    rng = random.Random(3)
    firsts = [schedule.first_delay(settled_body(), 600.0, rng) for _ in range(10_000)]
    assert min(firsts) >= 0 and max(firsts) < 600.0
    # Uniform: each tenth of the interval holds about a tenth of the MRs.
    tenths = [0] * 10
    for t in firsts:
        tenths[int(t // 60)] += 1
    assert all(900 < n < 1100 for n in tenths), tenths


@pytest.mark.parametrize(
    "changes",
    [
        {"metadata__generation": 4},  # edited while the controller was down
        {"status__conditions": [{"type": "Ready", "status": "True"}]},
        {
            "status__conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Synced", "status": "True"},
            ]
        },
        {
            "status__conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "False"},
            ]
        },
        {"status": {}},  # never passed: a new MR
        {"metadata__deletionTimestamp": "2026-01-01T00:00:00Z"},
        {
            "metadata__annotations": {
                "crossplane.io/external-create-pending": "2026-01-01T00:00:00Z"
            }
        },
        {"metadata__annotations": {"crossplane.io/reconcile-requested-at": "now"}},
    ],
)
def test_anything_not_settled_is_passed_at_once(changes) -> None:
    assert schedule.first_delay(settled_body(**changes), 600.0, random.Random(0)) == 0.0


def test_a_handled_request_and_a_finished_create_count_as_settled() -> None:
    body = settled_body(
        metadata__annotations={
            "crossplane.io/reconcile-requested-at": "t1",
            "crossplane.io/external-create-pending": "2026-01-01T00:00:00Z",
            "crossplane.io/external-create-succeeded": "2026-01-01T00:00:01Z",
        }
    )
    body["status"]["lastHandledReconcileAt"] = "t1"
    assert schedule.settled(body)
    assert 0 < schedule.first_delay(body, 600.0, random.Random(5)) < 600.0
