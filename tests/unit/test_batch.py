from __future__ import annotations

import asyncio
import random
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anyio
import anyio.lowlevel
import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import videopipe as vp
from videopipe.providers import classify_http_error


class Gauge:
    """Counts calls in flight and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> Gauge:
        self.now += 1
        self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


def status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://api.example.test/v1/x")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


# --- ordering, isolation, concurrency -------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    delays=st.lists(st.integers(min_value=0, max_value=3), max_size=40),
    failing=st.sets(st.integers(min_value=0, max_value=39)),
    concurrency=st.integers(min_value=1, max_value=12),
)
def test_results_follow_input_order_and_failures_stay_isolated(
    delays: list[int], failing: set[int], concurrency: int
) -> None:
    """Whatever the finish order, result i belongs to item i, and only failing items fail."""

    async def worker(i: int) -> int:
        await anyio.sleep(delays[i] / 1000)
        if i in failing:
            raise ValueError(f"item {i}")
        return i * 10

    results = vp.process_batch_blocking(range(len(delays)), worker, concurrency=concurrency)
    assert len(results) == len(delays)
    for i, r in enumerate(results):
        if i in failing:
            assert isinstance(r, vp.Err)
            assert isinstance(r.error, ValueError)
            assert str(r.error) == f"item {i}"
        else:
            assert r == vp.Ok(i * 10)


async def test_concurrency_cap_is_never_exceeded_and_is_reached() -> None:
    gauge = Gauge()

    async def worker(i: int) -> int:
        with gauge:
            await anyio.sleep(random.random() / 2000)
            return i

    results = await vp.process_batch(range(1000), worker, concurrency=7)
    assert [r.unwrap() for r in results] == list(range(1000))
    assert gauge.peak == 7


async def test_an_error_keeps_its_traceback_and_never_cancels_the_others() -> None:
    finished = []

    async def worker(i: int) -> int:
        if i == 0:
            raise KeyError("boom")
        await anyio.sleep(0.01)
        finished.append(i)
        return i

    results = await vp.process_batch(range(5), worker, concurrency=5)
    err = results[0]
    assert isinstance(err, vp.Err)
    assert isinstance(err.error, KeyError)
    frames = traceback.extract_tb(err.error.__traceback__)
    assert any(f.name == "worker" for f in frames)
    assert sorted(finished) == [1, 2, 3, 4]
    with pytest.raises(KeyError, match="boom"):
        err.unwrap()


async def test_results_pattern_match() -> None:
    async def worker(i: int) -> int:
        if i:
            raise ValueError(i)
        return 7

    seen = []
    for r in await vp.process_batch([0, 1], worker):
        match r:
            case vp.Ok(value):
                seen.append(("ok", value))
            case vp.Err(error):
                seen.append(("err", type(error)))
    assert seen == [("ok", 7), ("err", ValueError)]
    assert vp.Ok(1).ok is True
    assert vp.Err(ValueError()).ok is False


async def test_async_iterable_input_is_consumed_by_several_workers() -> None:
    async def numbers() -> AsyncIterator[int]:
        for i in range(200):
            await anyio.lowlevel.checkpoint()
            yield i

    async def worker(i: int) -> int:
        await anyio.sleep(0.0005)
        return -i

    results = await vp.process_batch(numbers(), worker, concurrency=8)
    assert [r.unwrap() for r in results] == [-i for i in range(200)]


async def test_input_is_pulled_lazily_as_workers_free_up() -> None:
    """A generator is never materialised: it runs at most `concurrency` items ahead."""
    pulled = 0
    finished = 0
    ahead = 0

    def items() -> Iterator[int]:
        nonlocal pulled, ahead
        for i in range(300):
            pulled += 1
            ahead = max(ahead, pulled - finished)
            yield i

    async def worker(i: int) -> None:
        nonlocal finished
        await anyio.lowlevel.checkpoint()
        finished += 1

    await vp.process_batch(items(), worker, concurrency=5)
    assert pulled == 300
    assert ahead <= 5


async def test_a_long_generator_runs_with_flat_in_flight_bookkeeping() -> None:
    """200,000 items stream through: never more than `concurrency` pulled and unfinished.

    (A million took 10 s of CPU here and a minute on a loaded machine, and proved no more.)
    """
    n = 200_000
    concurrency = 16
    pulled = finished = peak_ahead = 0

    def items() -> Iterator[int]:
        nonlocal pulled, peak_ahead
        for i in range(n):
            pulled += 1
            if pulled - finished > peak_ahead:
                peak_ahead = pulled - finished
            yield i

    async def worker(i: int) -> int:
        nonlocal finished
        finished += 1
        return i

    count = 0
    last = -1
    async with vp.stream_batch(items(), worker, concurrency=concurrency) as results:
        async for index, result in results:
            count += 1
            last = max(last, index)
            assert result.ok
    assert count == n
    assert last == n - 1
    assert peak_ahead <= concurrency


async def test_stream_batch_yields_every_index_once() -> None:
    async def worker(i: int) -> int:
        await anyio.sleep(random.random() / 1000)
        if i % 7 == 0:
            raise ValueError(i)
        return i

    seen: dict[int, vp.Result[int]] = {}
    async with vp.stream_batch(range(100), worker, concurrency=4) as results:
        async for index, result in results:
            assert index not in seen
            seen[index] = result
    assert sorted(seen) == list(range(100))
    assert all(seen[i].ok == (i % 7 != 0) for i in seen)


async def test_leaving_stream_batch_early_cancels_in_flight_items() -> None:
    cancelled = 0

    async def worker(i: int) -> int:
        nonlocal cancelled
        try:
            if i == 0:
                return 0
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        return i

    with anyio.fail_after(5):
        async with vp.stream_batch(range(10), worker, concurrency=3) as results:
            async for index, _ in results:
                assert index == 0
                break
    assert cancelled == 3  # items 1, 2 and 3 were in flight; none after them started


# --- retries -----------------------------------------------------------------------


@pytest.mark.parametrize("foreign", [False, True])
async def test_retryable_errors_are_retried_and_attempts_are_reported(foreign: bool) -> None:
    """videopipe's errors say they are retryable; httpx's do through the `classify` hook."""
    calls: dict[int, int] = {}

    async def worker(i: int) -> int:
        calls[i] = calls.get(i, 0) + 1
        if i == 1 and calls[i] < 3:
            raise httpx.ConnectError("reset") if foreign else vp.ProviderError(retryable=True)
        if i == 2:
            raise status_error(503) if foreign else vp.ProviderError(status_code=503)
        return i

    classify = classify_http_error if foreign else None
    policy = vp.RetryPolicy(attempts=3, initial_delay=0.001, classify=classify)
    results = await vp.process_batch(range(4), worker, retry=policy)
    assert results[0] == vp.Ok(0, attempts=1)
    assert results[1] == vp.Ok(1, attempts=3)
    assert isinstance(results[2], vp.Err)
    assert results[2].attempts == 3
    assert calls == {0: 1, 1: 3, 2: 3, 3: 1}


async def test_non_retryable_errors_fail_at_once() -> None:
    calls = 0

    async def worker(i: int) -> int:
        nonlocal calls
        calls += 1
        raise status_error(401)

    policy = vp.RetryPolicy(initial_delay=0, classify=classify_http_error)
    [result] = await vp.process_batch([1], worker, retry=policy)
    assert isinstance(result, vp.Err)
    assert result.attempts == 1
    assert calls == 1


async def test_retry_on_accepts_exception_classes() -> None:
    calls = 0

    async def worker(i: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LookupError
        return i

    policy = vp.RetryPolicy(initial_delay=0, retry_on=(LookupError,))
    assert await vp.process_batch([5], worker, retry=policy) == [vp.Ok(5, attempts=2)]


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = vp.RetryPolicy(
        attempts=10, initial_delay=1.0, multiplier=2.0, max_delay=5.0, rng=random.Random(1)
    )
    for attempt, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (8, 5.0)]:
        draws = [policy.delay(attempt) for _ in range(300)]
        assert all(0 <= d <= bound for d in draws)
        assert max(draws) > bound * 0.9  # full jitter spans the whole range
        assert min(draws) < bound * 0.1
    fixed = vp.RetryPolicy(initial_delay=0.5, jitter=False)
    assert [fixed.delay(a) for a in (1, 2, 3)] == [0.5, 1.0, 2.0]


def _mapped(error: Exception) -> Exception:
    return classify_http_error(error) or error


def test_retry_after_is_read_from_errors_and_headers() -> None:
    """The provider boundary parses Retry-After once; everything above reads `retry_after`."""
    assert vp.retry_after(vp.RateLimited(retry_after=3)) == 3.0
    assert vp.retry_after(_mapped(status_error(429, {"Retry-After": "7"}))) == 7.0
    assert vp.retry_after(_mapped(status_error(429, {"retry-after-ms": "250"}))) == 0.25
    when = datetime.now(UTC) + timedelta(seconds=30)
    from_date = vp.retry_after(
        _mapped(status_error(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    )
    assert from_date is not None
    assert 25 < from_date <= 30
    assert vp.retry_after(_mapped(status_error(429, {"Retry-After": "soon"}))) is None
    assert vp.retry_after(_mapped(status_error(429))) is None
    assert vp.retry_after(status_error(429, {"Retry-After": "7"})) is None  # foreign: unread
    assert vp.retry_after(ValueError()) is None
    wrapped = vp.StageError("x", stage="vision")
    wrapped.__cause__ = vp.RateLimited(retry_after=1.5)
    assert vp.retry_after(wrapped) == 1.5


def test_server_retry_after_sets_a_floor_on_the_delay() -> None:
    policy = vp.RetryPolicy(initial_delay=0.01, max_retry_after=60)
    assert policy.delay(1, vp.RateLimited(retry_after=4)) == 4
    assert policy.delay(1, vp.RateLimited(retry_after=600)) == 60


async def test_retry_after_header_is_honoured() -> None:
    stamps: list[float] = []

    async def worker(i: int) -> str:
        stamps.append(anyio.current_time())
        if len(stamps) == 1:
            raise status_error(429, {"Retry-After": "0.3"})
        return "ok"

    policy = vp.RetryPolicy(initial_delay=0.001, classify=classify_http_error)
    [result] = await vp.process_batch([0], worker, retry=policy)
    assert result == vp.Ok("ok", attempts=2)
    assert stamps[1] - stamps[0] >= 0.3


def _openai_error(cls: type[openai.APIStatusError], status: int) -> openai.APIStatusError:
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    response = httpx.Response(status, request=request, headers={"retry-after": "2"})
    return cls("error", response=response, body=None)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (httpx.ConnectError("x"), True),
        (httpx.ReadTimeout("x"), True),
        (status_error(429), True),
        (status_error(500), True),
        (status_error(502), True),
        (status_error(408), True),
        (status_error(400), False),
        (status_error(401), False),
        (status_error(404), False),
        (_openai_error(openai.RateLimitError, 429), True),
        (_openai_error(openai.InternalServerError, 500), True),
        (_openai_error(openai.AuthenticationError, 401), False),
        (_openai_error(openai.BadRequestError, 400), False),
        (openai.APIConnectionError(request=httpx.Request("GET", "https://x.test")), True),
        (openai.APITimeoutError(request=httpx.Request("GET", "https://x.test")), True),
        (vp.RateLimited(), True),
        (vp.ProviderTimeout(), True),
        (vp.ProviderError("bad gateway", status_code=502), True),
        (vp.ProviderError("unauthorised", status_code=401), False),
        (vp.NotAVideo(), False),
        (ValueError(), False),
    ],
)
def test_default_retry_classification(error: Exception, retryable: bool) -> None:
    """Foreign errors are classified once, by the provider boundary's mapping."""
    assert vp.is_retryable(_mapped(error)) is retryable
    if classify_http_error(error) is not None:
        assert not vp.is_retryable(error)  # never guessed at from the foreign type itself
        assert vp.RetryPolicy(classify=classify_http_error).should_retry(error, 1) is retryable


