"""Provider schemas fetched once per provider binary and shared by all its processes.

A schema depends only on the binary, not on the process, its configuration or its
credentials: every process of one binary (two ProviderConfigs, a rotated credential, a
recycled or crashed process started again) answers GetProviderSchema with the same bytes.
Fetching and converting it costs the provider a full schema build and us a decode (tens
of milliseconds and tens of MiB for a large cloud), so it is done once per binary here
and the converted form (and the cty types derived from it) is shared.

A binary is known by its resolved path, size, modification time and inode: a provider
upgraded in place is a new file and gets its schema fetched again.  Hashing the file
instead would read hundreds of MiB for a large provider on every start.

Whether a new process still needs a GetProviderSchema call of its own is the provider's
to say: one that announces the ``get_provider_schema_optional`` server capability (in
its GetProviderSchema or GetMetadata answer) works without it, as Terraform itself
relies on; for any other, the client calls it once per process and throws the answer
away, since older SDKs set up their resource types only in that call.

What else a binary answers the same way every time is kept with its schema: which stored
states its UpgradeResourceState gives back unchanged (see ``ProviderProcess.upgrade_state``)
and, for kinds declared to plan from their inputs alone, which plans came back no-op
(``runtime/poll.py``; their digests cover the provider's configuration too).  A new
binary starts with neither.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetgen.runtime.tfplugin import cty
from jetgen.runtime.tfplugin.memo import DigestMemo

BinaryKey = tuple[str, int, int, int]


@dataclass
class BinarySchema:
    """One binary's schema in the shape of ``tofu providers schema -json``, its server
    capabilities, the cty types of its resource types (filled in as they are used), the
    stored states its UpgradeResourceState gives back as they are and the no-op plans of
    pure-plan kinds (digests, see the module doc)."""

    schema: dict[str, Any]
    capabilities: dict[str, bool]
    types: dict[str, cty.CtyType] = field(default_factory=dict)
    upgrades: DigestMemo = field(default_factory=DigestMemo)
    noop_plans: DigestMemo = field(default_factory=DigestMemo)

    @property
    def optional(self) -> bool:
        """May a new process of this binary be used without a GetProviderSchema call?"""
        return self.capabilities.get("get_provider_schema_optional", False)


def binary_key(binary: str | os.PathLike[str]) -> BinaryKey:
    """What tells one provider binary from another (see the module doc)."""
    path = Path(binary).resolve()
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


Fetch = Callable[[], Awaitable[BinarySchema]]


class SchemaCache:
    """Schemas by binary (at most ``limit`` binaries, least recently used dropped).

    ``fetches`` counts the schemas really fetched: what the controller's metric shows and
    the tests check."""

    def __init__(self, limit: int = 8):
        self.limit = limit
        self.fetches = 0
        self._schemas: OrderedDict[BinaryKey, BinarySchema] = OrderedDict()
        self._locks: dict[BinaryKey, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._schemas)

    def cached(self, key: BinaryKey) -> BinarySchema | None:
        return self._schemas.get(key)

    async def get(self, key: BinaryKey, fetch: Fetch) -> BinarySchema:
        """The schema of the binary ``key``, fetched with ``fetch`` only if no process of
        that binary fetched it before (concurrent first users wait for one fetch)."""
        found = self._schemas.get(key)
        if found is not None:
            self._schemas.move_to_end(key)
            return found
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._schemas.get(key)
            if found is None:
                found = await fetch()  # an error leaves nothing cached: the next user retries
                self.fetches += 1
                self._schemas[key] = found
                self._locks.pop(key, None)
                while len(self._schemas) > self.limit:
                    self._schemas.popitem(last=False)
        return found
