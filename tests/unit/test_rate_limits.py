"""Retry by time for "slow down" answers, and the adaptive in-flight limit per endpoint."""

from __future__ import annotations

import random

import anyio
import pytest

import videopipe as vp
from videopipe._limits import AdaptiveLimit, endpoint_limit
from videopipe._observability import METRICS
from videopipe.testing import FakeProvider

NO_JITTER = {"jitter": False, "rng": random.Random(0)}


# --- retry by time --------------------------------------------------------------------------


async def test_429s_are_retried_by_time_not_by_count() -> None:
    """Ten 429s in a row do not use up the 3 attempts that other failures get."""
    calls = 0

    async def worker(item: str) -> str:
        nonlocal calls
        calls += 1
        if calls <= 10:
            raise vp.RateLimited(retry_after=0.001)
        return item

    [result] = await vp.process_batch(["x"], worker, retry=vp.RetryPolicy(attempts=3, budget=1))
    assert result == vp.Ok("x", attempts=11)


async def test_other_failures_keep_their_attempt_count_beside_429s() -> None:
    """429s and timeouts interleaved: the timeouts alone count against `attempts`."""
    errors = [vp.RateLimited(retry_after=0), vp.ProviderTimeout(), vp.RateLimited(retry_after=0)]
    errors += [vp.ProviderTimeout(), vp.RateLimited(retry_after=0), vp.ProviderTimeout()]
    seen = iter(errors)

    async def worker(item: str) -> str:
        raise next(seen)

    policy = vp.RetryPolicy(attempts=3, initial_delay=0, budget=10)
    [result] = await vp.process_batch(["x"], worker, retry=policy)
    assert isinstance(result, vp.Err)
    assert isinstance(result.error, vp.ProviderTimeout)
    assert result.attempts == 6


async def test_out_of_budget_fails_with_rate_limited_saying_how_long_and_how_many() -> None:
    """The waits the server asks for add up; past the budget the item fails, and says why."""

    async def worker(item: str) -> str:
        raise vp.RateLimited("vision: rate limited (HTTP 429)", retry_after=0.01)

    policy = vp.RetryPolicy(budget=0.035, **NO_JITTER)
    [result] = await vp.process_batch(["x"], worker, retry=policy)
    assert isinstance(result, vp.Err)
    assert isinstance(result.error, vp.RateLimited)
    assert str(result.error) == (
        "vision: rate limited (HTTP 429): gave up after waiting 0.0 s over 4 answers 429 "
        "(the retry budget is 0.035 s: PROVIDER_RETRY_BUDGET_SEC)"
    )
    assert result.attempts == 4
    assert isinstance(result.error.__cause__, vp.RateLimited)


def test_a_slow_down_answer_waits_what_the_server_asked_never_less() -> None:
    policy = vp.RetryPolicy(rng=random.Random(3))
    from videopipe._retry import _Tries

    for asked in (0.1, 2.0, 30.0):
        wait = policy._next(vp.RateLimited(retry_after=asked), _Tries())
        assert isinstance(wait, float)
        assert asked <= wait <= asked * 1.1


