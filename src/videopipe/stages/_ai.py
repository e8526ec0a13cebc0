"""The AI stages: transcribe (speech to text), vision (frame captions), embeddings."""

from __future__ import annotations

import os
import wave
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from .. import _media as media
from .._batch import Err, Ok, process_batch
from .._budget import Reservation
from .._cost import (
    VISION_IMAGE_TOKENS,
    VISION_OUTPUT_TOKENS,
    VISION_PROMPT_TOKENS,
    embedding_cost,
    text_tokens,
    transcription_cost,
    vision_cost,
)
from .._exceptions import ConfigurationError, MalformedResponse, ProviderError
from .._limits import AdaptiveLimit, endpoint_limit
from .._models import (
    Embedding,
    Frame,
    FrameCaption,
    TranscriptSegment,
    caption_id,
    segment_id,
    text_hash,
)
from .._observability import METRICS
from .._retry import RetryPolicy
from .._secrets import redact
from .._stage import (
    EMBEDDINGS,
    FRAMES,
    NORMALIZE,
    TRANSCRIBE,
    VISION,
    StageContext,
)
from ..providers import (
    CallUsage,
    Captioned,
    Embedded,
    FrameAnalysis,
    Provider,
    ReportsTranscription,
)
from ..providers._choose import NO_PROVIDER_HINT
from ..providers._rates import (
    SharedRateLimit,
    TakesTurnsAtSend,
    TokenCount,
    account_limits,
    model_limits,
)
from ..storage import RateBuckets, Vectors

__all__ = ["Caption", "Embed", "Transcribe"]

_NO_PROVIDER = "no AI provider is configured: " + NO_PROVIDER_HINT

# Bump when FrameAnalysis changes shape, so cached captions of the old shape are not reused.
CAPTION_SCHEMA_VERSION = 1


def _policy(ctx: StageContext, given: RetryPolicy | None) -> RetryPolicy:
    """The stage's retry policy, counting provider retries in the metrics.

    By default, "slow down" answers get the settings' time budget. The count
    comes before the policy's own `on_retry`.
    """
    policy = given or RetryPolicy(budget=ctx.settings.provider_retry_budget_sec)
    own = policy.on_retry

    def on_retry(exc: Exception, attempt: int, delay: float) -> None:
        if isinstance(exc, ProviderError):
            METRICS.provider_retries.labels(type(exc).__name__).inc()
        if own is not None:
            own(exc, attempt, delay)

    return replace(policy, on_retry=on_retry)


def _limit(ctx: StageContext, provider: Provider, endpoint: str, model: str) -> AdaptiveLimit:
    """The adaptive in-flight limit of `provider`'s `endpoint`, shared by the loop's videos."""
    caps = {
        TRANSCRIBE: ctx.settings.transcribe_max_concurrent,
        VISION: ctx.settings.vision_max_concurrent,
        EMBEDDINGS: ctx.settings.embed_max_concurrent,
    }
    return endpoint_limit(provider.name, endpoint, model, caps[endpoint])


def _rates(ctx: StageContext, provider: Provider, model: str) -> SharedRateLimit | None:
    """The shared RPM/TPM limits of `model` and of the account, or `None` when none is set."""
    requests, tokens = model_limits(ctx.settings, model)
    account_requests, account_tokens = account_limits(ctx.settings)
    if requests is None and tokens is None and account_requests is None and account_tokens is None:
        return None
    if not isinstance(ctx.store, RateBuckets):
        raise ConfigurationError(
            f"PROVIDER_RPM / PROVIDER_TPM limits are kept in the store, but the pipeline's "
            f"store {type(ctx.store).__name__} keeps no rate buckets: use a store that also "
            "implements videopipe.storage.RateBuckets (every videopipe.storage.Store does)"
        )
    return SharedRateLimit(
        ctx.store,
        provider.name,
        model,
        requests=requests,
        tokens=tokens,
        account_requests=account_requests,
        account_tokens=account_tokens,
    )


@asynccontextmanager
async def _rated(
    rates: SharedRateLimit | None, provider: Provider, tokens: int = 0
) -> AsyncIterator[TokenCount]:
    """Wait on the shared limits (if any) for one request of about `tokens` tokens.

    A provider that takes turns at send waits in its HTTP client, right before each send.
    """
    if rates is None:
        yield TokenCount()
        return
    at_send = isinstance(provider, TakesTurnsAtSend) and provider.takes_turns_at_send()
    async with rates.request(tokens, at_send=at_send) as count:
        yield count


