"""A bounded set of digests: what the plugin client remembers of answers it need not ask for
again, without keeping the answers.

Each entry is a 16-byte BLAKE2b digest of the question (an RPC's inputs); the answer is
either implied (UpgradeResourceState gave the state back as it was, PlanResourceChange
planned nothing) or recomputed by our side.  A digest costs about 150 bytes with the
set's own bookkeeping, so 10,000 entries are about 1.5 MB; past ``limit`` the least
recently used go.  A question whose inputs changed in any byte is simply not found.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

DEFAULT_LIMIT = 32768


def digest(*parts: bytes | str | int) -> bytes:
    """The digest of ``parts``, each length-prefixed so no two sequences collide by where
    one part ends and the next begins."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


class DigestMemo:
    """Digests seen, at most ``limit`` (least recently used dropped)."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit = limit
        self._digests: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._digests)

    def __contains__(self, key: bytes) -> bool:
        if key not in self._digests:
            return False
        self._digests.move_to_end(key)
        return True

    def add(self, key: bytes) -> None:
        self._digests[key] = None
        self._digests.move_to_end(key)
        while len(self._digests) > self.limit:
            self._digests.popitem(last=False)
