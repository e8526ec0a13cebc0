"""`process_batch`: run many items through an async worker with bounded concurrency.

The shape is a pool: `concurrency` tasks pull `(index, item)` pairs from one
shared iterator and store each outcome by its index. No task is created per
item, nothing is materialised up front, and per-item bookkeeping is a few
attribute writes, so the pool adds microseconds to each item's own work
(see `docs/performance.md`).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NamedTuple, NoReturn, Protocol, TypeAlias, TypeVar, final

import anyio
import anyio.abc

from ._exceptions import (
    Cancelled,
    ConfigurationError,
    RateLimited,
    StageError,
    VideopipeError,
)
from ._sync import run_blocking

__all__ = [
    "Err",
    "Ok",
    "Progress",
    "Result",
    "RetryPolicy",
    "StopSignal",
    "is_retryable",
    "process_batch",
    "process_batch_blocking",
    "retry_after",
    "stream_batch",
]

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@final
@dataclass(frozen=True, slots=True)
class Ok(Generic[R_co]):
    """A successful item: `value` is what the worker returned.

    Examples:
        ```python
        match result:
            case Ok(value):
                print("done", value)
            case Err(error):
                print("failed", error)
        ```

    Note:
        Added in 0.1.0.
    """

    value: R_co
    attempts: int = 1
    """How many times the worker was called for this item (more than 1 after retries)."""

    @property
    def ok(self) -> Literal[True]:
        """`True`: this item succeeded."""
        return True

    def unwrap(self) -> R_co:
        """Return the value."""
        return self.value


@final
@dataclass(frozen=True, slots=True)
class Err:
    """A failed item: `error` is the exception the worker raised, with its traceback.

    Items that never started because the batch was stopped hold a
    [`Cancelled`][videopipe.Cancelled] error.

    Note:
        Added in 0.1.0.
    """

    error: Exception
    attempts: int = 1
    """How many times the worker was called for this item (0 if it never started)."""

    @property
    def ok(self) -> Literal[False]:
        """`False`: this item failed."""
        return False

    def unwrap(self) -> NoReturn:
        """Raise the error."""
        raise self.error


Result: TypeAlias = Ok[R] | Err
"""The outcome of one item: `Ok[R] | Err`."""


class Progress(NamedTuple):
    """A snapshot of a batch's progress, passed to a `progress` callback.

    It unpacks as `(done, total, failed)`.
    """

    done: int
    """Items finished, successfully or not."""
    total: int | None
    """Items in the batch, or `None` when the input has no length and none was given."""
    failed: int
    """Items finished with an `Err`."""


class StopSignal(Protocol):
    """**Protocol:** anything with `is_set()`, such as `anyio.Event` or `threading.Event`."""

    def is_set(self) -> bool:
        """Whether the stop was requested."""
        ...


# --- retries -----------------------------------------------------------------
#
# The one retry rule. Errors are classified once, where a provider maps its
# client library's errors (`retryable`, `retry_after`, and `RateLimited` for
# "slow down"); the policy reads those attributes, and a foreign exception
# only through the policy's `classify` hook.


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


# --- the pool ----------------------------------------------------------------


class _StartRate:
    """Spaces item starts at least `1 / per_second` apart, across all workers."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_start = -math.inf

    async def wait(self) -> None:
        now = anyio.current_time()
        # Claim the slot before sleeping: no await between reading and writing.
        start = max(now, self.next_start)
        self.next_start = start + self.interval
        if start > now:
            await anyio.sleep(start - now)