def test_openai_errors_carry_their_retry_after() -> None:
    assert vp.retry_after(_mapped(_openai_error(openai.RateLimitError, 429))) == 2.0


def test_stage_error_is_retryable_when_its_cause_is() -> None:
    err = vp.StageError("transcribe failed", stage="transcribe")
    err.__cause__ = vp.RateLimited()
    assert vp.is_retryable(err)
    err.__cause__ = vp.NotAVideo()
    assert not vp.is_retryable(err)


# --- scheduling and rate ---------------------------------------------------------


async def test_largest_first_starts_the_biggest_items_first_and_keeps_input_order() -> None:
    sizes = [3, 9, 1, 7, 5]
    started: list[int] = []

    async def worker(size: int) -> int:
        started.append(size)
        await anyio.lowlevel.checkpoint()
        return size * 2

    results = await vp.process_batch(sizes, worker, concurrency=1, key=lambda s: s)
    assert started == [9, 7, 5, 3, 1]
    assert [r.unwrap() for r in results] == [6, 18, 2, 14, 10]


async def test_largest_first_defaults_to_file_size(tmp_path) -> None:
    paths = []
    for name, size in [("a", 10), ("b", 1000), ("c", 100)]:
        p = tmp_path / name
        p.write_bytes(b"x" * size)
        paths.append(p)
    started: list[str] = []

    async def worker(path) -> str:
        started.append(path.name)
        return path.name

    results = await vp.process_batch(paths, worker, concurrency=1, largest_first=True)
    assert started == ["b", "c", "a"]
    assert [r.unwrap() for r in results] == ["a", "b", "c"]
    with pytest.raises(vp.ConfigurationError, match="key="):
        await vp.process_batch([object()], worker, largest_first=True)


