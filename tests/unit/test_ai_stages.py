from __future__ import annotations

import itertools
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx
from PIL import Image

import videopipe as vp
from videopipe._models import Frame, frame_id, scene_id
from videopipe.providers import OpenAIProvider
from videopipe.stages import Caption, Embed, Transcribe, split_wav
from videopipe.storage import MemoryStore

from ..openai_fakes import DIM, FakeOpenAI, analysis_json, vector_for
from .test_openai_provider import KEY, make_wav

FAST_RETRY = vp.RetryPolicy(attempts=3, initial_delay=0.001)


class FakeNormalize:
    """Stands in for FFmpeg: writes a WAV (or none) and records the video's facts."""

    name = "normalize"
    requires = ()

    def __init__(self, seconds: float = 3.0, audio: bool = True) -> None:
        self.seconds = seconds
        self.audio = audio

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        ctx.paths.processed.mkdir(parents=True, exist_ok=True)
        if self.audio:
            make_wav(ctx.paths.audio, self.seconds)
        await ctx.update_video(
            normalized_path=str(ctx.paths.normalized),
            audio_path=str(ctx.paths.audio) if self.audio else None,
            duration_sec=self.seconds,
            has_audio=self.audio,
        )
        return {"has_audio": self.audio}


class FakeFrames:
    """Stands in for scenes + frames: solid-colour JPEGs; equal colours are duplicates."""

    name = "frames"
    requires = ("normalize",)

    def __init__(self, colors: list[tuple[int, int, int]]) -> None:
        self.colors = colors

    async def run(self, ctx: vp.StageContext) -> list[Frame]:
        ctx.paths.frames.mkdir(parents=True, exist_ok=True)
        frames: list[Frame] = []
        first: dict[tuple[int, int, int], str] = {}
        for i, color in enumerate(self.colors):
            path = ctx.paths.frame(i)
            Image.new("RGB", (64, 48), color).save(path, "JPEG")
            fid = frame_id(ctx.video.id, i)
            frames.append(
                Frame(
                    id=fid,
                    video_id=ctx.video.id,
                    scene_id=scene_id(ctx.video.id, i),
                    idx=i,
                    t=2.0 * i + 1,
                    path=str(path),
                    phash=f"{color[0]:02x}{color[1]:02x}{color[2]:02x}",
                    duplicate_of=first.get(color),
                )
            )
            first.setdefault(color, fid)
        await ctx.store.save_frames(ctx.video.id, frames)
        return frames


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeOpenAI(router)


RED, GREEN, BLUE = (200, 20, 20), (20, 200, 20), (20, 20, 200)


def pipeline(
    store: MemoryStore,
    tmp_path: Path,
    *,
    colors: list[tuple[int, int, int]] | None = None,
    audio: bool = True,
    provider: Any = "openai",
    vision_max: int = 5,
    transcribe: Transcribe | None = None,
) -> vp.Pipeline:
    stages = [
        FakeNormalize(audio=audio),
        transcribe or Transcribe(retry=FAST_RETRY),
        FakeFrames(colors if colors is not None else [RED, GREEN, RED, BLUE]),
        Caption(retry=FAST_RETRY),
        Embed(retry=FAST_RETRY),
    ]
    return vp.Pipeline(
        stages,
        store=store,
        provider=OpenAIProvider(api_key=KEY) if provider == "openai" else provider,
        data_dir=tmp_path / "data",
        settings=vp.Settings(vision_max_concurrent=vision_max, _env_file=None),
    )


def video(tmp_path: Path, name: str = "talk.mp4", content: bytes = b"video bytes") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


async def test_the_ai_stages_end_to_end(fake: FakeOpenAI, tmp_path: Path) -> None:
    store = MemoryStore()
    result = await pipeline(store, tmp_path).run(video(tmp_path))
    assert result.ok, result
    vid = result.video_id
    segments = await store.list_segments(vid)
    assert [(s.id, s.t_start, s.t_end, s.text) for s in segments] == [
        (f"{vid}_segment_000", 0.0, 2.0, "Welcome to the budget review."),
        (f"{vid}_segment_001", 2.0, 4.5, "Revenue grew by twelve percent."),
    ]
    srt = (tmp_path / "data" / "subs" / f"{vid}.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,000\nWelcome to the budget review.\n")
    assert "2\n00:00:02,000 --> 00:00:04,500\nRevenue grew by twelve percent.\n" in srt
    captions = await store.list_captions(vid)
    assert [c.id for c in captions] == [f"{vid}_frame_{i:03d}_caption" for i in range(4)]
    assert fake.vision_calls == 3  # the duplicate red frame is not sent
    assert captions[2].caption == captions[0].caption  # ...it gets its original's caption
    assert captions[0].ocr_text.startswith("SLIDE")
    assert all(c.error is None for c in captions)
    vectors = [e for e in store.embeddings.values() if e.video_id == vid]
    assert len(vectors) == 2 + 4
    assert {len(e.vector) for e in vectors} == {DIM}
    assert fake.embeddings.call_count == 1  # every text in one request
    usage = result.usage
    assert usage.audio_seconds == 4.5
    assert usage.images == 3
    assert usage.requests == 1 + 3 + 1
    assert usage.cost_usd > 0
    hits = await store.search(
        vector_for("Revenue grew by twelve percent."), model="text-embedding-3-small", k=2
    )
    assert hits[0].id == f"{vid}_segment_001"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert (hits[0].t_start, hits[0].t_end) == (2.0, 4.5)


