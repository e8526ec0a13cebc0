"""The one retry rule: which errors are retried, after how long, and for how long.

Errors are classified once, where a provider maps its client library's errors
(`retryable`, `retry_after`, and `RateLimited` for "slow down"); the policy
reads those attributes, and a foreign exception only through the policy's
`classify` hook. `process_batch` and the AI stages apply it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ._exceptions import ConfigurationError, RateLimited, StageError, VideopipeError

__all__ = ["RetryPolicy", "is_retryable", "retry_after"]


def _cause(exc: BaseException) -> BaseException:
    """The error that decides: a `StageError`'s cause, else `exc` itself."""
    while isinstance(exc, StageError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` is a passing failure worth another attempt.

    A videopipe error says so itself (`retryable`: HTTP 408/429/5xx, timeouts,
    connection failures as mapped by the provider); a `StageError` is retryable
    when its cause is; the builtin `TimeoutError` and `ConnectionError` are.
    Anything else is not: a bad input file, HTTP 401, or a foreign exception
    (give the `RetryPolicy` a `classify` hook to retry those).

    Args:
        exc: The exception an attempt raised.

    Returns:
        Whether to retry.
    """
    exc = _cause(exc)
    if isinstance(exc, VideopipeError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)


def retry_after(exc: BaseException) -> float | None:
    """The delay, in seconds, that the server asked for before a retry, if any.

    Reads the `retry_after` of a videopipe error (a `StageError`'s cause's),
    which the provider took from the answer's `Retry-After-Ms` or `Retry-After`
    header (seconds or an HTTP date).

    Args:
        exc: The exception an attempt raised.

    Returns:
        Seconds to wait, or `None` when the error says nothing.
    """
    exc = _cause(exc)
    if isinstance(exc, VideopipeError) and exc.retry_after is not None:
        return max(0.0, float(exc.retry_after))
    return None


@dataclass(slots=True)
class _Tries:
    """What the retries of one item have cost so far."""

    calls: int = 0
    failures: int = 0
    """Failed calls other than "slow down" answers: these count against `attempts`."""
    refusals: dict[int, int] = field(default_factory=dict)
    """"Slow down" answers by HTTP status."""
    waited: float = 0.0
    """Seconds slept on "slow down" answers: these count against `budget`."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How `process_batch` retries an item that failed with a passing error.

    Two kinds of passing failure, two rules:

    - **"Slow down"** ([`RateLimited`][videopipe.RateLimited]: HTTP 429, or 503
      with `Retry-After`) is retried by time: as long as the server asks,
      waiting what its `Retry-After` says (or a jittered exponential backoff
      when it says nothing), until the waits add up to `budget` seconds. Then
      the item fails with `RateLimited` saying how long it waited and how many
      answers were 429.
    - **Other passing failures** (timeouts, connection resets, other 5xx) are
      retried up to `attempts` calls, with exponential backoff and full jitter
      (a uniform draw between 0 and
      `min(max_delay, initial_delay * multiplier ** (attempt - 1))`), never
      sooner than a `Retry-After` (up to `max_retry_after`).

    Examples:
        ```python
        policy = vp.RetryPolicy(attempts=5, initial_delay=1.0, max_delay=60, budget=600)
        results = await vp.process_batch(paths, pipeline.run, retry=policy)
        ```

    Note:
        Added in 0.1.0. `budget` and `classify` in 0.2.0.
    """

    attempts: int = 3
    """Most calls per item for failures other than "slow down", the first included."""
    initial_delay: float = 0.5
    """Upper bound of the first delay, in seconds."""
    max_delay: float = 30.0
    """Cap on the exponential part of the delay, in seconds."""
    multiplier: float = 2.0
    """Growth of the bound from one attempt to the next."""
    jitter: bool = True
    """Draw the delay uniformly below its bound (full jitter), so retries spread out."""
    retry_on: Callable[[Exception], bool] | tuple[type[Exception], ...] = is_retryable
    """Which errors are retried: a predicate, or a tuple of exception classes."""
    max_retry_after: float = 300.0
    """Cap on a server's `Retry-After`, against absurd values."""
    budget: float = 300.0
    """Seconds one item may spend waiting on "slow down" answers before it fails
    (the AI stages default it to `PROVIDER_RETRY_BUDGET_SEC`)."""
    classify: Callable[[Exception], Exception | None] | None = field(default=None, compare=False)
    """Maps a foreign exception (not a videopipe error) to a videopipe error that says
    whether and when to retry, or to `None`; for instance
    [`classify_http_error`][videopipe.providers.classify_http_error] for httpx and the
    `openai` SDK."""
    on_retry: Callable[[Exception, int, float], None] | None = field(
        default=None, repr=False, compare=False
    )
    """Called before each retry with the error, the attempt that failed and the delay
    (for logs or metrics; the AI stages count provider retries with it)."""
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.attempts must be at least 1, not {self.attempts}"
            )
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ConfigurationError(
                "RetryPolicy delays must be non-negative and the multiplier at least 1"
            )
        if self.budget < 0:
            raise ConfigurationError(f"RetryPolicy.budget must be non-negative, not {self.budget}")

    def classified(self, exc: Exception) -> Exception:
        """The error that decides a retry.

        A `StageError`'s cause; a foreign error as `classify` maps it, when it does; else `exc`.
        """
        cause = _cause(exc)
        if not isinstance(cause, Exception):
            return exc
        if self.classify is not None and not isinstance(cause, VideopipeError):
            mapped = self.classify(cause)
            if mapped is not None:
                return mapped
        return cause

    def _retryable(self, exc: Exception, decisive: Exception) -> bool:
        if isinstance(self.retry_on, tuple):
            return isinstance(exc, self.retry_on) or isinstance(decisive, self.retry_on)
        return self.retry_on(decisive)

    def should_retry(self, exc: Exception, attempt: int) -> bool:
        """Whether to call the worker again after attempt number `attempt` raised `exc`.

        The attempt-count rule only: `process_batch` retries "slow down" answers by time.
        """
        if attempt >= self.attempts:
            return False
        return self._retryable(exc, self.classified(exc))

    def delay(self, attempt: int, exc: Exception | None = None) -> float:
        """Seconds to wait after attempt number `attempt` (1-based) failed with `exc`."""
        bound = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        wait = self.rng.uniform(0, bound) if self.jitter else bound
        asked = None if exc is None else retry_after(self.classified(exc))
        if asked is not None:
            wait = max(wait, min(asked, self.max_retry_after))
        return wait

    def _next(self, exc: Exception, tries: _Tries) -> float | Exception:
        """The delay before the next call, or the error the item fails with."""
        decisive = self.classified(exc)
        if not self._retryable(exc, decisive):
            return exc
        if isinstance(decisive, RateLimited):
            status = decisive.status_code or 429
            tries.refusals[status] = tries.refusals.get(status, 0) + 1
            asked = retry_after(decisive)
            if asked is None:
                wait = self.delay(sum(tries.refusals.values()))
            else:  # never sooner than asked; a little later, so that clients spread out
                asked = min(asked, self.max_retry_after)
                wait = asked + (self.rng.uniform(0, asked / 10) if self.jitter else 0.0)
            if tries.waited + wait > self.budget:
                return self._out_of_budget(exc, decisive, tries)
            tries.waited += wait
            return wait
        tries.failures += 1
        if tries.failures >= self.attempts:
            return exc
        return self.delay(tries.failures, decisive)

    def _out_of_budget(self, exc: Exception, decisive: RateLimited, tries: _Tries) -> Exception:
        refused = tries.refusals.get(429, 0)
        others = ", ".join(
            f"{n} answers {status}" for status, n in sorted(tries.refusals.items()) if status != 429
        )
        error = RateLimited(
            f"{decisive}: gave up after waiting {tries.waited:.1f} s over {refused} answers 429"
            + (f" and {others}" if others else "")
            + f" (the retry budget is {self.budget:g} s: PROVIDER_RETRY_BUDGET_SEC)",
            retry_after=decisive.retry_after,
            status_code=decisive.status_code,
        )
        error.__cause__ = exc
        return error