async def test_max_per_second_spaces_out_starts() -> None:
    starts: list[float] = []

    async def worker(i: int) -> None:
        starts.append(anyio.current_time())

    await vp.process_batch(range(6), worker, concurrency=6, max_per_second=50)
    # Each start is at least 1/50 s after the previous one's slot: the i-th waits i/50 s.
    offsets = [t - starts[0] for t in starts]
    assert all(off >= i * 0.02 - 0.001 for i, off in enumerate(offsets)), offsets


# --- progress ------------------------------------------------------------------------


async def test_progress_callback_sees_every_step() -> None:
    snapshots: list[vp.Progress] = []

    async def worker(i: int) -> int:
        await anyio.sleep(random.random() / 1000)
        if i % 3 == 0:
            raise ValueError(i)
        return i

    await vp.process_batch(range(9), worker, concurrency=3, progress=snapshots.append)
    assert [s.done for s in snapshots] == list(range(1, 10))
    assert all(s.total == 9 for s in snapshots)
    done, total, failed = snapshots[-1]
    assert (done, total, failed) == (9, 9, 3)
    assert [s.failed for s in snapshots] == sorted(s.failed for s in snapshots)


async def test_progress_total_can_be_given_for_generators() -> None:
    snapshots: list[vp.Progress] = []

    async def worker(i: int) -> int:
        return i

    await vp.process_batch((i for i in range(3)), worker, progress=snapshots.append)
    assert snapshots[-1] == vp.Progress(3, None, 0)
    snapshots.clear()
    await vp.process_batch((i for i in range(3)), worker, progress=snapshots.append, total=3)
    assert snapshots[-1] == vp.Progress(3, 3, 0)