def _tokens(usage: CallUsage) -> int:
    return usage.input_tokens + usage.output_tokens


VISION_TOKENS = VISION_IMAGE_TOKENS + VISION_PROMPT_TOKENS + VISION_OUTPUT_TOKENS
"""The tokens one vision request is expected to use, taken from a TPM limit before it is sent."""


def _provider(ctx: StageContext) -> Provider:
    if ctx.provider is None:
        raise ctx.skip(_NO_PROVIDER)
    return ctx.provider


def _vectors(ctx: StageContext) -> Vectors:
    """The pipeline's store as the `Vectors` the embeddings are saved to."""
    if not isinstance(ctx.store, Vectors):
        raise ConfigurationError(
            f"the {ctx.stage} stage saves vectors, but the pipeline's store "
            f"{type(ctx.store).__name__} keeps none: use a store that also implements "
            "videopipe.storage.Vectors (every videopipe.storage.Store does)"
        )
    return ctx.store


def _reserve(ctx: StageContext, estimate_usd: float) -> Reservation | None:
    """Reserve the stage's estimated cost in the pipeline's budget, before any provider call."""
    if ctx.budget is None:
        return None
    return ctx.budget.reserve(estimate_usd, stage=ctx.stage, video_id=ctx.video.id)


def _settle(reservation: Reservation | None, results: Sequence[Ok[Any] | Err]) -> None:
    """Replace the reservation by what the calls that succeeded actually cost."""
    if reservation is None:
        return
    paid = 0.0
    for r in results:
        usage = getattr(r.value, "usage", None) if isinstance(r, Ok) else None
        paid += float(getattr(usage, "cost_usd", 0.0) or 0.0)
    reservation.settle(paid)


async def _record(ctx: StageContext, usages: Sequence[CallUsage]) -> None:
    """Record one usage row per provider and model: a few rows per stage, not one per call."""
    totals: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "requests": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "audio_seconds": 0.0,
            "images": 0,
            "texts": 0,
            "cost_usd": 0.0,
        }
    )
    for u in usages:
        row = totals[u.provider, u.model]
        for name in row:
            row[name] += getattr(u, name)
    for (provider, model), row in totals.items():
        await ctx.record_usage(provider=provider, model=model, **row)


# --- transcribe -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of the audio sent on its own: `path` covers `[start, end)` seconds of the whole."""

    path: Path
    start: float
    end: float


