"""`OpenAIProvider`: the AI calls through the official `openai` SDK (or any compatible server)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import numpy as np
from pydantic import SecretStr, ValidationError

from .._exceptions import ConfigurationError, MalformedResponse, ProviderError
from .._imports import require
from .._media import Word, attach_text, pcm_wav, trim_to_sound, utterances
from .._observability import METRICS
from .._secrets import redact, register_secret
from ._base import CallUsage, Captioned, Embedded, FrameAnalysis, Price, Transcript, TranscriptPiece
from ._http import api_message, classify_http_error, scrubbed
from ._rates import take_turn_at_send

if TYPE_CHECKING:
    import openai
    from openai.types.audio import TranscriptionVerbose

__all__ = ["PRICES", "OpenAIProvider", "Price"]

T = TypeVar("T")


PRICES: Mapping[str, Price] = {
    "whisper-1": Price(per_audio_minute=0.006),
    "gpt-4o-transcribe": Price(per_audio_minute=0.006),
    "gpt-4o-mini-transcribe": Price(per_audio_minute=0.003),
    "gpt-4o": Price(per_million_input_tokens=2.50, per_million_output_tokens=10.00),
    "gpt-4o-mini": Price(per_million_input_tokens=0.15, per_million_output_tokens=0.60),
    "text-embedding-3-small": Price(per_million_input_tokens=0.02),
    "text-embedding-3-large": Price(per_million_input_tokens=0.13),
}
"""Published list prices (per audio minute, per million tokens); pass `prices=` to override."""

_DEFAULT_PROMPT = (
    "Describe this video frame for a search index. Give a one or two sentence caption, "
    "the notable entities (people, objects, brands, places), any readable on-screen text "
    "verbatim, and any user-interface controls visible."
)

# An embeddings request takes at most 2,048 inputs and 300,000 tokens in all.
_MAX_INPUTS = 2048
_MAX_TOKENS = 300_000


def _estimate_tokens(text: str) -> int:
    # ~4 characters per token for English; 3 keeps a safety margin for other text.
    return len(text) // 3 + 1


def _utterance_pieces(response: TranscriptionVerbose, audio: bytes) -> list[TranscriptPiece]:
    """The transcription's segments, cut again from its word times when it has them.

    When `audio` is a 16-bit PCM WAV file (what the transcribe stage sends),
    each segment is also trimmed to the sound inside it.
    """
    segments = response.segments or []
    words = [Word(float(w.start), float(w.end), w.word) for w in (response.words or [])]
    if not words:
        return [
            TranscriptPiece(start=float(s.start), end=float(s.end), text=s.text.strip())
            for s in segments
        ]
    # The API's words come without punctuation; the segments' text has it.
    text = "".join(s.text for s in segments) or response.text
    sound = pcm_wav(audio)
    pieces = []
    for u in utterances(attach_text(text, words)):
        start, end = (u.start, u.end) if sound is None else trim_to_sound(u.start, u.end, *sound)
        pieces.append(TranscriptPiece(start=round(start, 3), end=round(end, 3), text=u.text))
    return pieces


class OpenAIProvider:
    """A [`Provider`][videopipe.providers.Provider] on the official `openai` SDK's async client.

    Works against api.openai.com or any OpenAI-compatible server (vLLM, Ollama,
    LocalAI, a speech server) through `base_url`. The SDK's own retries are
    off by default: its errors are mapped once, here, to
    [`RateLimited`][videopipe.RateLimited] (429, or 503 with `Retry-After`),
    [`ProviderTimeout`][videopipe.ProviderTimeout] or
    [`ProviderError`][videopipe.ProviderError], with `retryable` and
    `retry_after` set, and retried by the one retry policy of the stages
    (`process_batch`).

    One provider works from any event loop and any thread: it opens one HTTP
    client per event loop, when that loop first uses it, and closes it when
    that loop ends (or on `aclose()`), so successive `run_blocking` calls,
    Jupyter's loop and threads each get connections of their own. An injected
    `client` is used as it is, on whatever loop its owner uses it.

    Examples:
        ```python
        provider = OpenAIProvider()  # OPENAI_API_KEY from the environment
        local = OpenAIProvider(base_url="http://127.0.0.1:8000/v1", vision_model="llava")
        ```

    Args:
        client: An `openai.AsyncOpenAI` to use instead of building one per loop
            (its owner closes it, and uses it from one loop).
        api_key: The API key; defaults to `OPENAI_API_KEY`. Not needed with a
            `base_url` server that does not check keys.
        base_url: An OpenAI-compatible server's base URL.
        transcription_model: The speech-to-text model.
        vision_model: The model that describes frames (structured output).
        embedding_model: The text-embedding model.
        dimensions: Shorter embeddings (text-embedding-3 models), if wanted.
        image_detail: `"low"` (cheap, 85 tokens a frame) or `"high"`.
        max_retries: Retries inside the SDK; 0 leaves retrying to videopipe.
        timeout: Seconds before a request is abandoned.
        prices: Prices per model, for cost estimates (defaults to `PRICES`).

    Raises:
        MissingDependency: The `openai` extra is not installed.
        ConfigurationError: No API key and no `base_url`.

    Note:
        Added in 0.1.0.
    """

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI | None = None,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        transcription_model: str = "whisper-1",
        vision_model: str = "gpt-4o",
        embedding_model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        image_detail: str = "low",
        max_retries: int = 0,
        timeout: float = 120.0,
        prices: Mapping[str, Price] | None = None,
    ) -> None:
        self._openai = require("openai", package="openai", extra="openai", feature="OpenAIProvider")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        key = key or os.environ.get("OPENAI_API_KEY")
        if client is None and not key and base_url is None:
            raise ConfigurationError(
                "OpenAIProvider needs an API key: set OPENAI_API_KEY, pass api_key=, "
                "or pass base_url= for an OpenAI-compatible server that needs none"
            )
        register_secret(key)
        self.client: openai.AsyncOpenAI | None = client
        """The injected client, if any; otherwise the provider makes one per event loop."""
        self._options: dict[str, Any] = {
            "api_key": key or "unused",
            "base_url": base_url,
            "max_retries": max_retries,
            "timeout": timeout,
        }
        self.base_url = str(
            client.base_url
            if client is not None
            else base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        )
        """The server's base URL."""
        self._clients: dict[anyio.lowlevel.EventLoopToken, openai.AsyncOpenAI] = {}
        self._keepers: dict[anyio.lowlevel.EventLoopToken, AsyncGenerator[None]] = {}
        self._lock = threading.Lock()
        self._secret = key
        self.transcription_model = transcription_model
        self.vision_model = vision_model
        self._embedding_model = embedding_model
        self.dimensions = dimensions
        self.image_detail = image_detail
        self.prices = dict(PRICES if prices is None else prices)

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={redact(self.base_url)!r})"

    async def _client(self) -> openai.AsyncOpenAI:
        """The injected client, or this event loop's own (made on first use)."""
        if self.client is not None:
            return self.client
        token = anyio.lowlevel.current_token()
        with self._lock:
            self._forget_ended_loops()
            existing = self._clients.get(token)
            if existing is not None:
                return existing
            # The shared RPM/TPM turn is taken in the request hook, right before each
            # send (the SDK's retries included), not before the call (`providers._rates`).
            http = self._openai.DefaultAsyncHttpxClient(
                event_hooks={"request": [take_turn_at_send]}
            )
            client: openai.AsyncOpenAI = self._openai.AsyncOpenAI(**self._options, http_client=http)
            self._clients[token] = client
        # An async generator first run on this loop is finalized by the loop when it ends
        # (`shutdown_asyncgens`, which `asyncio.run` and `anyio.run` call): that closes the
        # client on its own loop, before the loop closes, even if no one calls `aclose()`.
        keeper = _close_at_loop_end(client)
        await anext(keeper)
        with self._lock:
            self._keepers[token] = keeper
        return client

    def _forget_ended_loops(self) -> None:
        for token in list(self._clients):
            loop = token.native_token
            if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_closed():
                del self._clients[token]
                self._keepers.pop(token, None)

    async def aclose(self) -> None:
        """Close the HTTP connections this provider opened on the running event loop.

        Connections of other loops are closed when those loops end. The provider
        stays usable: a later call opens new connections. An injected `client`
        is left to its owner. Calling it twice is harmless.
        """
        if self.client is not None:
            return
        token = anyio.lowlevel.current_token()
        with self._lock:
            self._forget_ended_loops()
            client = self._clients.pop(token, None)
            keeper = self._keepers.pop(token, None)
        if keeper is not None:
            await keeper.aclose()  # closes the client
        elif client is not None:
            await client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def takes_turns_at_send(self) -> bool:
        """Whether the shared limits' turns are taken right before each HTTP send.

        True for the clients this provider makes (their request hook takes the
        turn); an injected `client` has no such hook, so the stages take the
        turn before the call.
        """
        return self.client is None

    @property
    def embedding_model(self) -> str:
        """The embedding model, with the dimensions when shortened: `text-embedding-3-small@512`."""
        if self.dimensions is None:
            return self._embedding_model
        return f"{self._embedding_model}@{self.dimensions}"

    def price(self, model: str) -> Price:
        """The price of `model`; unknown models (a local server's) cost 0."""
        return self.prices.get(model, Price())

    # --- calls ---------------------------------------------------------------------

    async def transcribe(
        self, audio_path: str | os.PathLike[str], *, language: str | None = None
    ) -> Transcript:
        """Transcribe an audio file (under the API's 25 MB limit), one segment per utterance.

        Asks for word and segment timestamps (`verbose_json`). With word times,
        the segments are cut again from them: each starts at its first word and
        ends at its last (trimmed to the sound, for a 16-bit PCM WAV), and a
        sentence end or a pause starts a new one. A compatible server that sends
        no word times gives its segments as they are.
        """
        path = Path(audio_path)
        data = await anyio.to_thread.run_sync(path.read_bytes)
        extra: dict[str, Any] = {} if language is None else {"language": language}
        client = await self._client()
        response = await self._call(
            "transcription",
            lambda: client.audio.transcriptions.create(
                file=(path.name, data),
                model=self.transcription_model,
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
                **extra,
            ),
        )
        segments = await anyio.to_thread.run_sync(_utterance_pieces, response, data)
        duration = float(response.duration or 0.0)
        usage = CallUsage(
            provider=self.name,
            model=self.transcription_model,
            audio_seconds=duration,
            cost_usd=self.price(self.transcription_model).cost(audio_seconds=duration),
        )
        return Transcript(
            segments=segments, language=response.language, duration_sec=duration, usage=usage
        )

    async def caption(
        self, image_path: str | os.PathLike[str], *, prompt: str | None = None
    ) -> Captioned:
        """Describe one image with structured output parsed into `FrameAnalysis`."""
        path = Path(image_path)
        data = await anyio.to_thread.run_sync(path.read_bytes)
        url = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        messages: Any = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt or _DEFAULT_PROMPT},
                    {"type": "image_url", "image_url": {"url": url, "detail": self.image_detail}},
                ],
            }
        ]
        client = await self._client()
        completion = await self._call(
            "vision",
            lambda: client.chat.completions.parse(
                model=self.vision_model, messages=messages, response_format=FrameAnalysis
            ),
        )
        message = completion.choices[0].message
        if message.parsed is None:
            refusal = getattr(message, "refusal", None)
            raise MalformedResponse(
                f"the vision model returned no analysis for {path.name}"
                + (f" (refusal: {refusal})" if refusal else "")
            )
        tokens_in = completion.usage.prompt_tokens if completion.usage else 0
        tokens_out = completion.usage.completion_tokens if completion.usage else 0
        usage = CallUsage(
            provider=self.name,
            model=self.vision_model,
            images=1,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=self.price(self.vision_model).cost(
                input_tokens=tokens_in, output_tokens=tokens_out
            ),
        )
        return Captioned(analysis=message.parsed, usage=usage)

    async def embed(self, texts: Sequence[str]) -> Embedded:
        """Embed `texts` in as few requests as the API allows (2,048 inputs, 300k tokens each)."""
        vectors: list[list[float]] = []
        tokens = 0
        requests = 0
        extra: dict[str, Any] = {} if self.dimensions is None else {"dimensions": self.dimensions}
        client = await self._client()
        for batch in _batches(texts):

            def request(batch: list[str] = batch) -> Awaitable[Any]:
                # base64 float32: a quarter of the bytes, and no per-float parsing (for
                # 1536 dimensions, JSON floats cost the client more than the request).
                return client.embeddings.create(
                    input=batch, model=self._embedding_model, encoding_format="base64", **extra
                )

            response = await self._call("embeddings", request)
            ordered = sorted(response.data, key=lambda d: d.index)
            if len(ordered) != len(batch):
                raise MalformedResponse(
                    f"the embeddings response has {len(ordered)} vectors for {len(batch)} texts"
                )
            vectors.extend([_vector(d.embedding) for d in ordered])
            tokens += response.usage.prompt_tokens if response.usage else 0
            requests += 1
        usage = CallUsage(
            provider=self.name,
            model=self._embedding_model,
            requests=requests,
            texts=len(texts),
            input_tokens=tokens,
            cost_usd=self.price(self._embedding_model).cost(input_tokens=tokens),
        )
        return Embedded(vectors=vectors, model=self.embedding_model, usage=usage)

    # --- errors ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "***")
        return redact(text)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self._mapped(what, call)
        except ProviderError as exc:
            METRICS.provider_request_errors.labels(type(exc).__name__).inc()
            raise

    async def _mapped(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Call the SDK; its errors become videopipe's, classified once (`providers._http`).

        The SDK's error stays the cause, with any secret in it masked (`scrubbed`).
        """
        oa = self._openai
        try:
            return await call()
        except oa.AuthenticationError as exc:
            raise ProviderError(
                f"{what}: the provider rejected the API key (HTTP 401): "
                f"{self._scrub(api_message(exc))}. Check OPENAI_API_KEY.",
                status_code=401,
            ) from scrubbed(exc, self._scrub)
        except oa.APITimeoutError as exc:
            raise _mapped_error(exc, what, self._scrub) from scrubbed(exc, self._scrub)
        except oa.APIConnectionError as exc:
            raise ProviderError(
                f"{what}: could not reach the provider at {redact(self.base_url)}: "
                f"{self._scrub(str(exc))}",
                retryable=True,
            ) from scrubbed(exc, self._scrub)
        except oa.APIStatusError as exc:
            raise _mapped_error(exc, what, self._scrub) from scrubbed(exc, self._scrub)
        except (ValidationError, json.JSONDecodeError, oa.LengthFinishReasonError) as exc:
            raise MalformedResponse(
                f"{what}: the provider's answer could not be parsed: {self._scrub(str(exc))[:300]}"
            ) from scrubbed(exc, self._scrub)


def _mapped_error(exc: Exception, what: str, scrub: Callable[[str], str]) -> ProviderError:
    error = classify_http_error(exc, what=what, scrub=scrub)
    assert error is not None  # an SDK error of a kind it maps
    return error


async def _close_at_loop_end(client: openai.AsyncOpenAI) -> AsyncGenerator[None]:
    """Suspended until its loop finalizes it (or `aclose()`), then closes `client`."""
    try:
        yield
    finally:
        await client.close()


def _batches(texts: Sequence[str]) -> list[list[str]]:
    batches: list[list[str]] = []
    current: list[str] = []
    tokens = 0
    for text in texts:
        cost = _estimate_tokens(text)
        if current and (len(current) >= _MAX_INPUTS or tokens + cost > _MAX_TOKENS):
            batches.append(current)
            current, tokens = [], 0
        current.append(text)
        tokens += cost
    if current:
        batches.append(current)
    return batches


def _vector(embedding: str | Sequence[float]) -> list[float]:
    """A vector from an embeddings response: base64 little-endian float32, or a JSON list.

    A compatible server that ignores `encoding_format` answers with a list of floats.
    """
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except ValueError as exc:
            raise MalformedResponse(f"an embedding is not valid base64: {exc}") from None
        if len(raw) % 4:
            raise MalformedResponse("an embedding's base64 data is not a whole number of floats")
        values: list[float] = np.frombuffer(raw, dtype="<f4").astype(float).tolist()
        return values
    return [float(x) for x in embedding]
