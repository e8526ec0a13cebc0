"""Requests- and tokens-per-minute limits shared by every worker, kept in the store's buckets.

A provider account allows so many requests and tokens per minute, per model,
whatever number of worker processes on whatever number of machines use it.
Each limit is a token bucket in the store
([`RateBuckets`][videopipe.storage.RateBuckets]), so every process that uses
the same store (the same `DATABASE_URL`) draws from the same bucket:

- its burst is a sixtieth of the limit (a second's worth of a per-minute
  limit; at least 1, at most half the limit) and it refills at
  `(limit - burst) / window` per second, so that **in any span of one window
  at most `limit` are used**, however the takes interleave;
- a request takes 1 from the requests bucket and its *estimated* tokens from the
  tokens bucket before it is sent, and waits out what the store answers (a
  reservation, so waiting callers are served in the order they asked);
- when the answer comes, the difference between the tokens it reports and the
  estimate is taken (or given back); a request that fails gives its estimated
  tokens back, since no answer reported any use.

The caller holds its adaptive in-flight slot (`_limits.py`) while it waits, so a
process reserves at most its cap of requests ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from .._observability import METRICS
from .._settings import Settings
from ..storage import RateBuckets

__all__ = ["RateLimit", "SharedRateLimit", "model_limits"]


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` requests (or tokens) in any span of `window` seconds."""

    limit: float
    window: float = 60.0

    @property
    def capacity(self) -> float:
        """The bucket's burst: a sixtieth of the limit, at least 1, at most half the limit."""
        return min(max(1.0, self.limit / 60), self.limit / 2)

    @property
    def rate(self) -> float:
        """Tokens the bucket gains per second, so a window never holds more than `limit`."""
        return (self.limit - self.capacity) / self.window


def model_limits(settings: Settings, model: str) -> tuple[RateLimit | None, RateLimit | None]:
    """The requests and tokens limits of `model` in `settings` (`None`: no such limit)."""
    rpm = settings.provider_model_rpm.get(model, settings.provider_rpm)
    tpm = settings.provider_model_tpm.get(model, settings.provider_tpm)
    window = settings.provider_rate_window_sec
    return (
        None if rpm is None else RateLimit(rpm, window),
        None if tpm is None else RateLimit(tpm, window),
    )


class SharedRateLimit:
    """The requests and tokens limits of one provider model, drawn from the store's buckets.

    Args:
        buckets: Where the buckets live: the store every worker shares.
        provider: The provider's name, part of the buckets' keys.
        model: The model, part of the buckets' keys.
        requests: The requests limit, if any.
        tokens: The tokens limit, if any.
        sleep: How to wait (tests pass their own).
    """

    def __init__(
        self,
        buckets: RateBuckets,
        provider: str,
        model: str,
        *,
        requests: RateLimit | None = None,
        tokens: RateLimit | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.buckets = buckets
        self.requests = requests
        self.tokens = tokens
        self.key = f"{provider}:{model}"
        self._sleep = sleep
        self._waited = METRICS.provider_rate_wait.labels(provider, model)

    async def _take(self, kind: str, limit: RateLimit, amount: float) -> float:
        return await self.buckets.take_tokens(
            f"{self.key}:{kind}", capacity=limit.capacity, rate=limit.rate, amount=amount
        )

    async def acquire(self, tokens: int = 0) -> None:
        """Take one request and `tokens` estimated tokens; wait until they may be used."""
        wait = 0.0
        if self.requests is not None:
            wait = await self._take("requests", self.requests, 1)
        if self.tokens is not None and tokens > 0:
            wait = max(wait, await self._take("tokens", self.tokens, tokens))
        if wait > 0:
            self._waited.inc(wait)
            await self._sleep(wait)

    async def reconcile(self, estimated: int, used: int) -> None:
        """Correct the tokens bucket by what the answer reported against the estimate."""
        if self.tokens is not None and used != estimated:
            await self._take("tokens", self.tokens, used - estimated)

    @asynccontextmanager
    async def request(self, tokens: int = 0) -> AsyncIterator[TokenCount]:
        """Wait for one request with about `tokens` tokens; set `.used` from the answer's usage.

        A request that raises gives its estimated tokens back (no answer, no
        reported use); one that leaves `.used` as `None` keeps its estimate.
        """
        await self.acquire(tokens)
        count = TokenCount()
        try:
            yield count
        except Exception:
            await self.reconcile(tokens, 0)
            raise
        if count.used is not None:
            await self.reconcile(tokens, count.used)


class TokenCount:
    """The tokens a request really used, as its answer reports them (`None`: not known)."""

    used: int | None = None
