"""`MemoryStore`'s `RunLeases`: leases in a dict, shared by the process's tasks."""

from __future__ import annotations

import time

from .._leases import check_lease
from ._state import MemoryState

__all__ = ["MemoryLeases"]


class MemoryLeases(MemoryState):
    """The [`RunLeases`][videopipe.storage.RunLeases] of a `MemoryStore`."""

    async def take_lease(
        self, key: str, owner: str, *, ttl: float, now: float | None = None
    ) -> bool:
        self._check()
        check_lease(key, owner, ttl=ttl, now=now)
        t = time.time() if now is None else now
        held = self.leases.get(key)
        if held is not None and held[0] != owner and held[1] > t:
            return False
        self.leases[key] = (owner, t + ttl)
        return True

    async def drop_lease(self, key: str, owner: str) -> None:
        self._check()
        held = self.leases.get(key)
        if held is not None and held[0] == owner:
            del self.leases[key]