async def test_progress_bar_is_drawn(capsys: pytest.CaptureFixture[str]) -> None:
    async def worker(i: int) -> int:
        return i

    await vp.process_batch(range(25), worker, progress=True)
    err = capsys.readouterr().err
    assert "25/25" in err


# --- stopping ------------------------------------------------------------------------


async def test_stop_lets_in_flight_items_finish_and_cancels_the_rest() -> None:
    stop = anyio.Event()
    started: list[int] = []

    async def worker(i: int) -> int:
        started.append(i)
        if i == 4:
            stop.set()
        await anyio.sleep(0.01)
        return i

    results = await vp.process_batch(range(20), worker, concurrency=2, stop=stop)
    assert len(results) == 20
    done = [i for i, r in enumerate(results) if r.ok]
    cancelled = [i for i, r in enumerate(results) if isinstance(r, vp.Err)]
    assert done == sorted(started)
    assert 4 in done
    assert cancelled == [i for i in range(20) if i not in started]
    for i in cancelled:
        err = results[i]
        assert isinstance(err, vp.Err)
        assert isinstance(err.error, vp.Cancelled)
        assert err.attempts == 0
    assert set(done) | set(cancelled) == set(range(20))


async def test_stop_accepts_a_threading_event() -> None:
    stop = threading.Event()
    stop.set()

    async def worker(i: int) -> int:
        raise AssertionError("no item should start")

    results = await vp.process_batch(range(3), worker, stop=stop)
    assert all(isinstance(r, vp.Err) and isinstance(r.error, vp.Cancelled) for r in results)


