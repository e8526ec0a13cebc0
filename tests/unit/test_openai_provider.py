from __future__ import annotations

import json
import math
import traceback
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import respx
from PIL import Image

import videopipe as vp
from videopipe.providers import PRICES, OpenAIProvider

from ..openai_fakes import BASE, DIM, FakeOpenAI, chat_body

KEY = "sk-test-abcdefghijklmnop1234"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield FakeOpenAI(router)


@pytest.fixture
def provider() -> OpenAIProvider:
    return OpenAIProvider(api_key=KEY, max_retries=0)


def make_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * math.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(tone.tobytes())
    return path


def make_jpeg(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    Image.new("RGB", (64, 48), color).save(path, "JPEG")
    return path


async def test_transcribe_parses_timestamped_segments_and_prices_the_audio(
    fake: FakeOpenAI, provider: OpenAIProvider, tmp_path: Path
) -> None:
    audio = make_wav(tmp_path / "audio.wav", 1.0)
    transcript = await provider.transcribe(audio, language="en")
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 2.0, "Welcome to the budget review."),
        (2.0, 4.5, "Revenue grew by twelve percent."),
    ]
    assert transcript.usage.audio_seconds == 4.5
    assert transcript.usage.cost_usd == pytest.approx(4.5 / 60 * 0.006)
    request = fake.transcriptions.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.content
    assert b'name="response_format"\r\n\r\nverbose_json' in body
    assert b'name="timestamp_granularities[]"\r\n\r\nsegment' in body
    assert b'name="language"\r\n\r\nen' in body
    assert b'name="model"\r\n\r\nwhisper-1' in body


async def test_caption_uses_structured_output(
    fake: FakeOpenAI, provider: OpenAIProvider, tmp_path: Path
) -> None:
    image = make_jpeg(tmp_path / "f.jpg")
    result = await provider.caption(image)
    assert result.analysis.caption == "A presentation slide number 1"
    assert result.analysis.on_screen_text == "SLIDE 1"
    assert result.usage.images == 1
    assert (result.usage.input_tokens, result.usage.output_tokens) == (120, 45)
    assert result.usage.cost_usd == pytest.approx(
        PRICES["gpt-4o"].cost(input_tokens=120, output_tokens=45)
    )
    body = json.loads(fake.chat.calls.last.request.content)
    assert body["model"] == "gpt-4o"
    schema = body["response_format"]["json_schema"]
    assert schema["name"] == "FrameAnalysis"
    assert schema["strict"] is True
    assert set(schema["schema"]["properties"]) == {
        "caption",
        "entities",
        "on_screen_text",
        "controls",
    }
    assert body["messages"][0]["content"][1]["image_url"]["detail"] == "low"


async def test_embed_returns_full_size_vectors_in_order(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    result = await provider.embed(["alpha", "beta"])
    assert [len(v) for v in result.vectors] == [DIM, DIM]
    assert result.vectors[0] != result.vectors[1]
    assert result.usage.cost_usd == pytest.approx(
        PRICES["text-embedding-3-small"].cost(input_tokens=2)
    )


async def test_embed_asks_for_base64_and_also_reads_a_server_that_answers_floats(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    from tests.openai_fakes import vector_for

    compact = await provider.embed(["alpha", "beta"])
    assert json.loads(fake.embeddings.calls.last.request.content)["encoding_format"] == "base64"
    fake.floats_only = True  # an OpenAI-compatible server that ignores encoding_format
    plain = await provider.embed(["alpha", "beta"])
    expected = [vector_for("alpha", DIM), vector_for("beta", DIM)]
    assert np.array_equal(plain.vectors, expected)
    assert np.allclose(compact.vectors, expected, atol=1e-6)  # float32 on the wire
    assert not np.array_equal(compact.vectors, expected)  # ... so it really was base64


async def test_an_embedding_that_is_not_base64_is_a_malformed_response(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    body = {"object": "list", "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    body["data"] = [{"object": "embedding", "index": 0, "embedding": "not base64!"}]
    fake.embeddings.side_effect = None
    fake.embeddings.return_value = httpx.Response(200, json=body)
    with pytest.raises(vp.MalformedResponse, match="base64"):
        await provider.embed(["alpha"])


async def test_embed_batches_many_texts_per_request(fake: FakeOpenAI) -> None:
    provider = OpenAIProvider(api_key=KEY, dimensions=4)  # small vectors keep the fake fast
    texts = [f"sentence number {i}" for i in range(5000)]
    result = await provider.embed(texts)
    assert fake.embeddings.call_count == math.ceil(5000 / 2048)
    assert fake.embedded_batches == [2048, 2048, 904]
    assert len(result.vectors) == 5000
    assert result.usage.requests == 3
    assert result.usage.texts == 5000
    assert result.model == "text-embedding-3-small@4"


async def test_embed_respects_the_token_limit_per_request(fake: FakeOpenAI) -> None:
    long_text = "word " * 60_000  # ~100k tokens by the conservative estimate
    await OpenAIProvider(api_key=KEY, dimensions=4).embed([long_text] * 7)
    assert len(fake.embedded_batches) >= 3
    assert sum(fake.embedded_batches) == 7


async def test_dimensions_shorten_vectors_and_name_the_model(fake: FakeOpenAI) -> None:
    provider = OpenAIProvider(api_key=KEY, dimensions=256)
    result = await provider.embed(["hello"])
    assert len(result.vectors[0]) == 256
    assert provider.embedding_model == "text-embedding-3-small@256"
    assert json.loads(fake.embeddings.calls.last.request.content)["dimensions"] == 256


async def test_rate_limit_is_raised_with_retry_after_and_retried_by_the_batch_policy(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.embeddings.side_effect = [
        httpx.Response(
            429, headers={"retry-after": "0.2"}, json={"error": {"message": "Slow down"}}
        ),
        httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1] * 8}],
                "model": "m",
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        ),
    ]
    with pytest.raises(vp.RateLimited) as info:
        await provider.embed(["x"])
    assert info.value.retry_after == 0.2
    assert "Slow down" in str(info.value)
    fake.embeddings.side_effect = [
        httpx.Response(
            429, headers={"retry-after": "0.2"}, json={"error": {"message": "Slow down"}}
        ),
        httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1] * 8}],
                "model": "m",
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        ),
    ]
    stamps: list[float] = []

    async def embed(texts: list[str]) -> object:
        import anyio

        stamps.append(anyio.current_time())
        return await provider.embed(texts)

    [result] = await vp.process_batch([["x"]], embed, retry=vp.RetryPolicy(initial_delay=0.001))
    assert result.ok
    assert result.attempts == 2
    assert stamps[1] - stamps[0] >= 0.2


