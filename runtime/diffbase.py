"""kopf's diff base, kept empty: no copy of the spec on any managed resource.

kopf compares each object with a *diff base* -- by default a JSON copy of its spec, labels
and annotations, stored in an annotation (``last-handled-configuration``) and re-patched
after every change -- to tell on.create / on.update / on.resume handlers what changed.
The runtime registers none of those (an on.event handler feeding the :mod:`.scheduler`
and an on.delete handler, see :mod:`.operator`): a pass reads the object as its last
event showed it, and deletion is told by ``deletionTimestamp``, not by a diff.  So the
copy would only cost a patch per change and the spec's size twice over in every object
(in etcd, in every watch event and in the controller's memory) for nothing.

:class:`EmptyDiffBase` keeps the *essence* empty: kopf then sees every event as "no
essential change" and never writes a diff base.  An object that still carries the
annotation an older version wrote gets it removed by kopf's own patch the first time kopf
sees the object (the one write this costs, once per object).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf

LEGACY_KEY = "last-handled-configuration"


class EmptyDiffBase(kopf.DiffBaseStorage):
    """A diff base that holds nothing (see the module doc)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.legacy = f"{prefix}/{LEGACY_KEY}"

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        # Nothing registered asks for a field's diff (extra_fields is empty for on.delete).
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        # None ("never handled") only while the old annotation is there: kopf then calls
        # store() below, whose patch removes it; afterwards old and new are both empty.
        if self.legacy in body.metadata.annotations:
            return None
        return cast(kopf.BodyEssence, {})

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if self.legacy in body.metadata.annotations:
            patch.metadata.annotations[self.legacy] = None