class _ProgressReporter:
    def __init__(self, total: int | None, callback: Callable[[Progress], object] | None, bar: bool):
        self.done = 0
        self.failed = 0
        self.total = total
        self.callback = callback
        self.active = bar or callback is not None
        self.bar: Any = None
        if bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="item", dynamic_ncols=True)

    def update(self, ok: bool) -> None:
        self.done += 1
        if not ok:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            if not ok:
                self.bar.set_postfix(failed=self.failed, refresh=False)
        if self.callback is not None:
            self.callback(Progress(self.done, self.total, self.failed))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Pool(Generic[T, R]):
    """The shared state of one batch: the source, the options, and the first fatal error.

    Results go to `sink` (a list, filled by index) or, when it is `None`, to
    the async `deliver` callback.
    """

    def __init__(
        self,
        source: Iterator[tuple[int, T]] | AsyncIterator[tuple[int, T]],
        worker: Callable[[T], Awaitable[R]],
        *,
        sink: list[Result[R] | None] | None,
        deliver: Callable[[int, Result[R]], Awaitable[object]] | None,
        retry: RetryPolicy | None,
        max_per_second: float | None,
        stop: StopSignal | None,
        reporter: _ProgressReporter,
    ) -> None:
        self.source = source
        self.worker = worker
        self.sink = sink
        self.deliver = deliver
        self.retry = retry
        self.rate = None if max_per_second is None else _StartRate(max_per_second)
        self.stop = stop
        self.reporter = reporter
        self.pull_lock = anyio.Lock(fast_acquire=True)
        self.fatal: BaseException | None = None

    async def next_item(self) -> tuple[int, T] | None:
        if isinstance(self.source, Iterator):
            return next(self.source, None)
        # An async generator cannot be advanced by two tasks at once.
        async with self.pull_lock:
            return await anext(self.source, None)

    async def call(self, item: T) -> Result[R]:
        tries = _Tries()
        while True:
            tries.calls += 1
            if self.rate is not None:
                await self.rate.wait()
            try:
                return Ok(await self.worker(item), tries.calls)
            except Exception as exc:
                if self.retry is None:
                    return Err(exc, tries.calls)
                delay = self.retry._next(exc, tries)
                if isinstance(delay, Exception):
                    return Err(delay, tries.calls)
                if self.retry.on_retry is not None:
                    self.retry.on_retry(exc, tries.calls, delay)
            await anyio.sleep(delay)

    async def put(self, index: int, result: Result[R]) -> None:
        if self.sink is None:
            assert self.deliver is not None
            await self.deliver(index, result)
        elif index < len(self.sink):
            self.sink[index] = result
        else:  # items finish out of order: grow the list up to this index
            self.sink.extend([None] * (index - len(self.sink)))
            self.sink.append(result)

    async def drain(self, scope: anyio.CancelScope) -> None:
        # The hot loop: per item, only what the options ask for. Every
        # branch below is decided once, outside the loop.
        worker, stop, sink = self.worker, self.stop, self.sink
        pull = self.source.__next__ if isinstance(self.source, Iterator) else None
        plain = self.retry is None and self.rate is None
        report = self.reporter.update if self.reporter.active else None
        try:
            while stop is None or not stop.is_set():
                if pull is not None:
                    try:
                        index, item = pull()
                    except StopIteration:
                        return
                else:
                    entry = await self.next_item()
                    if entry is None:
                        return
                    index, item = entry
                result: Result[R]
                if plain:
                    try:
                        result = Ok(await worker(item))
                    except Exception as exc:
                        result = Err(exc)
                else:
                    result = await self.call(item)
                if report is not None:
                    report(result.ok)
                if sink is not None and index < len(sink):
                    sink[index] = result
                else:
                    await self.put(index, result)
        except Exception as exc:
            # The input or a callback failed, not an item: end the batch with it.
            if self.fatal is None:
                self.fatal = exc
            scope.cancel()

    async def cancel_rest(self) -> None:
        """Deliver `Err(Cancelled)` for every item left after a stop."""
        while (entry := await self.next_item()) is not None:
            index, _ = entry
            self.reporter.update(False)
            await self.put(index, Err(Cancelled(), 0))

    async def run(self, concurrency: int) -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(self.drain, tg.cancel_scope)
        if self.fatal is not None:
            raise self.fatal
        if self.stop is not None and self.stop.is_set():
            await self.cancel_rest()


def _default_size(item: object) -> float:
    if isinstance(item, str | os.PathLike):
        try:
            return float(os.stat(item).st_size)
        except OSError:
            return 0.0
    raise ConfigurationError(
        "largest_first=True without key= needs file paths as items; pass key= to size other items"
    )


