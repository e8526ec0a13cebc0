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

The turn is taken as late as possible: a provider that takes turns at send
(`TakesTurnsAtSend`: `OpenAIProvider` with its own clients) takes it in its
HTTP client's request hook, right before each send, so every retry inside the
SDK takes one too, and the file reads, encoding and request building before it
do not delay a request past its turn (a request sent later than its turn
crowds the next window at the server). For any other provider the stage takes
the turn just before the call.

The caller holds its adaptive in-flight slot (`_limits.py`) while it waits, so a
process reserves at most its cap of requests ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import anyio
import httpx

from .._observability import METRICS
from .._settings import Settings
from ..storage import RateBuckets

__all__ = [
    "RateLimit",
    "SharedRateLimit",
    "TakesTurnsAtSend",
    "TokenCount",
    "account_limits",
    "model_limits",
    "take_turn_at_send",
]


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
    return _limits(settings, rpm, tpm)


def account_limits(settings: Settings) -> tuple[RateLimit | None, RateLimit | None]:
    """The requests and tokens limits of the whole account, every model together (`None`: none)."""
    return _limits(settings, settings.provider_account_rpm, settings.provider_account_tpm)


def _limits(
    settings: Settings, rpm: float | None, tpm: float | None
) -> tuple[RateLimit | None, RateLimit | None]:
    window = settings.provider_rate_window_sec
    return (
        None if rpm is None else RateLimit(rpm, window),
        None if tpm is None else RateLimit(tpm, window),
    )


class SharedRateLimit:
    """The requests and tokens limits of one provider model, drawn from the store's buckets.

    The model's buckets are keyed `provider:model:requests` and
    `provider:model:tokens`; the account's, which every model of the provider
    shares, `provider:*:requests` and `provider:*:tokens`. A request takes
    from each bucket that has a limit and waits for the slowest.

    Args:
        buckets: Where the buckets live: the store every worker shares.
        provider: The provider's name, part of the buckets' keys.
        model: The model, part of the buckets' keys.
        requests: The model's requests limit, if any.
        tokens: The model's tokens limit, if any.
        account_requests: The account's requests limit (every model together), if any.
        account_tokens: The account's tokens limit (every model together), if any.
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
        account_requests: RateLimit | None = None,
        account_tokens: RateLimit | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.buckets = buckets
        self.requests = requests
        self.tokens = tokens
        self.key = f"{provider}:{model}"
        self._requests = [
            (f"{key}:requests", limit)
            for key, limit in [(self.key, requests), (f"{provider}:*", account_requests)]
            if limit is not None
        ]
        self._tokens = [
            (f"{key}:tokens", limit)
            for key, limit in [(self.key, tokens), (f"{provider}:*", account_tokens)]
            if limit is not None
        ]
        self._sleep = sleep
        self._waited = METRICS.provider_rate_wait.labels(provider, model)

    async def _take(self, key: str, limit: RateLimit, amount: float) -> float:
        return await self.buckets.take_tokens(
            key, capacity=limit.capacity, rate=limit.rate, amount=amount
        )

    async def acquire(self, tokens: int = 0) -> None:
        """Take one request and `tokens` estimated tokens; wait until they may be used."""
        wait = 0.0
        for key, limit in self._requests:
            wait = max(wait, await self._take(key, limit, 1))
        if tokens > 0:
            for key, limit in self._tokens:
                wait = max(wait, await self._take(key, limit, tokens))
        if wait > 0:
            self._waited.inc(wait)
            await self._sleep(wait)

    async def reconcile(self, estimated: int, used: int) -> None:
        """Correct the tokens buckets by what the answer reported against the estimate."""
        if used != estimated:
            for key, limit in self._tokens:
                await self._take(key, limit, used - estimated)

    @asynccontextmanager
    async def request(self, tokens: int = 0, *, at_send: bool = False) -> AsyncIterator[TokenCount]:
        """Wait for one request with about `tokens` tokens; set `.used` from the answer's usage.

        A request that raises gives its estimated tokens back (no answer, no
        reported use); one that leaves `.used` as `None` keeps its estimate.

        Args:
            tokens: The tokens the request is expected to use.
            at_send: Take the turn in the HTTP client's request hook
                (`take_turn_at_send`), once per HTTP send, instead of now: for a
                provider that takes turns at send (`TakesTurnsAtSend`).
        """
        count = TokenCount()
        if not at_send:
            await self.acquire(tokens)
            count.turns = 1
        turn = _TURN.set(_Turn(self, tokens, count) if at_send else None)
        try:
            yield count
        except Exception:
            if count.turns:
                await self.reconcile(tokens, 0)
            raise
        finally:
            _TURN.reset(turn)
        if count.turns and count.used is not None:
            await self.reconcile(tokens, count.used)


class TokenCount:
    """The tokens a request really used, as its answer reports them (`None`: not known)."""

    used: int | None = None
    turns: int = 0
    """The requests taken from the requests bucket for it: one per HTTP send, retries included."""


@dataclass
class _Turn:
    """A request waiting to take its turns at send: the limits, its estimate, its count."""

    rates: SharedRateLimit
    tokens: int
    count: TokenCount

    async def take(self) -> None:
        # The estimate stands for the one answer that uses tokens: a refused send uses
        # none, so a retry takes a request but no more tokens.
        await self.rates.acquire(self.tokens if self.count.turns == 0 else 0)
        self.count.turns += 1


_TURN: ContextVar[_Turn | None] = ContextVar("videopipe_rate_turn", default=None)


async def take_turn_at_send(request: httpx.Request) -> None:
    """An httpx request hook: take the current request's turn, if it waits for one at send.

    `SharedRateLimit.request(..., at_send=True)` marks the task's context; the
    hook runs in that task right before every HTTP send of the call (the SDK's
    retries and redirects included) and waits out the turn. Outside such a
    context it does nothing.
    """
    turn = _TURN.get()
    if turn is not None:
        await turn.take()


@runtime_checkable
class TakesTurnsAtSend(Protocol):
    """**Protocol:** a provider whose HTTP client takes the shared limits' turns itself.

    Its client runs `take_turn_at_send` as a request hook, so the AI stages
    leave the turn to it (`at_send=True`).
    """

    def takes_turns_at_send(self) -> bool:
        """Whether every HTTP send of this provider's calls takes its turn (its own clients)."""
        ...
