"""The provider side of the shared RPM/TPM limits: what is taken from the store's buckets, when."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import respx

import videopipe as vp
from videopipe.providers import OpenAIProvider
from videopipe.providers._rates import (
    RateLimit,
    SharedRateLimit,
    account_limits,
    model_limits,
    take_turn_at_send,
)
from videopipe.stages import Caption, Embed, Transcribe
from videopipe.stages._ai import VISION_TOKENS
from videopipe.storage import MemoryStore
from videopipe.testing import FakeProvider

from ..openai_fakes import BASE, FakeOpenAI
from .test_ai_stages import FAST_RETRY, GREEN, RED, FakeFrames, FakeNormalize, video
from .test_openai_provider import KEY
from .test_storage_protocols import ResultsOnly


class Sleeps:
    """Records the waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_a_window_never_holds_more_than_the_limit() -> None:
    """Burst plus a window's refill is the limit; the burst is a sixtieth of it, at least 1."""
    for limit, window in [(600, 60), (10, 1), (60, 6), (2, 1), (1, 60), (90_000, 60)]:
        rl = RateLimit(limit, window)
        assert rl.capacity + rl.rate * window == pytest.approx(limit)
        assert 0 < rl.capacity <= max(1, limit / 60)
    assert RateLimit(600).capacity == 10


def test_per_model_settings_override_the_provider_wide_ones() -> None:
    settings = vp.Settings(
        provider_rpm=100, provider_model_rpm={"gpt-4o": 5}, provider_tpm=1000,
        provider_rate_window_sec=6, _env_file=None,
    )  # fmt: skip
    assert model_limits(settings, "gpt-4o") == (RateLimit(5, 6), RateLimit(1000, 6))
    assert model_limits(settings, "whisper-1") == (RateLimit(100, 6), RateLimit(1000, 6))
    assert model_limits(vp.Settings(_env_file=None), "gpt-4o") == (None, None)
    account = vp.Settings(provider_account_rpm=60, provider_account_tpm=9000, _env_file=None)
    assert account_limits(account) == (RateLimit(60), RateLimit(9000))
    assert account_limits(settings) == (None, None)


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        vp.Settings(provider_model_tpm={"gpt-4o": 0}, _env_file=None)
    with pytest.raises(ValueError, match="greater than 0"):
        vp.Settings(provider_rpm=0, _env_file=None)


async def test_requests_beyond_the_burst_wait_their_turn() -> None:
    """10 a second: one at once, then one every 1/9 s (the refill after the burst)."""
    sleeps = Sleeps()
    rates = SharedRateLimit(
        MemoryStore(), "openai", "gpt-4o", requests=RateLimit(10, 1), sleep=sleeps
    )
    for _ in range(4):
        await rates.acquire()
    assert sleeps.waits == pytest.approx([1 / 9, 2 / 9, 3 / 9], abs=0.02)


async def test_tokens_are_estimated_then_reconciled_from_the_answer() -> None:
    """An answer that used more than estimated delays the next request; a failure gives back."""
    store = MemoryStore()
    tokens = RateLimit(6000, 60)  # burst 100, refill 98.33 per second
    sleeps = Sleeps()
    rates = SharedRateLimit(store, "openai", "gpt-4o", tokens=tokens, sleep=sleeps)
    async with rates.request(100) as count:
        count.used = 200  # 100 more than estimated: the bucket owes 100
    await rates.acquire(0)
    assert sleeps.waits == []  # no tokens asked, no wait
    with pytest.raises(vp.ProviderError):
        async with rates.request(50):
            raise vp.ProviderError("boom")
    # The failed request's 50 came back: the bucket still owes about 100.
    level, _ = store.buckets["openai:gpt-4o:tokens"]
    assert level == pytest.approx(-100, abs=5)


def _pipeline(store, tmp_path: Path, settings: vp.Settings) -> vp.Pipeline:
    return vp.Pipeline(
        [FakeNormalize(), Transcribe(), FakeFrames([RED, GREEN]), Caption(), Embed()],
        store=store,
        provider=FakeProvider(),
        data_dir=tmp_path / "data",
        settings=settings,
    )