async def test_a_rerun_of_a_finished_video_makes_no_http_call(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    p = pipeline(store, tmp_path)
    await p.run(video(tmp_path))
    calls = fake.calls
    again = await p.run(video(tmp_path))
    assert again.ok
    assert fake.calls == calls
    assert len(fake.router.calls) == calls


async def test_forcing_embeddings_again_reuses_stored_vectors(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    p = pipeline(store, tmp_path)
    await p.run(video(tmp_path))
    before = fake.embeddings.call_count
    result = await p.run(video(tmp_path), force={"embeddings"})
    assert fake.embeddings.call_count == before
    assert result.stages["embeddings"].detail == {"texts": 6, "embedded": 0, "requests": 0}


async def test_identical_frames_and_texts_in_another_video_cost_nothing(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    p = pipeline(store, tmp_path)
    await p.run(video(tmp_path, "a.mp4", b"first"))
    vision, embeds = fake.vision_calls, fake.embeddings.call_count
    second = await p.run(video(tmp_path, "b.mp4", b"second"))
    assert second.ok
    assert fake.vision_calls == vision  # captions come from the pHash cache
    assert fake.embeddings.call_count == embeds  # same texts, same model: vectors reused
    assert len(await store.list_captions(second.video_id)) == 4


async def test_no_audio_skips_transcription_and_still_embeds_captions(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    result = await pipeline(store, tmp_path, audio=False).run(video(tmp_path))
    assert result.ok
    assert result.stages["transcribe"].status is vp.StageStatus.SKIPPED
    assert result.stages["transcribe"].detail == {"skipped": "the video has no audio track"}
    assert fake.transcriptions.call_count == 0
    assert result.stages["embeddings"].status is vp.StageStatus.DONE


async def test_without_a_provider_the_ai_stages_are_skipped_with_a_hint(tmp_path: Path) -> None:
    store = MemoryStore()
    with respx.mock(assert_all_mocked=True):  # any HTTP request would fail the test
        result = await pipeline(store, tmp_path, provider=None).run(video(tmp_path))
    assert result.ok
    for name in ("transcribe", "vision", "embeddings"):
        reason = result.stages[name].detail["skipped"]
        assert "OPENAI_API_KEY" in reason
        assert "OPENAI_BASE_URL" in reason


async def test_an_unparseable_frame_is_retried_once_then_recorded(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    answers = {1: "{not json", 2: "{still not json"}
    fake.vision_content = lambda n: answers.get(n, analysis_json(f"frame {n}"))
    result = await pipeline(store, tmp_path, colors=[RED, GREEN], vision_max=1).run(video(tmp_path))
    assert result.ok
    captions = await store.list_captions(result.video_id)
    assert captions[0].error is not None
    assert "could not be parsed" in captions[0].error
    assert captions[1].error is None
    assert fake.vision_calls == 3  # red twice (one retry), green once


async def test_a_malformed_answer_gets_one_retry_that_can_succeed(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    fake.vision_content = lambda n: "{oops" if n == 1 else analysis_json(f"frame {n}")
    result = await pipeline(store, tmp_path, colors=[RED], vision_max=1).run(video(tmp_path))
    [caption] = await store.list_captions(result.video_id)
    assert caption.error is None
    assert caption.caption == "frame 2"


async def test_vision_rate_limits_are_retried_after_the_servers_delay(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()
    ok = fake.chat.side_effect
    limited = [
        httpx.Response(429, headers={"retry-after": "0.1"}, json={"error": {"message": "slow"}})
    ]

    async def maybe_limited(request: httpx.Request) -> httpx.Response:
        return limited.pop() if limited else await ok(request)

    fake.chat.side_effect = maybe_limited
    from videopipe._observability import METRICS

    def metric(name: str) -> float:
        return METRICS.registry.get_sample_value(name, {"kind": "RateLimited"}) or 0.0

    errors, retries = (
        metric("videopipe_provider_request_errors_total"),
        metric("videopipe_provider_retries_total"),
    )
    started = anyio.current_time()
    result = await pipeline(store, tmp_path, colors=[RED], vision_max=1).run(video(tmp_path))
    assert result.ok
    assert anyio.current_time() - started >= 0.1
    assert fake.chat.call_count == 2
    # The 429 is counted as a failed request and as a retry in the worker's metrics.
    assert metric("videopipe_provider_request_errors_total") == errors + 1
    assert metric("videopipe_provider_retries_total") == retries + 1


async def test_a_bad_key_fails_the_stage_with_a_clear_error(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.chat.side_effect = httpx.Response(
        401, json={"error": {"message": "Incorrect API key provided"}}
    )
    store = MemoryStore()
    with pytest.raises(vp.StageError) as info:
        await pipeline(store, tmp_path).run(video(tmp_path))
    assert info.value.stage == "vision"
    assert "rejected the API key" in str(info.value)
    assert KEY not in str(info.value)
    result = info.value.result
    assert result.stages["transcribe"].status is vp.StageStatus.DONE  # independent work is kept
    assert result.stages["embeddings"].error == "not run: vision failed"


async def test_the_vision_cap_holds_across_videos(fake: FakeOpenAI, tmp_path: Path) -> None:
    """Two videos at once, 2 unique frames each and more in flight wanted: never above the cap."""
    store = MemoryStore()
    fake.vision_delay = 0.05
    colors = [(i * 40, 255 - i * 40, 7) for i in range(4)]
    p = pipeline(store, tmp_path, colors=colors, vision_max=2)
    results = await p.run_many(
        [video(tmp_path, "a.mp4", b"a"), video(tmp_path, "b.mp4", b"b")], concurrency=2
    )
    assert all(r.ok for r in results)
    # Both videos miss the cache at the same moment, so each sends its 4 frames.
    assert 4 <= fake.vision_calls <= 8
    assert fake.peak_vision == 2


def test_split_wav_cuts_long_audio_into_overlapping_chunks(tmp_path: Path) -> None:
    audio = make_wav(tmp_path / "long.wav", 20.0)  # 640 kB
    chunks = split_wav(audio, tmp_path / "chunks", max_bytes=200_000, overlap=1.0)
    assert len(chunks) >= 4
    assert chunks[0].start == 0.0
    assert chunks[-1].end == pytest.approx(20.0)
    for a, b in itertools.pairwise(chunks):
        assert a.end - b.start == pytest.approx(1.0, abs=0.001)  # they overlap by 1 s
    for c in chunks:
        assert c.path.stat().st_size <= 200_000
        with wave.open(str(c.path)) as w:
            assert w.getnframes() / w.getframerate() == pytest.approx(c.end - c.start)
    [whole] = split_wav(audio, tmp_path / "x", max_bytes=10**7)
    assert whole.path == audio


async def test_long_audio_is_sent_in_chunks_and_merged_with_offsets(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    store = MemoryStore()

    # Every chunk hears a word at 0.2 s (inside the previous chunk's overlap, except for
    # the first chunk) and one in its middle.
    def local(n: int) -> list[tuple[float, float, str]]:
        return [(0.2, 0.6, f"edge {n}"), (1.2, 1.8, f"middle {n}")]

    fake.transcript_for = local
    normalize = FakeNormalize(seconds=10.0)
    stages = [
        normalize,
        Transcribe(max_upload_bytes=100_000, overlap=1.0, retry=FAST_RETRY),
        FakeFrames([RED]),
        Caption(retry=FAST_RETRY),
        Embed(retry=FAST_RETRY),
    ]
    p = vp.Pipeline(stages, store=store, provider=OpenAIProvider(api_key=KEY), data_dir=tmp_path)
    result = await p.run(video(tmp_path))
    chunks = split_wav(
        tmp_path / "processed" / result.video_id / "audio.wav", tmp_path / "c", max_bytes=100_000
    )
    assert fake.transcriptions.call_count == len(chunks)
    segments = await store.list_segments(result.video_id)
    texts = [s.text for s in segments]
    # Chunk 0 keeps its edge word; later chunks' edge words fall in the overlap already
    # covered by the previous chunk and are dropped, never duplicated.
    assert texts[0] == "edge 0"
    assert [t for t in texts if t.startswith("middle")] == [
        f"middle {n}" for n in range(len(chunks))
    ]
    for n, chunk in enumerate(chunks):
        [middle] = [s for s in segments if s.text == f"middle {n}"]
        assert middle.t_start == pytest.approx(chunk.start + 1.2, abs=1e-3)
    assert [s.t_start for s in segments] == sorted(s.t_start for s in segments)
