"""`MemoryStore`'s `RateBuckets`: token buckets in a dict, shared by the process's tasks."""

from __future__ import annotations

import time

from .._buckets import bucket_wait, check_bucket, refill
from ._state import MemoryState

__all__ = ["MemoryBuckets"]


class MemoryBuckets(MemoryState):
    """The [`RateBuckets`][videopipe.storage.RateBuckets] of a `MemoryStore`."""

    async def take_tokens(
        self,
        key: str,
        *,
        capacity: float,
        rate: float,
        amount: float,
        now: float | None = None,
    ) -> float:
        self._check()
        check_bucket(key, capacity=capacity, rate=rate, amount=amount, now=now)
        t = time.time() if now is None else now
        level, last = self.buckets.get(key, (capacity, t))
        level = refill(level, last, t, capacity=capacity, rate=rate)
        level = min(capacity, level - amount)
        self.buckets[key] = (level, max(last, t))
        return bucket_wait(level, rate)