async def _indexed(
    items: Iterable[T] | AsyncIterable[T],
    key: Callable[[T], float] | None,
    largest_first: bool,
) -> Iterator[tuple[int, T]] | AsyncIterator[tuple[int, T]]:
    if key is None and not largest_first:
        if isinstance(items, AsyncIterable):
            return _aenumerate(items)
        return enumerate(items)
    # Ordering needs every item's size up front, so this path materialises the input.
    listed = [x async for x in items] if isinstance(items, AsyncIterable) else list(items)
    size = key or _default_size
    sizes = [size(x) for x in listed]
    order = sorted(range(len(listed)), key=sizes.__getitem__, reverse=True)
    return ((i, listed[i]) for i in order)


async def _aenumerate(items: AsyncIterable[T]) -> AsyncIterator[tuple[int, T]]:
    index = 0
    async for item in items:
        yield index, item
        index += 1


def _check(concurrency: int, max_per_second: float | None) -> None:
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, not {concurrency}")
    if max_per_second is not None and max_per_second <= 0:
        raise ConfigurationError(f"max_per_second must be positive, not {max_per_second}")


def _total_of(items: object, total: int | None) -> int | None:
    if total is not None:
        return total
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None


async def process_batch(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    max_per_second: float | None = None,
    key: Callable[[T], float] | None = None,
    largest_first: bool = False,
    progress: bool | Callable[[Progress], object] | None = None,
    total: int | None = None,
    stop: StopSignal | None = None,
) -> list[Ok[R] | Err]:
    """Run `worker` on every item, at most `concurrency` at a time; one result per item, in order.

    A failure never stops the batch: an item whose worker raises becomes
    `Err(error)` (the exception itself, with its traceback) and the others go
    on. Items are pulled lazily as workers free up, so any iterable works,
    including a generator of a million paths or an async iterable.

    Examples:
        ```python
        results = await vp.process_batch(paths, pipeline.run, concurrency=4)
        for path, r in zip(paths, results):
            print(path, r.value if r.ok else r.error)
        ```

    Args:
        items: The inputs; an iterable or an async iterable, consumed lazily.
        worker: An async function called once per item (more with `retry`).
        concurrency: Most calls of `worker` in flight at once.
        retry: Retry passing failures: "slow down" answers (429) by time, within
            the policy's budget, and others (timeouts, 5xx) by count, with
            backoff. `None`, the default, calls the worker once per item.
        max_per_second: Most item starts per second, whatever the concurrency.
        key: With `largest_first`, an item's size; defaults to the file size of
            path items. Ordering materialises the input.
        largest_first: Start the largest items first, which shortens a batch
            whose items vary in size; results stay in input order.
        progress: `True` shows a progress bar (a notebook bar in Jupyter); a
            callable receives a [`Progress`][videopipe.Progress] after each item.
        total: The number of items, for progress, when `items` has no `len()`.
        stop: An event such as `anyio.Event`: once set, no new item starts,
            in-flight items finish, and every item that never started comes
            back as `Err(Cancelled())`, so the caller can resume exactly those.

    Returns:
        One `Ok(value)` or `Err(error)` per item, in input order.

    Raises:
        ConfigurationError: `concurrency` or `max_per_second` is out of range.
        Exception: Whatever iterating `items` or the `progress` callback raised;
            item failures are never raised.

    Note:
        Added in 0.1.0.
    """
    results: list[Ok[R] | Err | None] = []
    await _run(
        items, worker, results, None, concurrency=concurrency, retry=retry,
        max_per_second=max_per_second, key=key, largest_first=largest_first,
        progress=progress, total=total, stop=stop,
    )  # fmt: skip
    return results  # type: ignore[return-value]  # every index was delivered exactly once