async def test_cancelling_the_callers_scope_propagates_and_cancels_in_flight_items() -> None:
    cancelled_items: list[int] = []

    async def worker(i: int) -> int:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled_items.append(i)
            raise
        return i

    completed = False
    with anyio.move_on_after(0.05) as scope:
        await vp.process_batch(range(100), worker, concurrency=4)
        completed = True
    assert scope.cancelled_caught
    assert not completed
    assert sorted(cancelled_items) == [0, 1, 2, 3]


async def test_a_failing_input_iterator_raises_its_own_error() -> None:
    """A broken input is not an item failure: it is raised as itself, not in an ExceptionGroup."""

    def items() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    async def worker(i: int) -> int:
        await anyio.sleep(0.001)
        return i

    with pytest.raises(OSError, match="disk gone"):
        await vp.process_batch(items(), worker, concurrency=3)


@pytest.mark.parametrize(("option", "value"), [("concurrency", 0), ("max_per_second", 0)])
async def test_invalid_options_raise_configuration_error(option: str, value: int) -> None:
    async def worker(i: int) -> int:
        return i

    with pytest.raises(vp.ConfigurationError, match=option):
        await vp.process_batch([1], worker, **{option: value})


# --- sync twin -------------------------------------------------------------------------


async def _double(i: int) -> int:
    await anyio.lowlevel.checkpoint()
    return 2 * i


def test_blocking_twin_works_in_a_script() -> None:
    assert vp.process_batch_blocking(range(3), _double) == [vp.Ok(0), vp.Ok(2), vp.Ok(4)]


def test_blocking_twin_works_inside_a_running_loop() -> None:
    """Jupyter runs cells inside an event loop; the blocking twin must still work there."""

    async def notebook_cell() -> list[vp.Result[int]]:
        return vp.process_batch_blocking(range(3), _double, concurrency=2)

    assert asyncio.run(notebook_cell()) == [vp.Ok(0), vp.Ok(2), vp.Ok(4)]


async def test_on_retry_is_told_each_retry_with_its_attempt_and_delay() -> None:
    seen: list[tuple[str, int, float]] = []
    calls = 0

    async def flaky(item: int) -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise vp.ProviderTimeout(f"slow {calls}")
        return item

    policy = vp.RetryPolicy(
        attempts=5, initial_delay=0.0, on_retry=lambda e, n, d: seen.append((str(e), n, d))
    )
    [result] = await vp.process_batch([7], flaky, retry=policy)
    assert result.unwrap() == 7
    assert seen == [("slow 1", 1, 0.0), ("slow 2", 2, 0.0)]