def test_without_retry_after_the_backoff_is_exponential_with_full_jitter() -> None:
    from videopipe._retry import _Tries

    policy = vp.RetryPolicy(initial_delay=1.0, max_delay=8.0, **NO_JITTER)
    tries = _Tries()
    waits = [policy._next(vp.RateLimited(), tries) for _ in range(5)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_503_with_retry_after_is_a_slow_down_answer() -> None:
    """The provider boundary maps it to RateLimited; the count says which status it was."""
    import httpx

    from videopipe.providers import classify_http_error

    request = httpx.Request("POST", "https://api.example.test/v1/x")
    response = httpx.Response(503, headers={"retry-after": "1"}, request=request)
    error = classify_http_error(httpx.HTTPStatusError("503", request=request, response=response))
    assert isinstance(error, vp.RateLimited)
    assert (error.status_code, error.retry_after, error.retryable) == (503, 1.0, True)
    bare = httpx.Response(503, request=request)
    plain = classify_http_error(httpx.HTTPStatusError("503", request=request, response=bare))
    assert type(plain) is vp.ProviderError
    assert plain.retryable


def test_the_budget_setting_reaches_the_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDER_RETRY_BUDGET_SEC", "42.5")
    assert vp.Settings(_env_file=None).provider_retry_budget_sec == 42.5


# --- the adaptive limit -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _gauge(labels: tuple[str, str, str]) -> float | None:
    return METRICS.registry.get_sample_value(
        "videopipe_provider_concurrency_limit",
        dict(zip(("provider", "endpoint", "model"), labels, strict=True)),
    )


async def test_the_limit_halves_on_429_down_to_one_and_grows_back_to_its_cap() -> None:
    clock = Clock()
    labels = ("test", "vision", "halving")
    limit = AdaptiveLimit(8, labels=labels, cooldown=1.0, clock=clock)
    assert limit.limit == 8
    assert _gauge(labels) == 8
    for expected in (4, 2, 1, 1):
        limit.slowed_down()
        assert limit.limit == expected
        clock.now += 1.0
    assert _gauge(labels) == 1
    for _ in range(20):
        limit.succeeded()
    assert limit.limit == 8  # never above the cap
    assert _gauge(labels) == 8


async def test_a_burst_of_429s_halves_the_limit_once() -> None:
    """Requests in flight together get their 429s together: one signal, not eight."""
    clock = Clock()
    limit = AdaptiveLimit(8, labels=("test", "vision", "burst"), cooldown=1.0, clock=clock)
    for _ in range(8):
        limit.slowed_down()
    assert limit.limit == 4
    clock.now += 1.0
    limit.slowed_down()
    assert limit.limit == 2


async def test_in_flight_requests_never_pass_the_current_limit() -> None:
    """A storm of 429s: the limit falls to 1 and the in-flight peak follows it."""
    limit = AdaptiveLimit(4, labels=("test", "vision", "peak"), cooldown=0.0)
    peak_after_storm = 0
    storm = True

    async def call(i: int) -> None:
        nonlocal peak_after_storm
        try:
            async with limit.request():
                if not storm:
                    peak_after_storm = max(peak_after_storm, limit.in_flight)
                await anyio.sleep(0.001)
                if storm:
                    raise vp.RateLimited()
        except vp.RateLimited:
            pass

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(call, i)
    assert limit.limit == 1
    storm = False
    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(call, i)
    assert peak_after_storm <= 2  # 1, then 2 after the first success


async def test_one_limit_per_provider_endpoint_and_model_per_loop() -> None:
    vision = endpoint_limit("openai", "vision", "gpt-4o", 5)
    assert endpoint_limit("openai", "vision", "gpt-4o", 5) is vision
    assert endpoint_limit("openai", "embeddings", "gpt-4o", 5) is not vision
    assert endpoint_limit("openai", "vision", "llava", 5) is not vision
    assert endpoint_limit("openai", "vision", "gpt-4o", 3).limit == 3  # the cap follows settings


# --- who closes the provider ---------------------------------------------------------------


async def test_a_pipeline_closes_the_provider_it_chose_never_one_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from videopipe.providers import _choose
    from videopipe.storage import MemoryStore

    chosen = FakeProvider()
    monkeypatch.setitem(_choose._REGISTRY, "closing-test", lambda settings: chosen)
    settings = vp.Settings(provider="closing-test", _env_file=None)
    async with vp.Pipeline.default(store=MemoryStore(), settings=settings) as pipeline:
        assert pipeline.provider is chosen
    assert chosen.calls["aclose"] == 1

    given = FakeProvider()
    async with vp.Pipeline.default(store=MemoryStore(), provider=given, settings=settings) as p:
        assert p.provider is given
        await p.remove("embeddings").aclose()  # a derived pipeline does not own it either
    assert given.calls["aclose"] == 0
