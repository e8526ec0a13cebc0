"""The pipeline's stages. Use them to build your own pipeline, or replace one of the defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._imports import public as _public
from ._ai import Caption, Embed, Transcribe, split_wav
from ._local import DetectScenes, ExtractFrames, Normalize

if TYPE_CHECKING:
    from .._stage import Stage

__all__ = [
    "Caption",
    "DetectScenes",
    "Embed",
    "ExtractFrames",
    "Normalize",
    "Transcribe",
    "default_stages",
    "split_wav",
]


def default_stages() -> list[Stage]:
    """New instances of the six default stages, in pipeline order."""
    return [Normalize(), Transcribe(), DetectScenes(), ExtractFrames(), Caption(), Embed()]


_public(globals(), __name__)