async def test_the_ai_stages_take_from_the_stores_buckets_when_a_limit_is_set(
    tmp_path: Path,
) -> None:
    """Every request of every AI stage draws on its model's buckets, kept in the store."""
    store = MemoryStore()
    settings = vp.Settings(provider_rpm=6000, provider_tpm=10**6, _env_file=None)
    result = await _pipeline(store, tmp_path, settings).run(video(tmp_path))
    assert result.ok
    provider = FakeProvider()
    assert set(store.buckets) == {
        f"fake:{provider.transcription_model}:requests",
        f"fake:{provider.vision_model}:requests",
        f"fake:{provider.vision_model}:tokens",
        f"fake:{provider.embedding_model}:requests",
        f"fake:{provider.embedding_model}:tokens",
    }
    # A fresh bucket is full (100 requests); each request took one.
    level, _ = store.buckets[f"fake:{provider.vision_model}:requests"]
    assert level == pytest.approx(100 - 2, abs=0.5)


async def test_an_account_limit_is_one_bucket_every_model_takes_from(tmp_path: Path) -> None:
    """PROVIDER_ACCOUNT_RPM: a server counting per key sees every model's requests in one bucket."""
    store = CountingStore()
    settings = vp.Settings(provider_account_rpm=6000, _env_file=None)
    result = await _pipeline(store, tmp_path, settings).run(video(tmp_path))
    assert result.ok
    assert set(store.buckets) == {"fake:*:requests"}
    # 1 transcription + 2 captions + 1 embeddings request, each one turn of the one bucket.
    assert store.takes == [("fake:*:requests", 1)] * 4


async def test_a_request_waits_for_the_stricter_of_its_model_and_account_limits() -> None:
    """Model: 10 a second (a turn every 1/9 s); account: 4 a second (every 1/3 s), shared."""
    store, sleeps = MemoryStore(), Sleeps()
    limits = {"requests": RateLimit(10, 1), "account_requests": RateLimit(4, 1), "sleep": sleeps}
    vision = SharedRateLimit(store, "openai", "gpt-4o", **limits)  # type: ignore[arg-type]
    embed = SharedRateLimit(store, "openai", "text-embedding-3-small", **limits)  # type: ignore[arg-type]
    await vision.acquire()
    await vision.acquire()
    await embed.acquire()  # its own model's bucket is full, the account's is not
    assert sleeps.waits == pytest.approx([1 / 3, 2 / 3], abs=0.02)
    assert set(store.buckets) == {
        "openai:gpt-4o:requests",
        "openai:text-embedding-3-small:requests",
        "openai:*:requests",
    }


async def test_without_limits_no_bucket_is_touched(tmp_path: Path) -> None:
    store = MemoryStore()
    result = await _pipeline(store, tmp_path, vp.Settings(_env_file=None)).run(video(tmp_path))
    assert result.ok
    assert store.buckets == {}


async def test_a_limit_needs_a_store_with_rate_buckets(tmp_path: Path) -> None:
    """A store without buckets fails the stage with a message naming what is missing."""
    settings = vp.Settings(provider_rpm=60, _env_file=None)
    pipeline = _pipeline(ResultsOnly(MemoryStore()), tmp_path, settings)
    with pytest.raises(vp.StageError, match=r"videopipe\.storage\.RateBuckets"):
        await pipeline.run(video(tmp_path))


# --- where the turn is taken: in the HTTP client, once per send ------------------------------


class CountingStore(MemoryStore):
    """A memory store that records every take from its rate buckets: (key, amount)."""

    def __init__(self) -> None:
        super().__init__()
        self.takes: list[tuple[str, float]] = []

    async def take_tokens(self, key: str, **kwargs: Any) -> float:
        self.takes.append((key, kwargs["amount"]))
        return await super().take_tokens(key, **kwargs)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeOpenAI(router)


