"""When a managed resource's next pass runs: spread over the poll interval, not in step.

Without jitter, MRs that start together poll together for ever: 10,000 MRs created in one
burst, or found at once by a restarted controller, would each poll at the same instant
every interval -- a burst of provider calls, apiserver requests and (for MRs that need
it) Terraform runs, then nothing.  Two rules keep them apart:

* **every poll** waits a random time in ``[(1 - JITTER) * interval, interval]``: the
  interval stays an upper bound (drift is still noticed within one interval), and MRs
  that settled together drift apart by a few percent of the interval per poll;
* **the first pass after a start** of an MR that was already settled (Ready and Synced
  for its current generation, nothing in doubt, no pending request) waits a random
  phase in ``[0, interval)``: a restart re-checks its MRs spread over one interval
  instead of all at once.  Anything else -- a new MR, an edit made while the controller
  was down, an error, a create in doubt, a deletion -- is passed at once.

The functions are pure (the random source is passed in) so the schedule is unit-tested.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from jetgen.runtime import backoff, conditions, state
from jetgen.runtime.resource import HANDLED, RECONCILE_REQUESTED_AT

JITTER = 0.1  # a poll waits between 90 % and 100 % of the interval


def next_delay(
    failures: int, base: float, interval: float, rng: random.Random | None = None
) -> float:
    """Seconds until the next pass: the error backoff after a failure, else a poll."""
    if failures > 0:
        return backoff.delay(failures, base, interval)
    return interval * (1.0 - JITTER * (rng or random).random())


def first_delay(
    body: Mapping[str, Any], interval: float, rng: random.Random | None = None
) -> float:
    """Seconds before an MR's first pass after the controller started (see module doc)."""
    if not settled(body):
        return 0.0
    return interval * (rng or random).random()


def settled(body: Mapping[str, Any]) -> bool:
    """Whether the object's status says its last pass left it done: Ready and Synced for
    its current generation, not being deleted, no create in doubt, no reconcile request
    left unanswered."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    annotations = meta.get("annotations") or {}
    found = status.get("conditions")
    request = annotations.get(RECONCILE_REQUESTED_AT)
    return (
        not meta.get("deletionTimestamp")
        and meta.get("generation") is not None
        and status.get("observedGeneration") == meta.get("generation")
        and conditions.is_true(found, conditions.READY)
        and conditions.is_true(found, conditions.SYNCED)
        and not state.create_incomplete(dict(annotations))
        and (not request or request == status.get(HANDLED))
    )
