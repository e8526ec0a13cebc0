"""Adaptive in-flight limits, one per provider endpoint: a 429 storm slows the pipeline down.

Each endpoint of a provider (transcribe, vision, embed, for one model) has an
in-flight limit that follows AIMD, as TCP's congestion window does:

- a "slow down" answer ([`RateLimited`][videopipe.RateLimited]: 429, or 503
  with `Retry-After`) halves it, with a floor of 1; the 429s of requests that
  were already in flight together count once (at most one halving per
  `cooldown` seconds), so one burst is one signal;
- each success window adds 1, up to the configured cap
  (`VISION_MAX_CONCURRENT`, `TRANSCRIBE_MAX_CONCURRENT`, `EMBED_MAX_CONCURRENT`).
  The window is one success, not TCP's "+1 per round trip": a server refusing
  a random share of requests (the benchmark's 50 % storm) then keeps the
  limit near its cap instead of driving it towards 1, while a server that
  keeps refusing still brings it down to 1.

The limits live per event loop, like every anyio primitive, and are shared by
every video that loop runs. The current limit of each is the
`videopipe_provider_concurrency_limit` gauge of the metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel

from ._exceptions import ConfigurationError, RateLimited
from ._observability import METRICS

__all__ = ["AdaptiveLimit", "endpoint_limit"]


class AdaptiveLimit:
    """An AIMD in-flight limit: halved on "slow down" answers, +1 per success window, up to `cap`.

    Args:
        cap: The most requests in flight, and the starting limit.
        labels: `(provider, endpoint, model)`, for the metrics.
        cooldown: Seconds after a halving during which further 429s do not halve
            again (they belong to the same burst).
        window: Successes needed for +1, as a function of the current limit.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        cap: int,
        *,
        labels: tuple[str, str, str] = ("", "", ""),
        cooldown: float = 1.0,
        window: Callable[[int], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cap < 1:
            raise ConfigurationError(f"an in-flight limit must be at least 1, not {cap}")
        self.cap = cap
        self.cooldown = cooldown
        self.window = window or _one_per_success
        self._clock = clock
        self._limiter = anyio.CapacityLimiter(cap)
        self._successes = 0
        self._last_halving = -math.inf
        self._gauge = METRICS.provider_limit.labels(*labels)
        self._gauge.set(cap)

    @property
    def limit(self) -> int:
        """The current in-flight limit."""
        return int(self._limiter.total_tokens)

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._limiter.borrowed_tokens

    def _set(self, limit: int) -> None:
        self._limiter.total_tokens = limit
        self._gauge.set(limit)

    def set_cap(self, cap: int) -> None:
        """Change the cap (the settings changed); a limit above it comes down to it."""
        if cap < 1:
            raise ConfigurationError(f"an in-flight limit must be at least 1, not {cap}")
        grow = self.limit == self.cap
        self.cap = cap
        if grow or self.limit > cap:
            self._set(cap)

    def slowed_down(self) -> None:
        """A "slow down" answer: halve the limit (floor 1), once per burst."""
        now = self._clock()
        self._successes = 0
        if now - self._last_halving < self.cooldown:
            return
        self._last_halving = now
        self._set(max(1, self.limit // 2))

    def succeeded(self) -> None:
        """A success: after a window of them, one more request may be in flight."""
        if self.limit >= self.cap:
            return
        self._successes += 1
        if self._successes >= self.window(self.limit):
            self._successes = 0
            self._set(self.limit + 1)

    @asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Hold a slot for one request; its outcome adjusts the limit."""
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        try:
            yield
        except RateLimited:
            self.slowed_down()
            raise
        else:
            self.succeeded()
        finally:
            self._limiter.release_on_behalf_of(borrower)


def _one_per_success(limit: int) -> int:
    return 1


_LIMITS: anyio.lowlevel.RunVar[dict[tuple[str, str, str], AdaptiveLimit]] = anyio.lowlevel.RunVar(
    "videopipe_adaptive_limits"
)


def endpoint_limit(provider: str, endpoint: str, model: str, cap: int) -> AdaptiveLimit:
    """The event loop's adaptive limit of `provider`'s `endpoint` for `model`, capped at `cap`."""
    try:
        limits = _LIMITS.get()
    except LookupError:
        limits = {}
        _LIMITS.set(limits)
    key = (provider, endpoint, model)
    limit = limits.get(key)
    if limit is None:
        limit = limits[key] = AdaptiveLimit(cap, labels=key)
    elif limit.cap != cap:
        limit.set_cap(cap)
    return limit
