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
from ._local import LOCAL_MODEL_FILES, LocalProvider, ModelFile
from ._openai import PRICES, OpenAIProvider, Price

__all__ = [
    "LOCAL_MODEL_FILES",
    "PRICES",
    "CallUsage",
    "Captioned",
    "Embedded",
    "FrameAnalysis",
    "LocalProvider",
    "ModelFile",
    "OpenAIProvider",
    "Price",
    "Provider",
    "Transcript",
    "TranscriptPiece",
]
