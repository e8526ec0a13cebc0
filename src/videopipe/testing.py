"""Fakes for testing code that uses videopipe, without a network or an API key.

```python
from videopipe.testing import FakeProvider

provider = FakeProvider()
pipeline = vp.Pipeline.default(store=vp.open_store("memory://"), provider=provider)
result = await pipeline.run("talk.mp4")
assert provider.calls["caption"] == 3
```
"""

from __future__ import annotations

import hashlib
import math
import os
import wave
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import anyio
import anyio.to_thread

from .providers import CallUsage, Captioned, Embedded, FrameAnalysis, Transcript, TranscriptPiece
from .storage import MemoryStore

__all__ = ["FakeProvider", "MemoryStore", "fake_vector"]


def fake_vector(text: str, dimensions: int = 64) -> list[float]:
    """A deterministic unit vector for `text`: equal texts give equal vectors.

    Texts that share words get closer vectors than texts that share none, so
    search results are meaningful in tests.
    """
    vector = [0.0] * dimensions
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,!?;:").encode()).digest()
        for i in range(0, 8, 2):
            vector[digest[i] % dimensions] += 1.0 if digest[i + 1] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeProvider:
    """A [`Provider`][videopipe.providers.Provider] that answers from the input, offline.

    - `transcribe` returns one segment per `sentence_seconds` of audio, with
      the texts of `sentences` in turn.
    - `caption` describes a frame by a digest of its bytes, so identical frames
      get identical captions.
    - `embed` returns `fake_vector(text)`.

    It records what it was asked: `calls` counts calls per method and
    `requests` lists `(method, argument)` pairs. `reset()` clears both.

    Args:
        sentences: What the fake transcription says.
        sentence_seconds: How long each sentence lasts.
        dimensions: The embedding size.
        delay: Seconds each call takes (to exercise concurrency).

    Note:
        Added in 0.1.0.
    """

    name = "fake"
    transcription_model = "fake-whisper"
    vision_model = "fake-vision"

    def __init__(
        self,
        *,
        sentences: Sequence[str] = ("Hello and welcome.", "This is a test video."),
        sentence_seconds: float = 2.0,
        dimensions: int = 64,
        delay: float = 0.0,
    ) -> None:
        self.sentences = list(sentences)
        self.sentence_seconds = sentence_seconds
        self.dimensions = dimensions
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, object]] = []

    @property
    def embedding_model(self) -> str:
        """`fake-embedding-{dimensions}`."""
        return f"fake-embedding-{self.dimensions}"

    def reset(self) -> None:
        """Forget the recorded calls."""
        self.calls.clear()
        self.requests.clear()

    async def _called(self, method: str, argument: object) -> None:
        self.calls[method] += 1
        self.requests.append((method, argument))
        if self.delay:
            await anyio.sleep(self.delay)

    async def transcribe(
        self, audio_path: str | os.PathLike[str], *, language: str | None = None
    ) -> Transcript:
        """One segment per `sentence_seconds` of the WAV's duration."""
        await self._called("transcribe", os.fspath(audio_path))

        def duration() -> float:
            with wave.open(os.fspath(audio_path), "rb") as w:
                return w.getnframes() / w.getframerate()

        seconds = await anyio.to_thread.run_sync(duration)
        count = max(1, int(seconds // self.sentence_seconds))
        segments = [
            TranscriptPiece(
                start=i * self.sentence_seconds,
                end=min(seconds, (i + 1) * self.sentence_seconds),
                text=self.sentences[i % len(self.sentences)],
            )
            for i in range(count)
        ]
        usage = CallUsage(provider=self.name, model=self.transcription_model, audio_seconds=seconds)
        return Transcript(
            segments=segments, language=language or "en", duration_sec=seconds, usage=usage
        )

    async def caption(
        self, image_path: str | os.PathLike[str], *, prompt: str | None = None
    ) -> Captioned:
        """A caption derived from the image's bytes."""
        await self._called("caption", os.fspath(image_path))
        data = await anyio.to_thread.run_sync(Path(image_path).read_bytes)
        tag = hashlib.sha256(data).hexdigest()[:8]
        analysis = FrameAnalysis(
            caption=f"A frame showing scene {tag}",
            entities=[f"object-{tag[:4]}"],
            on_screen_text=f"TEXT {tag.upper()}",
        )
        usage = CallUsage(provider=self.name, model=self.vision_model, images=1, input_tokens=85)
        return Captioned(analysis=analysis, usage=usage)

    async def embed(self, texts: Sequence[str]) -> Embedded:
        """`fake_vector` of each text."""
        await self._called("embed", list(texts))
        usage = CallUsage(provider=self.name, model=self.embedding_model, texts=len(texts))
        return Embedded(
            vectors=[fake_vector(t, self.dimensions) for t in texts],
            model=self.embedding_model,
            usage=usage,
        )

    async def aclose(self) -> None:
        """Nothing to release; counted in `calls["aclose"]`."""
        self.calls["aclose"] += 1

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
