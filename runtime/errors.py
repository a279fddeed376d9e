"""The error a pass shows the user: :class:`ReconcileError`.

A module of its own because the contract's rules raise it too (names.py, references.py),
and those are imported by the generator, which must not pull in the reconciler's parts.
"""

from __future__ import annotations


class ReconcileError(Exception):
    """A problem the user can act on; the message is safe to show (no secret values)."""
