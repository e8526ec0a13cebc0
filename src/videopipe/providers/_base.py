"""The `Provider` protocol: the AI calls the pipeline's AI stages make."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CallUsage",
    "Captioned",
    "Embedded",
    "FrameAnalysis",
    "Price",
    "Priced",
    "Provider",
    "Transcript",
    "TranscriptPiece",
]


class CallUsage(BaseModel):
    """What one provider call spent."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    images: int = 0
    texts: int = 0
    cost_usd: float = 0.0


class TranscriptPiece(BaseModel):
    """One timestamped piece of a transcription."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    text: str


class Transcript(BaseModel):
    """A transcription with timestamps."""

    model_config = ConfigDict(frozen=True)

    segments: list[TranscriptPiece]
    language: str | None = None
    duration_sec: float | None = None
    usage: CallUsage


class FrameAnalysis(BaseModel):
    """What a vision model reports about one frame (the structured-output schema)."""

    caption: str = Field(description="One or two sentences describing what the frame shows.")
    entities: list[str] = Field(
        default_factory=list, description="Notable people, objects, brands or places visible."
    )
    on_screen_text: str = Field(default="", description="Text readable in the frame, verbatim.")
    controls: list[str] = Field(
        default_factory=list, description="User-interface controls visible (buttons, menus)."
    )


class Captioned(BaseModel):
    """A frame's analysis and what it cost."""

    model_config = ConfigDict(frozen=True)

    analysis: FrameAnalysis
    usage: CallUsage


class Embedded(BaseModel):
    """Vectors for a list of texts, in the same order, and what they cost."""

    model_config = ConfigDict(frozen=True)

    vectors: list[list[float]]
    model: str
    usage: CallUsage


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs, in US dollars."""

    per_audio_minute: float = 0.0
    per_million_input_tokens: float = 0.0
    per_million_output_tokens: float = 0.0

    def cost(
        self, *, audio_seconds: float = 0, input_tokens: int = 0, output_tokens: int = 0
    ) -> float:
        """The estimated cost of a call."""
        return (
            audio_seconds / 60 * self.per_audio_minute
            + input_tokens / 1e6 * self.per_million_input_tokens
            + output_tokens / 1e6 * self.per_million_output_tokens
        )


class Provider(Protocol):
    """**Protocol:** the AI calls of the transcribe, vision and embeddings stages.

    Every call returns its usage, so stages can record cost per video and job.

    Note:
        Added in 0.1.0.
    """

    @property
    def name(self) -> str:
        """A short name for usage rows, such as `"openai"`."""
        ...

    @property
    def transcription_model(self) -> str:
        """The model `transcribe` uses; recorded with its usage."""
        ...

    @property
    def vision_model(self) -> str:
        """The model `caption` uses; part of the caption cache's key."""
        ...

    @property
    def embedding_model(self) -> str:
        """The model `embed` uses; stored with every vector, so search compares like with like."""
        ...

    async def transcribe(
        self, audio_path: str | os.PathLike[str], *, language: str | None = None
    ) -> Transcript:
        """Transcribe an audio file with timestamps."""
        ...

    async def caption(
        self, image_path: str | os.PathLike[str], *, prompt: str | None = None
    ) -> Captioned:
        """Describe one image: caption, entities, on-screen text, UI controls."""
        ...

    async def embed(self, texts: Sequence[str]) -> Embedded:
        """Embed texts, in order, in as few requests as the provider allows."""
        ...

    async def aclose(self) -> None:
        """Release what the provider opened (HTTP connections); calling it twice is harmless.

        Note:
            Added in 0.1.0.
        """
        ...


@runtime_checkable
class Priced(Protocol):
    """**Protocol:** a provider that publishes what its models cost.

    Estimates and budgets use it; a provider without prices (a local model, a
    self-hosted server) costs nothing.

    Note:
        Added in 0.1.0.
    """

    def price(self, model: str) -> Price:
        """The price of `model`."""
        ...


@runtime_checkable
class ReportsTranscription(Protocol):
    """**Protocol:** a provider whose transcription says how far it is while it runs.

    The transcribe stage calls `transcribe_reporting` instead of `transcribe`
    when the provider has it, and shows the seconds heard as the stage's
    progress (a remote API answers all at once: only a local model can say).

    Note:
        Added in 0.2.0.
    """

    async def transcribe_reporting(
        self,
        audio_path: str | os.PathLike[str],
        *,
        language: str | None = None,
        progress: Callable[[float], object],
    ) -> Transcript:
        """`transcribe`, calling `progress` with the seconds of audio heard so far.

        `progress` may be called from a worker thread; it must be quick and
        thread-safe (the stage's `report_progress` is).
        """
        ...
