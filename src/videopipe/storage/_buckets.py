"""The `RateBuckets` protocol: token buckets in the store, shared by every worker using it."""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from .._exceptions import ConfigurationError
from ._common import check_text

__all__ = ["RateBuckets", "bucket_wait", "check_bucket", "refill"]


# Runtime-checkable: the AI stages ask whether the pipeline's store keeps rate buckets.
@runtime_checkable
class RateBuckets(Protocol):
    """**Protocol:** token buckets kept in the store, so many processes share one rate limit.

    A bucket holds at most `capacity` tokens and gains `rate` tokens per
    second; a new bucket starts full. [`take_tokens`][videopipe.storage.RateBuckets.take_tokens]
    is a *reservation*: it always takes, possibly into debt (a level below 0),
    and answers how long the caller must wait before using what it took, so
    that what is used in any span of `w` seconds is at most
    `capacity + rate * w`. The provider side of videopipe takes one request (and
    its estimated tokens) before each call and waits the answer out. Every
    backend of [`Store`][videopipe.storage.Store] implements it: in process
    (memory), under SQLite's write lock (`BEGIN IMMEDIATE`), or in one atomic
    `INSERT … ON CONFLICT DO UPDATE` of a row (PostgreSQL, whose clock every
    worker shares).

    Note:
        Added in 0.2.0.
    """

    async def take_tokens(
        self,
        key: str,
        *,
        capacity: float,
        rate: float,
        amount: float,
        now: float | None = None,
    ) -> float:
        """Take `amount` tokens from the bucket `key`; the seconds to wait before using them.

        The bucket first refills for the time since it was last touched (up to
        `capacity`), then gives `amount`: 0.0 when it held that many, else the
        time its refill needs to pay the debt. A negative `amount` gives tokens
        back (never above `capacity`), which is how an estimate is corrected
        once the real use is known; the answer then is 0.0 or what is still owed.

        Args:
            key: The bucket, such as `"openai:gpt-4o:requests"`.
            capacity: The most tokens the bucket holds (its burst); positive.
            rate: Tokens gained per second; positive.
            amount: Tokens taken (negative: given back).
            now: Seconds on the store's clock; by default the store reads its
                own (the database's, for PostgreSQL). Tests pass their own.

        Raises:
            ConfigurationError: `capacity` or `rate` is not positive, or a value
                is not finite.
        """
        ...


def refill(level: float, last: float, now: float, *, capacity: float, rate: float) -> float:
    """The level of a bucket at `now` that held `level` at `last` (clocks never run backwards)."""
    return min(capacity, level + max(0.0, now - last) * rate)


def bucket_wait(level: float, rate: float) -> float:
    """The seconds until a bucket at `level` is out of debt."""
    return max(0.0, -level) / rate


def check_bucket(
    key: str, *, capacity: float, rate: float, amount: float, now: float | None
) -> None:
    """Reject a bucket call that no backend could honour, before anything is written.

    Raises:
        ConfigurationError: A value is not finite, or `capacity` or `rate` is not positive.
    """
    check_text(key, what="bucket key")
    values = {"capacity": capacity, "rate": rate, "amount": amount}
    if now is not None:
        values["now"] = now
    for name, value in values.items():
        if not math.isfinite(value):
            raise ConfigurationError(f"a rate bucket's {name} must be finite, not {value!r}")
    if capacity <= 0 or rate <= 0:
        raise ConfigurationError(
            f"a rate bucket needs a positive capacity and rate, not {capacity!r} and {rate!r}"
        )
