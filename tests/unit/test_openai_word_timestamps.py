"""OpenAIProvider's segments follow the words' times (issue 21 point 2), faked at the wire."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import respx

import videopipe as vp
from videopipe._media import format_srt
from videopipe.providers import OpenAIProvider
from videopipe.stages import Transcribe
from videopipe.storage import MemoryStore

from ..openai_fakes import BASE
from .test_ai_stages import FakeNormalize
from .test_openai_provider import KEY, make_wav

# What whisper-1 answers for the clip: Whisper's segments start where the previous
# one ended (silence included) and the first holds two sentences said 9 s apart; its
# words, bare of punctuation, have the times they were said.
SEGMENTS = [
    (0.0, 11.06, " Room 12 is booked for Peter. Room 15 is booked for Sarah."),
    (11.06, 20.5, " The budget meeting starts at 9."),
]
WORDS = [
    ("Room", 0.52, 0.8), ("12", 0.8, 1.2), ("is", 1.2, 1.4), ("booked", 1.4, 1.8),
    ("for", 1.8, 2.0), ("Peter", 2.0, 2.5),
    ("Room", 9.02, 9.3), ("15", 9.3, 9.8), ("is", 9.8, 10.0), ("booked", 10.0, 10.4),
    ("for", 10.4, 10.6), ("Sarah", 10.6, 11.05),
    ("The", 18.01, 18.2), ("budget", 18.2, 18.6), ("meeting", 18.6, 19.0),
    ("starts", 19.0, 19.4), ("at", 19.4, 19.6), ("9", 19.6, 20.2),
]  # fmt: skip
SAID = [
    (0.52, 2.5, "Room 12 is booked for Peter."),
    (9.02, 11.05, "Room 15 is booked for Sarah."),
    (18.01, 20.2, "The budget meeting starts at 9."),
]
# When a voice is heard in the audio sent: the last words' times above take in silence.
VOICE = [(0.55, 2.2), (9.05, 10.7), (18.05, 19.9)]
# The segments, trimmed to the voice with 0.1 s to spare.
TRIMMED = [(0.52, 2.3), (9.02, 10.8), (18.01, 20.0)]


def speech_wav(path: Path, voice: list[tuple[float, float]], seconds: float = 21.0) -> Path:
    """A 16 kHz WAV, silent but for a tone where `voice` says someone speaks."""
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    loud = np.zeros_like(t, dtype=bool)
    for a, b in voice:
        loud |= (t >= a) & (t < b)
    tone = np.where(loud, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((tone * 32767).astype("<i2").tobytes())
    return path


def verbose_json(
    segments: list[tuple[float, float, str]], words: list[tuple[str, float, float]] | None
) -> dict[str, Any]:
    """A `verbose_json` transcription as the API sends it (words only when asked for)."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": "english",
        "duration": 21.0,
        "text": "".join(t for _, _, t in segments).strip(),
        "segments": [
            {"id": i, "seek": 0, "start": a, "end": b, "text": t, "tokens": [50364],
             "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.3,
             "no_speech_prob": 0.01}
            for i, (a, b, t) in enumerate(segments)
        ],
        "usage": {"type": "duration", "seconds": 21},
    }  # fmt: skip
    if words is not None:
        body["words"] = [{"word": w, "start": a, "end": b} for w, a, b in words]
    return body


class VoiceNormalize(FakeNormalize):
    """Writes the audio of `VOICE` instead of a steady tone."""

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        output = await super().run(ctx)
        speech_wav(ctx.paths.audio, VOICE)
        return output


@pytest.fixture
def answers() -> Iterator[list[dict[str, Any]]]:
    """The transcription endpoint, answering the bodies put in the list, in turn."""
    bodies: list[dict[str, Any]] = []
    with respx.mock(assert_all_mocked=True) as router:
        router.post(f"{BASE}/audio/transcriptions").mock(
            side_effect=lambda request: httpx.Response(200, json=bodies.pop(0))
        )
        yield bodies


async def test_segments_start_when_their_first_word_is_said(
    answers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Not where Whisper's previous segment ended; and two sentences are two segments."""
    answers.append(verbose_json(SEGMENTS, WORDS))
    provider = OpenAIProvider(api_key=KEY, max_retries=0)
    (tmp_path / "a.mp3").write_bytes(b"ID3 not a WAV: no trimming")
    transcript = await provider.transcribe(tmp_path / "a.mp3")
    assert [(p.start, p.end, p.text) for p in transcript.segments] == SAID
    assert transcript.usage.audio_seconds == 21.0


async def test_segments_are_trimmed_to_the_voice_in_the_wav_sent(
    answers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The words' times take in silence at an utterance's end; the audio sent shows it."""
    answers.append(verbose_json(SEGMENTS, WORDS))
    provider = OpenAIProvider(api_key=KEY, max_retries=0)
    transcript = await provider.transcribe(speech_wav(tmp_path / "a.wav", VOICE))
    got = [(p.start, p.end) for p in transcript.segments]
    assert got == [(pytest.approx(a, abs=0.011), pytest.approx(b, abs=0.011)) for a, b in TRIMMED]


async def test_word_and_segment_timestamps_are_asked_for(tmp_path: Path) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(f"{BASE}/audio/transcriptions").mock(
            return_value=httpx.Response(200, json=verbose_json(SEGMENTS, WORDS))
        )
        await OpenAIProvider(api_key=KEY, max_retries=0).transcribe(
            make_wav(tmp_path / "a.wav", 1.0)
        )
    body = route.calls.last.request.content
    assert b'name="response_format"\r\n\r\nverbose_json' in body
    assert b'name="timestamp_granularities[]"\r\n\r\nword' in body
    assert b'name="timestamp_granularities[]"\r\n\r\nsegment' in body


async def test_a_server_without_word_times_gives_its_segments(
    answers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """An OpenAI-compatible server that ignores the word granularity still works."""
    answers.append(verbose_json(SEGMENTS, None))
    provider = OpenAIProvider(api_key=KEY, max_retries=0)
    transcript = await provider.transcribe(make_wav(tmp_path / "a.wav", 1.0))
    assert [(p.start, p.end, p.text) for p in transcript.segments] == [
        (a, b, t.strip()) for a, b, t in SEGMENTS
    ]


async def test_stored_segments_and_subtitles_follow_the_utterances(
    answers: list[dict[str, Any]], tmp_path: Path
) -> None:
    """What search and the SRT file show: one segment per sentence, at its moment."""
    answers.append(verbose_json(SEGMENTS, WORDS))
    store = MemoryStore()
    stages = [VoiceNormalize(seconds=21.0), Transcribe()]
    pipeline = vp.Pipeline(
        stages, store=store, provider=OpenAIProvider(api_key=KEY, max_retries=0), data_dir=tmp_path
    )
    (tmp_path / "talk.mp4").write_bytes(b"not read: normalize is faked")
    result = await pipeline.run(tmp_path / "talk.mp4")
    assert result.ok, result.error
    segments = await store.list_segments(result.video_id)
    assert [s.text for s in segments] == [text for _, _, text in SAID]
    got = [(s.t_start, s.t_end) for s in segments]
    assert got == [(pytest.approx(a, abs=0.011), pytest.approx(b, abs=0.011)) for a, b in TRIMMED]
    srt = (tmp_path / "subs" / f"{result.video_id}.srt").read_text()
    assert srt == format_srt([(s.t_start, s.t_end, s.text) for s in segments])
    assert srt.count("-->") == 3