async def test_server_error_then_success(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    ok = fake.embeddings.side_effect
    responses = iter([httpx.Response(500, json={"error": {"message": "boom"}})])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(responses, None) or ok(request)

    fake.embeddings.side_effect = flaky
    [result] = await vp.process_batch(
        [["a", "b"]], provider.embed, retry=vp.RetryPolicy(initial_delay=0.001)
    )
    assert result.ok
    assert result.attempts == 2
    assert fake.embeddings.call_count == 2


async def test_timeout_becomes_provider_timeout(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.embeddings.side_effect = httpx.ReadTimeout("too slow")
    with pytest.raises(vp.ProviderTimeout) as info:
        await provider.embed(["x"])
    assert vp.is_retryable(info.value)


async def test_connection_error_is_retryable(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.embeddings.side_effect = httpx.ConnectError("refused")
    with pytest.raises(vp.ProviderError) as info:
        await provider.embed(["x"])
    assert vp.is_retryable(info.value)
    assert "could not reach the provider" in str(info.value)


async def test_bad_key_is_a_clear_error_without_the_key(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.embeddings.side_effect = httpx.Response(
        401,
        json={
            "error": {
                "message": f"Incorrect API key provided: {KEY}. You can find your key at https://platform.openai.com.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    )
    with pytest.raises(vp.ProviderError) as info:
        await provider.embed(["x"])
    error = info.value
    assert error.status_code == 401
    assert "rejected the API key" in str(error)
    assert "OPENAI_API_KEY" in str(error)
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert not vp.is_retryable(error)
    assert isinstance(error.__cause__, openai.AuthenticationError)
    # The SDK's error stays the cause, but a traceback showing it shows no key (issue 19).
    traceback_text = "".join(traceback.format_exception(error))
    assert "AuthenticationError" in traceback_text
    assert "Incorrect API key provided" in traceback_text
    assert KEY not in traceback_text
    assert KEY not in repr(error.__cause__.body)


async def test_malformed_vision_json_is_a_malformed_response(
    fake: FakeOpenAI, provider: OpenAIProvider, tmp_path: Path
) -> None:
    fake.chat.side_effect = lambda request: httpx.Response(200, json=chat_body('{"caption": 12'))
    with pytest.raises(vp.MalformedResponse):
        await provider.caption(make_jpeg(tmp_path / "f.jpg"))


async def test_custom_base_url_is_used(tmp_path: Path) -> None:
    local = "http://127.0.0.1:8999/v1"
    with respx.mock(assert_all_called=False) as router:
        fake = FakeOpenAI(router, base=local)
        provider = OpenAIProvider(base_url=local, vision_model="llava")
        await provider.caption(make_jpeg(tmp_path / "f.jpg"))
        assert fake.chat.call_count == 1
        assert str(fake.chat.calls.last.request.url) == f"{local}/chat/completions"
        assert provider.price("llava").cost(input_tokens=10**6) == 0


def test_a_key_or_base_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(vp.ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIProvider()


def test_repr_shows_no_key() -> None:
    provider = OpenAIProvider(api_key=KEY)
    assert KEY not in repr(provider)
    assert BASE in repr(provider)
