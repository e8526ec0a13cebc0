"""`process_batch`: run many items through an async worker with bounded concurrency.

The shape is a pool: `concurrency` tasks pull `(index, item)` pairs from one
shared iterator and store each outcome by its index. No task is created per
item, nothing is materialised up front, and per-item bookkeeping is a few
attribute writes, so the pool adds microseconds to each item's own work
(see `docs/performance.md`).
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, NoReturn, Protocol, TypeAlias, TypeVar, final

import anyio
import anyio.abc

from ._exceptions import (
    Cancelled,
    ConfigurationError,
)
from ._progress import ITEM_PROGRESS, RunProgress
from ._retry import RetryPolicy, _Tries
from ._sync import run_blocking

__all__ = [
    "Err",
    "Ok",
    "Progress",
    "Result",
    "StopSignal",
    "process_batch",
    "process_batch_blocking",
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


class _Counts(NamedTuple):
    done: int
    """Items finished, successfully or not."""
    total: int | None
    """Items in the batch, or `None` when the input has no length and none was given."""
    failed: int
    """Items finished with an `Err`."""


class Progress(_Counts):
    """A snapshot of a batch's progress, passed to a `progress` callback.

    It unpacks as `(done, total, failed)`. Items that are pipeline runs
    (`Pipeline.run`, `run_many`) also say how far they are inside their
    stages: `running` holds their [`RunProgress`][videopipe.RunProgress], and
    `completed` counts them in fractions, so one long video does not sit at 0 %.

    Note:
        Added in 0.1.0. `running`, `completed` and `percent` added in 0.2.0.
    """

    running: tuple[RunProgress, ...] = ()
    """The progress of the running items that report it (pipeline runs), in start order."""

    @property
    def completed(self) -> float:
        """Items finished, plus the fraction done of each running item that reports it."""
        return self.done + sum(r.fraction for r in self.running)

    @property
    def percent(self) -> float | None:
        """`completed` as a percentage of `total`, or `None` without a total."""
        if self.total is None:
            return None
        return 100.0 * self.completed / self.total if self.total else 100.0

    def __repr__(self) -> str:
        running = f", running={self.running!r}" if self.running else ""
        return f"Progress(done={self.done}, total={self.total}, failed={self.failed}{running})"


class StopSignal(Protocol):
    """**Protocol:** anything with `is_set()`, such as `anyio.Event` or `threading.Event`."""

    def is_set(self) -> bool:
        """Whether the stop was requested."""
        ...


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


def _snapshot(
    done: int, total: int | None, failed: int, running: dict[object, RunProgress]
) -> Progress:
    progress = Progress(done, total, failed)
    if running:  # the class's `()` otherwise: nothing more to build per item
        progress.running = tuple(running.values())
    return progress


class _ItemProgress:
    """The listener the running item of one pool task reports its progress to.

    One per task, reused for each item the task runs (it runs one at a time),
    and set once as that task's `ITEM_PROGRESS`.
    """

    __slots__ = ("reporter",)

    def __init__(self, reporter: _ProgressReporter) -> None:
        self.reporter = reporter

    def __call__(self, progress: RunProgress) -> None:
        self.reporter.partial(self, progress)


class _ProgressReporter:
    def __init__(self, total: int | None, callback: Callable[[Progress], object] | None, bar: bool):
        self.done = 0
        self.failed = 0
        self.total = total
        self.callback = callback
        self.active = bar or callback is not None
        # The progress of running items that report it, in start order.
        self.running: dict[object, RunProgress] = {}
        self.bar: Any = None
        if bar:
            # A notebook bar needs ipywidgets: without it, `tqdm.auto` warns "IProgress not
            # found" in Jupyter; the plain bar works everywhere.
            notebook = importlib.util.find_spec("ipywidgets") is not None
            bars = importlib.import_module("tqdm.auto" if notebook else "tqdm")
            self.bar = bars.tqdm(total=total, unit="item", dynamic_ncols=True)

    def update(self, ok: bool, item: _ItemProgress | None = None) -> None:
        self.done += 1
        if not ok:
            self.failed += 1
        had = item is not None and self.running.pop(item, None) is not None
        if self.bar is not None:
            if had or self.running:
                self._draw()
            else:
                self.bar.update(1)
                if not ok:
                    self.bar.set_postfix(failed=self.failed, refresh=False)
        if self.callback is not None:
            self.callback(_snapshot(self.done, self.total, self.failed, self.running))

    def partial(self, key: object, progress: RunProgress) -> None:
        """A running item moved within its stages."""
        self.running[key] = progress
        if self.bar is not None:
            self._draw()
        if self.callback is not None:
            self.callback(_snapshot(self.done, self.total, self.failed, self.running))

    def _draw(self) -> None:
        partial = sum(r.fraction for r in self.running.values())
        # A whole count when nothing is partly done, so the bar reads "25/25", not "25.0/25".
        self.bar.n = round(self.done + partial, 2) if partial else self.done
        notes = [f"failed={self.failed}"] if self.failed else []
        notes += [str(r) for r in self.running.values()]
        self.bar.set_postfix_str(", ".join(notes), refresh=False)
        self.bar.update(0)

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
        # Each pool task has its own context: its items report to its own listener.
        item_progress = _ItemProgress(self.reporter) if report is not None else None
        ITEM_PROGRESS.set(item_progress)
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
                    report(result.ok, item_progress)
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
