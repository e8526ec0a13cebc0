"""The AI providers behind the transcribe, vision and embeddings stages."""

from __future__ import annotations

from .._imports import public as _public
from ._base import (
    CallUsage,
    Captioned,
    Embedded,
    FrameAnalysis,
    Price,
    Priced,
    Provider,
    ReportsTranscription,
    Transcript,
    TranscriptPiece,
)
from ._choose import ProviderFactory, register_provider
from ._http import classify_http_error
from ._local import LOCAL_MODEL_FILES, LocalProvider, ModelFile
from ._openai import PRICES, OpenAIProvider

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
    "Priced",
    "Provider",
    "ProviderFactory",
    "ReportsTranscription",
    "Transcript",
    "TranscriptPiece",
    "classify_http_error",
    "register_provider",
]

_public(globals(), __name__)
