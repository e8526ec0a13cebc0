"""The AI providers behind the transcribe, vision and embeddings stages."""

from __future__ import annotations

from ._base import (
    CallUsage,
    Captioned,
    Embedded,
    FrameAnalysis,
    Provider,
    Transcript,
    TranscriptPiece,
)
from ._openai import PRICES, OpenAIProvider, Price

__all__ = [
    "PRICES",
    "CallUsage",
    "Captioned",
    "Embedded",
    "FrameAnalysis",
    "OpenAIProvider",
    "Price",
    "Provider",
    "Transcript",
    "TranscriptPiece",
]
