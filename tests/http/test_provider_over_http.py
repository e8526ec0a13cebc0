"""`OpenAIProvider` and the AI stages against a real OpenAI-compatible server on 127.0.0.1.

The server (`tests/openai_server.py`) is a socket on its own thread, so the
SDK's connection pool and keep-alive run for real. Misbehaviour is defined by
request counts and seeded draws, never by wall time; `Retry-After` values are
a fraction of a second.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import anyio
import pytest

import videopipe as vp
from tests.threads import run_on_threads
from videopipe._sync import run_blocking
from videopipe.providers import OpenAIProvider
from videopipe.stages import Caption, Embed, Transcribe
from videopipe.storage import MemoryStore

from ..openai_server import OpenAIServer
from ..unit.test_ai_stages import BLUE, GREEN, RED, FakeFrames, FakeNormalize, video

KEY = "sk-test-over-http-0123456789"


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


# --- any event loop, any thread -------------------------------------------------------------


def test_one_provider_serves_three_successive_event_loops(server: OpenAIServer) -> None:
    """A script that calls two blocking helpers in a row uses one provider on two loops."""
    provider = OpenAIProvider(api_key=KEY, base_url=server.base_url)

    async def embed(text: str) -> int:
        return len((await provider.embed([text])).vectors)

    assert anyio.run(embed, "first") == 1
    assert anyio.run(embed, "second") == 1
    assert run_blocking(embed, "third") == 1
    anyio.run(provider.aclose)
    assert server.requests["embeddings"] == 3


async def test_one_provider_serves_its_loop_and_a_blocking_call_inside_it(
    server: OpenAIServer,
) -> None:
    """Jupyter: the notebook's loop, then a `_blocking` helper (a loop in a thread), then again."""
    provider = OpenAIProvider(api_key=KEY, base_url=server.base_url)
    try:
        assert len((await provider.embed(["a"])).vectors) == 1
        assert len(run_blocking(provider.embed, ["b"]).vectors) == 1
        assert len((await provider.embed(["c"])).vectors) == 1
    finally:
        await provider.aclose()
    assert server.requests["embeddings"] == 3


def test_one_provider_serves_two_threads_at_once(server: OpenAIServer) -> None:
    """Two threads, each with its own loop, use one provider while both loops are alive."""
    provider = OpenAIProvider(api_key=KEY, base_url=server.base_url)
    both_running = threading.Barrier(2, timeout=10)

    async def work(name: str) -> None:
        for i in range(3):
            await provider.embed([f"{name} {i}"])
            if i == 0:
                await anyio.to_thread.run_sync(both_running.wait)
        await provider.aclose()

    run_on_threads(work, ["left", "right"])
    assert server.requests["embeddings"] == 6


# --- 429 storms -----------------------------------------------------------------------------


def _pipeline(store: MemoryStore, tmp_path: Path, provider: OpenAIProvider) -> vp.Pipeline:
    """The AI stages with their default retry policy, over stand-in media stages."""
    return vp.Pipeline(
        [
            FakeNormalize(),
            Transcribe(),
            FakeFrames([RED, GREEN, BLUE, RED]),
            Caption(),
            Embed(),
        ],
        store=store,
        provider=provider,
        data_dir=tmp_path / "data",
        settings=vp.Settings(vision_max_concurrent=4, _env_file=None),
    )


async def _run_videos(server: OpenAIServer, tmp_path: Path, count: int) -> list[vp.Result]:
    store = MemoryStore()
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url) as provider:
        pipeline = _pipeline(store, tmp_path, provider)
        paths = [video(tmp_path, f"v{i}.mp4", f"video {i}".encode()) for i in range(count)]
        return await pipeline.run_many(paths, concurrency=count)


@pytest.mark.parametrize(
    "share",
    [
        0.2,
        0.5,
    ],
)
async def test_every_video_completes_through_a_429_storm(share: float, tmp_path: Path) -> None:
    """A share of answers are 429 with Retry-After 0.1-0.5 s: no video and no stage fails."""
    with OpenAIServer(rate_limit=share, retry_after=(0.1, 0.5), seed=22) as server:
        results = await _run_videos(server, tmp_path, 4)
    assert [r.ok for r in results] == [True] * 4, [r for r in results if not r.ok]
    for r in results:
        assert all(s.error is None for s in r.unwrap().stages.values())
    assert sum(server.limited.values()) > 0


async def test_every_video_completes_after_a_window_of_only_429_and_503(tmp_path: Path) -> None:
    """Requests 4 to 63 are all refused (429 and 503 with Retry-After): the batch rides it out."""
    with OpenAIServer(storm=(4, 60), retry_after=(0.02, 0.06)) as server:
        results = await _run_videos(server, tmp_path, 4)
    assert [r.ok for r in results] == [True] * 4, [r for r in results if not r.ok]
    assert sum(server.limited.values()) == 60


async def test_a_request_out_of_time_budget_says_how_long_it_waited() -> None:
    """Every answer is 429 or 503: the request gives up when its budget is spent, and says so."""
    with OpenAIServer(storm=(1, 1000), retry_after=(0.1, 0.1)) as server:
        async with OpenAIProvider(api_key=KEY, base_url=server.base_url) as provider:
            policy = vp.RetryPolicy(budget=0.35)
            [result] = await vp.process_batch([["text"]], provider.embed, retry=policy)
    assert isinstance(result, vp.Err)
    assert isinstance(result.error, vp.RateLimited)
    message = str(result.error)
    waited = re.search(
        r"after waiting ([\d.]+) s over (\d+) answers 429(?: and (\d+) answers 503)?", message
    )
    assert waited, message
    assert 0.2 <= float(waited.group(1)) <= 0.35
    refused = int(waited.group(2)) + int(waited.group(3) or 0)
    assert refused == server.requests["embeddings"]  # every answer was a refusal


# --- secrets ----------------------------------------------------------------------------------


async def test_a_key_the_server_echoes_never_shows_in_the_error() -> None:
    """A server that echoes the key in its error body: the provider's error scrubs it."""
    key = "sentinel-key-5c2e77a1"
    with OpenAIServer(storm=(1, 1000), echo=f"Incorrect API key provided: {key}") as server:
        async with OpenAIProvider(api_key=key, base_url=server.base_url) as provider:
            with pytest.raises(vp.ProviderError) as info:
                await provider.embed(["x"])
    assert key not in str(info.value)
    assert key not in repr(info.value)