def split_wav(
    path: Path, out_dir: Path, *, max_bytes: int, overlap: float = 1.0
) -> list[AudioChunk]:
    """Split a PCM WAV into chunks of at most `max_bytes`, cutting at quiet points.

    Consecutive chunks overlap by `overlap` seconds, so a word cut at a chunk's
    edge is heard whole in one of them. A file under the limit is one chunk: itself.
    """
    with wave.open(str(path), "rb") as src:
        rate, width, channels, total = (
            src.getframerate(),
            src.getsampwidth(),
            src.getnchannels(),
            src.getnframes(),
        )
        frame_bytes = width * channels
        header = 44
        if header + total * frame_bytes <= max_bytes:
            return [AudioChunk(path, 0.0, total / rate)]
        per_chunk = (max_bytes - header) // frame_bytes
        overlap_frames = min(int(overlap * rate), per_chunk // 4)
        if per_chunk <= 2 * overlap_frames or per_chunk < rate:
            raise ValueError(f"max_bytes={max_bytes} is too small to split {path}")
        out_dir.mkdir(parents=True, exist_ok=True)
        chunks: list[AudioChunk] = []
        start = 0
        index = 0
        while start < total:
            end = min(total, start + per_chunk)
            if end < total:
                end = _quiet_point(src, start, end, rate, width, channels)
            src.setpos(start)
            data = src.readframes(end - start)
            chunk = out_dir / f"chunk_{index:03d}.wav"
            with wave.open(str(chunk), "wb") as dst:
                dst.setnchannels(channels)
                dst.setsampwidth(width)
                dst.setframerate(rate)
                dst.writeframes(data)
            chunks.append(AudioChunk(chunk, start / rate, end / rate))
            if end >= total:
                break
            start = end - overlap_frames
            index += 1
        return chunks


def _quiet_point(
    src: wave.Wave_read, start: int, end: int, rate: int, width: int, channels: int
) -> int:
    """The quietest 50 ms in the last tenth of `[start, end)`: a cut there splits no word."""
    if width != 2:
        return end
    search = max(rate // 20, (end - start) // 10)
    src.setpos(end - search)
    samples = np.frombuffer(src.readframes(search), dtype="<i2").astype(np.float32)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    window = rate // 20
    if len(samples) < window:
        return end
    energy = np.convolve(samples**2, np.ones(window, dtype=np.float32), mode="valid")
    return end - search + int(np.argmin(energy)) + window // 2


class Transcribe:
    """Speech to timestamped text, with subtitles.

    Long audio (over the API's 25 MB upload limit) is split at quiet points
    into overlapping chunks, sent concurrently, and merged with timestamps
    offset back and the overlap's duplicates removed. Writes
    `transcript_segments` and `subs/{id}.srt`. Skipped, with the reason
    logged, for a video without audio or when no provider is configured.

    Args:
        language: The spoken language (ISO-639-1), if known; improves accuracy.
        max_upload_bytes: The largest audio file sent in one request.
        overlap: Seconds shared by consecutive chunks.
        concurrency: Most chunks in flight at once.
        retry: How passing failures are retried; by default "slow down" answers
            (429) for up to `PROVIDER_RETRY_BUDGET_SEC` seconds, others 3 times.

    At most `TRANSCRIBE_MAX_CONCURRENT` requests are in flight across the
    loop's videos, fewer while the provider answers 429 (an adaptive limit).
    With `PROVIDER_RPM` set, each request first waits on the model's requests
    limit, kept in the store and shared by every worker.

    Note:
        Added in 0.1.0.
    """

    name = TRANSCRIBE
    requires = (NORMALIZE,)

    def __init__(
        self,
        *,
        language: str | None = None,
        max_upload_bytes: int = 24 * 1024 * 1024,
        overlap: float = 1.0,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.language = language
        self.max_upload_bytes = max_upload_bytes
        self.overlap = overlap
        self.concurrency = concurrency
        self.retry = retry

    async def run(self, ctx: StageContext) -> list[TranscriptSegment]:
        """Transcribe the video's audio and store its segments and subtitles."""
        provider = _provider(ctx)
        if not ctx.video.has_audio or ctx.video.audio_path is None:
            raise ctx.skip("the video has no audio track")
        audio = await ctx.local_file(ctx.video.audio_path)
        chunks = await anyio.to_thread.run_sync(
            lambda: split_wav(
                audio,
                ctx.paths.processed / "chunks",
                max_bytes=self.max_upload_bytes,
                overlap=self.overlap,
            )
        )

        limit = _limit(ctx, provider, TRANSCRIBE, provider.transcription_model)
        rates = _rates(ctx, provider, provider.transcription_model)

        audio_seconds = sum(c.end - c.start for c in chunks)
        # Seconds heard of each chunk (every key there from the start: threads only set values).
        heard = dict.fromkeys(range(len(chunks)), 0.0)

        def hear(index: int, seconds: float) -> None:
            heard[index] = seconds
            ctx.report_progress(sum(heard.values()), audio_seconds)

        async def send(index: int) -> Any:
            chunk = chunks[index]
            # Audio is limited by requests: a transcription takes no tokens from a TPM limit.
            async with limit.request(), _rated(rates, provider):
                if isinstance(provider, ReportsTranscription):
                    transcript = await provider.transcribe_reporting(
                        chunk.path,
                        language=self.language,
                        progress=lambda seconds: hear(index, seconds),
                    )
                else:
                    transcript = await provider.transcribe(chunk.path, language=self.language)
            hear(index, chunk.end - chunk.start)
            return transcript

        reservation = _reserve(ctx, transcription_cost(provider, audio_seconds))
        results: list[Ok[Any] | Err] = []
        try:
            results = await process_batch(
                range(len(chunks)),
                send,
                concurrency=self.concurrency,
                retry=_policy(ctx, self.retry),
            )
        finally:
            _settle(reservation, results)
        for r in results:
            if isinstance(r, Err):
                raise r.error
        transcripts = [r.unwrap() for r in results]
        pieces: list[tuple[float, float, str]] = []
        for i, (chunk, transcript) in enumerate(zip(chunks, transcripts, strict=True)):
            # Keep each overlap's segments from one chunk only: split it at its midpoint.
            keep_from = 0.0 if i == 0 else (chunk.start + chunks[i - 1].end) / 2
            keep_until = (
                float("inf") if i == len(chunks) - 1 else (chunks[i + 1].start + chunk.end) / 2
            )
            for seg in transcript.segments:
                start = chunk.start + seg.start
                if keep_from <= start < keep_until and seg.text:
                    pieces.append((start, chunk.start + seg.end, seg.text))
        segments = [
            TranscriptSegment(
                id=segment_id(ctx.video.id, i),
                video_id=ctx.video.id,
                idx=i,
                t_start=round(a, 3),
                t_end=round(b, 3),
                text=text,
            )
            for i, (a, b, text) in enumerate(pieces)
        ]
        await ctx.store.save_segments(ctx.video.id, segments)
        await _write_atomic(ctx.paths.srt, media.format_srt(pieces))
        await ctx.publish(ctx.paths.srt)
        await _record(ctx, [t.usage for t in transcripts])
        return segments

    async def load(self, ctx: StageContext) -> list[TranscriptSegment]:
        """The stored segments, on a re-run."""
        return await ctx.store.list_segments(ctx.video.id)


async def _write_atomic(path: Path, text: str) -> None:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    await anyio.to_thread.run_sync(write)


# --- vision -------------------------------------------------------------------------------


def caption_cache_key(phash: str, prompt: str | None, model: str) -> str:
    """The key under which a frame's analysis is cached across videos."""
    return f"caption:v{CAPTION_SCHEMA_VERSION}:{model}:{text_hash(prompt or '')[:16]}:{phash}"


class Caption:
    """Describe each unique frame with the provider's vision model (structured output).

    Duplicate frames are not sent: they get a copy of their original's
    caption. Analyses are cached by perceptual hash, prompt, model and schema
    version, so a near-identical frame in another video reuses a caption
    already paid for. At most `VISION_MAX_CONCURRENT` calls are in flight across
    the event loop's videos, fewer while the provider answers 429 (an adaptive
    limit). A frame whose answer cannot be parsed is tried once more, then
    recorded with its error, without failing the video.
    With `PROVIDER_RPM` / `PROVIDER_TPM` set, each request first waits on the
    model's limits, kept in the store and shared by every worker (its tokens
    estimated, then corrected from the answer's usage).

    Args:
        prompt: The instruction sent with every frame (a default suits search).
        retry: How passing failures are retried; by default "slow down" answers
            (429) for up to `PROVIDER_RETRY_BUDGET_SEC` seconds, others 3 times.

    Note:
        Added in 0.1.0.
    """

    name = VISION
    requires = (FRAMES,)

    def __init__(self, *, prompt: str | None = None, retry: RetryPolicy | None = None) -> None:
        self.prompt = prompt
        self.retry = retry

    async def run(self, ctx: StageContext) -> list[FrameCaption]:
        """Caption the video's unique frames and store the captions."""
        provider = _provider(ctx)
        frames: list[Frame] = ctx.inputs[FRAMES] or []
        unique = [f for f in frames if f.duplicate_of is None]
        model = provider.vision_model
        keys = {f.id: caption_cache_key(f.phash, self.prompt, model) for f in unique}
        cached = await ctx.store.get_cached(keys.values())
        to_send = [f for f in unique if keys[f.id] not in cached]
        limit = _limit(ctx, provider, VISION, model)
        rates = _rates(ctx, provider, model)

        async def caption(frame: Frame) -> Captioned:
            async with _rated(rates, provider, VISION_TOKENS) as count:
                image = await ctx.local_file(frame.path)
                captioned = await provider.caption(image, prompt=self.prompt)
                count.used = _tokens(captioned.usage)
                return captioned

        async def describe(frame: Frame) -> Captioned | MalformedResponse:
            async with limit.request():
                try:
                    return await caption(frame)
                except MalformedResponse:
                    pass
                try:
                    return await caption(frame)
                except MalformedResponse as exc:
                    return exc

        reservation = _reserve(ctx, vision_cost(provider, len(to_send))) if to_send else None
        results: list[Ok[Captioned | MalformedResponse] | Err] = []
        try:
            results = await process_batch(
                to_send,
                describe,
                concurrency=limit.cap,
                retry=_policy(ctx, self.retry),
                progress=lambda p: ctx.report_progress(p.done, len(to_send)),
            )
        finally:
            _settle(reservation, results)
        analyses: dict[str, FrameAnalysis] = {
            f.id: FrameAnalysis.model_validate_json(cached[keys[f.id]])
            for f in unique
            if keys[f.id] in cached
        }
        errors: dict[str, str] = {}
        fresh: dict[str, str] = {}
        usages = []
        for frame, r in zip(to_send, results, strict=True):
            if isinstance(r, Err):
                raise r.error
            value = r.unwrap()
            if isinstance(value, MalformedResponse):
                errors[frame.id] = redact(str(value))
                continue
            analyses[frame.id] = value.analysis
            fresh[keys[frame.id]] = value.analysis.model_dump_json()
            usages.append(value.usage)
        if fresh:
            await ctx.store.put_cached(fresh)
        captions = []
        for frame in frames:
            source = frame.duplicate_of or frame.id
            analysis = analyses.get(source)
            captions.append(
                FrameCaption(
                    id=caption_id(frame.id),
                    video_id=ctx.video.id,
                    frame_id=frame.id,
                    t=frame.t,
                    caption=analysis.caption if analysis else "",
                    entities=analysis.entities if analysis else [],
                    ocr_text=analysis.on_screen_text if analysis else "",
                    controls=analysis.controls if analysis else [],
                    model=model,
                    error=None if analysis else errors.get(source, "no analysis"),
                )
            )
        await ctx.store.save_captions(ctx.video.id, captions)
        await _record(ctx, usages)
        return captions

    async def load(self, ctx: StageContext) -> list[FrameCaption]:
        """The stored captions, on a re-run."""
        return await ctx.store.list_captions(ctx.video.id)


# --- embeddings -------------------------------------------------------------------------


def caption_text(caption: FrameCaption) -> str:
    """The text of a caption that is embedded and searched: description and on-screen text."""
    return "\n".join(p for p in (caption.caption, caption.ocr_text) if p)


class Embed:
    """Embed every transcript segment and caption, batching many texts per request.

    Texts already embedded with the same model (by content hash) are not sent
    again, so re-runs and identical texts cost nothing.

    At most `EMBED_MAX_CONCURRENT` requests are in flight across the loop's
    videos, fewer while the provider answers 429 (an adaptive limit).
    With `PROVIDER_RPM` / `PROVIDER_TPM` set, each request first waits on the
    model's limits, kept in the store and shared by every worker (its tokens
    estimated, then corrected from the answer's usage).

    Args:
        retry: How passing failures are retried; by default "slow down" answers
            (429) for up to `PROVIDER_RETRY_BUDGET_SEC` seconds, others 3 times.

    Note:
        Added in 0.1.0.
    """

    name = EMBEDDINGS
    requires = (TRANSCRIBE, VISION)

    def __init__(self, *, retry: RetryPolicy | None = None) -> None:
        self.retry = retry

    async def run(self, ctx: StageContext) -> dict[str, int]:
        """Embed and store the video's texts."""
        provider = _provider(ctx)
        vectors = _vectors(ctx)
        video_id = ctx.video.id
        items: list[tuple[str, str, str]] = [
            ("segment", s.id, s.text) for s in await ctx.store.list_segments(video_id) if s.text
        ]
        items += [
            ("caption", c.id, caption_text(c))
            for c in await ctx.store.list_captions(video_id)
            if c.error is None and caption_text(c)
        ]
        if not items:
            raise ctx.skip("nothing to embed: no transcript and no captions")
        model = provider.embedding_model
        hashes = {text: text_hash(text) for _, _, text in items}
        known = await vectors.find_embeddings(set(hashes.values()), model=model)
        todo = sorted({text for text, h in hashes.items() if h not in known})
        requests = 0
        if todo:
            reservation = _reserve(ctx, embedding_cost(provider, text_tokens(todo)))
            results: list[Ok[Embedded] | Err] = []
            try:
                limit = _limit(ctx, provider, EMBEDDINGS, model)
                rates = _rates(ctx, provider, model)

                async def embed(texts: list[str]) -> Embedded:
                    async with (
                        limit.request(),
                        _rated(rates, provider, text_tokens(texts)) as count,
                    ):
                        embedded = await provider.embed(texts)
                        count.used = _tokens(embedded.usage)
                        return embedded

                results = await process_batch([todo], embed, retry=_policy(ctx, self.retry))
            finally:
                _settle(reservation, results)
            [result] = results
            embedded = result.unwrap()
            ctx.report_progress(len(todo), len(todo))
            for text, vector in zip(todo, embedded.vectors, strict=True):
                known[hashes[text]] = vector
            await _record(ctx, [embedded.usage])
            requests = embedded.usage.requests
        await vectors.save_embeddings(
            [
                Embedding(
                    owner_id=owner,
                    video_id=video_id,
                    kind=kind,  # type: ignore[arg-type]
                    model=model,
                    vector=known[hashes[text]],
                    text_hash=hashes[text],
                )
                for kind, owner, text in items
            ]
        )
        return {"texts": len(items), "embedded": len(todo), "requests": requests}