@asynccontextmanager
async def stream_batch(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    max_per_second: float | None = None,
    key: Callable[[T], float] | None = None,
    largest_first: bool = False,
    progress: bool | Callable[[Progress], object] | None = None,
    total: int | None = None,
    stop: StopSignal | None = None,
) -> AsyncIterator[AsyncIterator[tuple[int, Result[R]]]]:
    """Like `process_batch`, but yield `(index, result)` as items finish, holding none of them.

    For batches too large to keep every result in memory. The pool waits while
    the consumer is busy (backpressure), and leaving the `async with` block
    early cancels the items still in flight.

    Examples:
        ```python
        async with vp.stream_batch(paths(), pipeline.run, concurrency=8) as results:
            async for index, result in results:
                if not result.ok:
                    log.warning("item %d failed: %s", index, result.error)
        ```

    Args:
        items: As for [`process_batch`][videopipe.process_batch].
        worker: As for `process_batch`.
        concurrency: As for `process_batch`.
        retry: As for `process_batch`.
        max_per_second: As for `process_batch`.
        key: As for `process_batch`.
        largest_first: As for `process_batch`.
        progress: As for `process_batch`.
        total: As for `process_batch`.
        stop: As for `process_batch`.

    Yields:
        An async iterator of `(index, result)` pairs in completion order.

    Note:
        Added in 0.1.0.
    """
    send, receive = anyio.create_memory_object_stream[tuple[int, Result[R]]](concurrency)
    fatal: list[BaseException] = []

    async def deliver(index: int, result: Result[R]) -> None:
        # Skip the checkpoint of `send()` while the buffer has room: it is most of the cost.
        try:
            send.send_nowait((index, result))
        except anyio.WouldBlock:
            await send.send((index, result))

    async def produce() -> None:
        async with send:
            try:
                await _run(
                    items, worker, None, deliver, concurrency=concurrency, retry=retry,
                    max_per_second=max_per_second, key=key, largest_first=largest_first,
                    progress=progress, total=total, stop=stop,
                )  # fmt: skip
            except Exception as exc:
                fatal.append(exc)

    async with anyio.create_task_group() as tg, receive:
        tg.start_soon(produce)
        try:
            yield _Received(receive)
        finally:
            tg.cancel_scope.cancel()
    if fatal:
        raise fatal[0]


class _Received(Generic[T]):
    """Iterates a receive stream, taking what is buffered without a checkpoint per item."""

    def __init__(self, receive: anyio.abc.ObjectReceiveStream[T]) -> None:
        self._receive = receive

    def __aiter__(self) -> _Received[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return self._receive.receive_nowait()  # type: ignore[attr-defined, no-any-return]
        except anyio.WouldBlock:
            pass
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


async def _run(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    sink: list[Result[R] | None] | None,
    deliver: Callable[[int, Result[R]], Awaitable[object]] | None,
    *,
    concurrency: int,
    retry: RetryPolicy | None,
    max_per_second: float | None,
    key: Callable[[T], float] | None,
    largest_first: bool,
    progress: bool | Callable[[Progress], object] | None,
    total: int | None,
    stop: StopSignal | None,
) -> None:
    _check(concurrency, max_per_second)
    reporter = _ProgressReporter(
        _total_of(items, total),
        progress if callable(progress) else None,
        bar=progress is True,
    )
    try:
        pool = _Pool(
            await _indexed(items, key, largest_first), worker, sink=sink, deliver=deliver,
            retry=retry, max_per_second=max_per_second, stop=stop, reporter=reporter,
        )  # fmt: skip
        await pool.run(concurrency)
    finally:
        reporter.close()


def process_batch_blocking(
    items: Iterable[T] | AsyncIterable[T],
    worker: Callable[[T], Awaitable[R]],
    **options: Any,
) -> list[Ok[R] | Err]:
    """The blocking twin of [`process_batch`][videopipe.process_batch], for scripts.

    Works inside a running event loop too (Jupyter): the batch then runs on a
    new loop in a worker thread. `worker` is still an async function.

    Args:
        items: As for `process_batch`.
        worker: As for `process_batch`.
        **options: The keyword options of `process_batch`.

    Returns:
        One `Ok(value)` or `Err(error)` per item, in input order.

    Note:
        Added in 0.1.0.
    """

    async def call() -> list[Ok[R] | Err]:
        return await process_batch(items, worker, **options)

    return run_blocking(call)