def _refuse_first(route: respx.Route, refusals: int) -> None:
    """Answer the route's first `refusals` requests 429 (a 1 ms `Retry-After`), then as before."""
    answer = route.side_effect
    left = [refusals]

    async def maybe_refused(request: httpx.Request) -> httpx.Response:
        if left[0]:
            left[0] -= 1
            headers = {"retry-after-ms": "1"}
            return httpx.Response(429, headers=headers, json={"error": {"message": "slow"}})
        result = answer(request)  # type: ignore[operator]
        return await result if inspect.isawaitable(result) else result

    route.side_effect = maybe_refused


def _vision_pipeline(store: MemoryStore, tmp_path: Path, provider: OpenAIProvider) -> vp.Pipeline:
    return vp.Pipeline(
        [FakeNormalize(audio=False), FakeFrames([RED]), Caption(retry=FAST_RETRY)],
        store=store,
        provider=provider,
        data_dir=tmp_path / "data",
        settings=vp.Settings(provider_rpm=6000, provider_tpm=10**6, _env_file=None),
    )


async def test_every_http_send_takes_a_turn_including_the_sdks_own_retries(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    """Two 429s retried inside the SDK: three sends at the server, three requests taken."""
    _refuse_first(fake.chat, 2)
    store = CountingStore()
    provider = OpenAIProvider(api_key=KEY, max_retries=2)
    result = await _vision_pipeline(store, tmp_path, provider).run(video(tmp_path))
    assert result.ok
    assert fake.chat.call_count == 3
    requests = [a for k, a in store.takes if k == "openai:gpt-4o:requests"]
    assert requests == [1, 1, 1]
    # The estimate is taken once (a refused send uses no tokens), then reconciled once.
    tokens = [a for k, a in store.takes if k == "openai:gpt-4o:tokens"]
    assert tokens == [VISION_TOKENS, (120 + 45) - VISION_TOKENS]


async def test_retries_of_the_stage_take_a_turn_each_too(fake: FakeOpenAI, tmp_path: Path) -> None:
    """Without SDK retries, the stage's retry policy sends again: one turn per send."""
    _refuse_first(fake.chat, 1)
    store = CountingStore()
    provider = OpenAIProvider(api_key=KEY, max_retries=0)
    result = await _vision_pipeline(store, tmp_path, provider).run(video(tmp_path))
    assert result.ok
    assert fake.chat.call_count == 2
    assert [a for k, a in store.takes if k == "openai:gpt-4o:requests"] == [1, 1]


async def test_a_call_that_fails_before_sending_takes_no_turn(tmp_path: Path) -> None:
    """The turn is taken at send: a frame that cannot be read costs no request."""
    store = CountingStore()
    rates = SharedRateLimit(
        store, "openai", "gpt-4o", requests=RateLimit(6000), tokens=RateLimit(10**6)
    )
    provider = OpenAIProvider(api_key=KEY)
    assert provider.takes_turns_at_send()
    with pytest.raises(FileNotFoundError):
        async with rates.request(VISION_TOKENS, at_send=True) as count:
            await provider.caption(tmp_path / "missing.jpg")
    assert store.takes == []
    assert count.turns == 0
    await provider.aclose()


async def test_an_injected_client_takes_its_turn_before_the_call(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    """A client the provider did not build has no request hook: the stage takes one turn."""
    store = CountingStore()
    async with openai.AsyncOpenAI(api_key=KEY, base_url=BASE, max_retries=0) as client:
        provider = OpenAIProvider(client)
        assert not provider.takes_turns_at_send()
        result = await _vision_pipeline(store, tmp_path, provider).run(video(tmp_path))
    assert result.ok
    assert [a for k, a in store.takes if k == "openai:gpt-4o:requests"] == [1]


async def test_the_hook_outside_a_rated_request_takes_nothing() -> None:
    """Searching, or a call without limits, sends without waiting for any turn."""
    await take_turn_at_send(httpx.Request("POST", f"{BASE}/embeddings"))
