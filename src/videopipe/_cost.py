"""Prices of provider calls, and cost estimates before processing."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import _media as media
from ._exceptions import NotFound
from ._inputs import video_id_for
from ._models import StageStatus
from ._stage import EMBEDDINGS, TRANSCRIBE, VISION, UploadsAudio
from .providers._base import Priced

if TYPE_CHECKING:
    from ._stage import Stage
    from .providers import Provider
    from .storage import Results

__all__ = [
    "Estimate",
    "ItemEstimate",
    "StageEstimate",
    "embedding_cost",
    "estimate",
    "text_tokens",
    "transcription_cost",
    "vision_cost",
]

# --- the assumptions of an estimate -------------------------------------------------------

SECONDS_PER_SCENE = 5.0
"""Scenes assumed per second of video when none are stored yet: one every 5 s."""
WAV_BYTES_PER_SECOND = 16_000 * 2
"""16 kHz mono 16-bit PCM, what the normalize stage writes and transcription sends."""
WAV_HEADER_BYTES = 44
DEFAULT_MAX_UPLOAD_BYTES = 24 * 1024 * 1024
VISION_IMAGE_TOKENS = 85
"""A low-detail image costs 85 input tokens with gpt-4o."""
VISION_PROMPT_TOKENS = 100
VISION_OUTPUT_TOKENS = 80
WORDS_PER_SECOND = 2.5
"""Speech rate assumed for the transcript's size."""
TOKENS_PER_WORD = 1.3
SECONDS_PER_SEGMENT = 5.0
"""Average length of a transcript segment (one embedded text each)."""
CAPTION_TOKENS = VISION_OUTPUT_TOKENS
"""A caption's embedded text is about as long as the vision model's answer."""
EMBED_INPUTS_PER_REQUEST = 2048


@dataclass(frozen=True, slots=True)
class StageEstimate:
    """The expected provider calls and cost of one AI stage for one video.

    Note:
        Added in 0.1.0.
    """

    stage: str
    model: str | None
    requests: int = 0
    cost_usd: float = 0.0
    completed: bool = False
    """The stage already completed for this video: a run will not redo it (and costs 0)."""


@dataclass(frozen=True, slots=True)
class ItemEstimate:
    """The estimate for one input of [`Pipeline.estimate`][videopipe.Pipeline.estimate].

    Note:
        Added in 0.1.0.
    """

    source: str
    video_id: str | None = None
    duration_sec: float = 0.0
    has_audio: bool = False
    frames: int = 0
    """Frames expected to be captioned (unique frames or scenes stored, else assumed)."""
    frames_assumed: bool = True
    """`True` when `frames` comes from the one-scene-per-5-seconds assumption."""
    stages: Mapping[str, StageEstimate] = field(default_factory=dict)
    error: Exception | None = None
    """Why the input could not be estimated (missing, empty, not a video...)."""

    @property
    def ok(self) -> bool:
        """Whether the input could be probed."""
        return self.error is None

    def requests(self, stage: str) -> int:
        """Expected requests of `stage` (0 for a stage not in the pipeline)."""
        s = self.stages.get(stage)
        return s.requests if s else 0

    @property
    def transcription_requests(self) -> int:
        """Expected transcription requests (one per audio chunk of at most 25 MB)."""
        return self.requests(TRANSCRIBE)

    @property
    def vision_calls(self) -> int:
        """Expected vision calls (one per unique frame)."""
        return self.requests(VISION)

    @property
    def embedding_requests(self) -> int:
        """Expected embedding requests."""
        return self.requests(EMBEDDINGS)

    @property
    def cost_usd(self) -> float:
        """Expected cost of the item, in US dollars."""
        return sum(s.cost_usd for s in self.stages.values())


@dataclass(frozen=True, slots=True)
class Estimate:
    """What processing some videos is expected to cost, without calling the provider.

    Note:
        Added in 0.1.0.
    """

    items: list[ItemEstimate]

    @property
    def duration_sec(self) -> float:
        """Total duration of the probed inputs."""
        return sum(i.duration_sec for i in self.items)

    @property
    def transcription_requests(self) -> int:
        """Total expected transcription requests."""
        return sum(i.transcription_requests for i in self.items)

    @property
    def vision_calls(self) -> int:
        """Total expected vision calls."""
        return sum(i.vision_calls for i in self.items)

    @property
    def embedding_requests(self) -> int:
        """Total expected embedding requests."""
        return sum(i.embedding_requests for i in self.items)

    @property
    def cost_usd(self) -> float:
        """Total expected cost, in US dollars."""
        return sum(i.cost_usd for i in self.items)

    @property
    def failed(self) -> list[ItemEstimate]:
        """The inputs that could not be probed."""
        return [i for i in self.items if i.error is not None]

    def table(self) -> str:
        """A plain-text table: one row per input, then the total."""
        lines = [
            f"{'video':<22} {'minutes':>8} {'transcr.':>8} {'vision':>7} {'embed':>6} "
            f"{'USD':>10}  input / error"
        ]
        for i in self.items:
            if i.error is not None:
                blank = f"{'-':<22} {'':>8} {'':>8} {'':>7} {'':>6} {'':>10}"
                lines.append(f"{blank}  {i.source}: {i.error}")
                continue
            lines.append(
                f"{i.video_id or '-':<22} {i.duration_sec / 60:>8.2f} "
                f"{i.transcription_requests:>8} {i.vision_calls:>7} {i.embedding_requests:>6} "
                f"{i.cost_usd:>10.4f}  {i.source}"
            )
        lines.append(
            f"{'total':<22} {self.duration_sec / 60:>8.2f} {self.transcription_requests:>8} "
            f"{self.vision_calls:>7} {self.embedding_requests:>6} {self.cost_usd:>10.4f}  "
            f"{len(self.items) - len(self.failed)} videos, {len(self.failed)} failed to probe"
        )
        return "\n".join(lines)


# --- prices -----------------------------------------------------------------------------------


def _cost(
    provider: Provider,
    model: str,
    *,
    audio_seconds: float = 0.0,
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> float:
    """The provider's price for a call; 0 when it publishes none (a local server)."""
    if not isinstance(provider, Priced):
        return 0.0
    price = provider.price(_base_model(model))
    return float(
        price.cost(
            audio_seconds=audio_seconds, input_tokens=input_tokens, output_tokens=output_tokens
        )
    )


def _base_model(model: str) -> str:
    """The model without shortened dimensions: `text-embedding-3-small@512` is priced as is."""
    return model.split("@", 1)[0]


def transcription_cost(provider: Provider, audio_seconds: float) -> float:
    """The expected cost of transcribing `audio_seconds` of audio."""
    return _cost(provider, provider.transcription_model, audio_seconds=audio_seconds)


def vision_cost(provider: Provider, images: int) -> float:
    """The expected cost of captioning `images` low-detail frames."""
    return images * _cost(
        provider,
        provider.vision_model,
        input_tokens=VISION_IMAGE_TOKENS + VISION_PROMPT_TOKENS,
        output_tokens=VISION_OUTPUT_TOKENS,
    )


def embedding_cost(provider: Provider, tokens: int) -> float:
    """The expected cost of embedding `tokens` tokens of text."""
    return _cost(provider, provider.embedding_model, input_tokens=tokens)


def text_tokens(texts: Iterable[str]) -> int:
    """A generous token count of texts: about 3 characters per token."""
    return sum(len(t) // 3 + 1 for t in texts)


def transcription_chunks(
    duration_sec: float, *, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, overlap: float = 1.0
) -> tuple[int, float]:
    """The requests that transcribing `duration_sec` of 16 kHz mono WAV takes, and seconds sent.

    Mirrors [`split_wav`][videopipe.stages.split_wav]: chunks of at most
    `max_bytes`, overlapping by `overlap` seconds.
    """
    rate = WAV_BYTES_PER_SECOND // 2
    total = math.ceil(duration_sec * rate)
    if total <= 0:
        return 0, 0.0
    if WAV_HEADER_BYTES + total * 2 <= max_bytes:
        return 1, duration_sec
    per_chunk = (max_bytes - WAV_HEADER_BYTES) // 2
    overlap_frames = min(int(overlap * rate), per_chunk // 4)
    chunks = 1 + math.ceil((total - per_chunk) / (per_chunk - overlap_frames))
    return chunks, duration_sec + (chunks - 1) * overlap_frames / rate


# --- the estimate -------------------------------------------------------------------------


async def estimate(
    sources: Iterable[str | os.PathLike[str]],
    *,
    stages: Sequence[Stage],
    store: Results,
    provider: Provider | None,
) -> Estimate:
    """What a pipeline of `stages` is expected to spend on `sources`; see `Pipeline.estimate`."""
    return Estimate([await _estimate_one(source, stages, store, provider) for source in sources])


async def _estimate_one(
    source: str | os.PathLike[str],
    pipeline_stages: Sequence[Stage],
    store: Results,
    provider: Provider | None,
) -> ItemEstimate:
    name = os.fspath(source)
    try:
        video_id = await video_id_for(source)
        info = await media.probe(source)
    except Exception as exc:
        return ItemEstimate(source=name, error=exc)
    by_name = {s.name: s for s in pipeline_stages}
    try:
        await store.get_video(video_id)
        known = True
    except NotFound:
        known = False
    runs = await store.get_stage_runs(video_id) if known else {}

    def completed(stage: str) -> bool:
        run = runs.get(stage)
        return run is not None and run.status in (StageStatus.DONE, StageStatus.SKIPPED)

    duration = info.duration_sec
    frames_assumed = True
    frames = math.ceil(duration / SECONDS_PER_SCENE) if duration > 0 else 0
    if known:
        stored_frames = await store.list_frames(video_id)
        stored_scenes = await store.list_scenes(video_id)
        if stored_frames:
            frames = sum(1 for f in stored_frames if f.duplicate_of is None)
            frames_assumed = False
        elif stored_scenes:
            frames = len(stored_scenes)
            frames_assumed = False

    stages: dict[str, StageEstimate] = {}
    segments = 0
    if TRANSCRIBE in by_name:
        stage = by_name[TRANSCRIBE]
        model = _base_model(provider.transcription_model) if provider else None
        if completed(TRANSCRIBE):
            stages[TRANSCRIBE] = StageEstimate(TRANSCRIBE, model, completed=True)
        elif provider is not None and info.has_audio:
            requests, seconds = transcription_chunks(
                duration,
                max_bytes=stage.max_upload_bytes
                if isinstance(stage, UploadsAudio)
                else DEFAULT_MAX_UPLOAD_BYTES,
                overlap=stage.overlap if isinstance(stage, UploadsAudio) else 1.0,
            )
            stages[TRANSCRIBE] = StageEstimate(
                TRANSCRIBE, model, requests, transcription_cost(provider, seconds)
            )
        else:
            stages[TRANSCRIBE] = StageEstimate(TRANSCRIBE, model)
        if info.has_audio and provider is not None:
            segments = math.ceil(duration / SECONDS_PER_SEGMENT)
    captions = 0
    if VISION in by_name:
        model = _base_model(provider.vision_model) if provider else None
        if completed(VISION):
            stages[VISION] = StageEstimate(VISION, model, completed=True)
        elif provider is not None:
            stages[VISION] = StageEstimate(VISION, model, frames, vision_cost(provider, frames))
        else:
            stages[VISION] = StageEstimate(VISION, model)
        captions = frames if provider is not None else 0
    if EMBEDDINGS in by_name:
        model = _base_model(provider.embedding_model) if provider else None
        texts = segments + captions
        if completed(EMBEDDINGS):
            stages[EMBEDDINGS] = StageEstimate(EMBEDDINGS, model, completed=True)
        elif provider is not None and texts:
            tokens = round(duration * WORDS_PER_SECOND * TOKENS_PER_WORD) if segments else 0
            tokens += captions * CAPTION_TOKENS
            stages[EMBEDDINGS] = StageEstimate(
                EMBEDDINGS,
                model,
                math.ceil(texts / EMBED_INPUTS_PER_REQUEST),
                embedding_cost(provider, tokens),
            )
        else:
            stages[EMBEDDINGS] = StageEstimate(EMBEDDINGS, model)
    return ItemEstimate(
        source=name,
        video_id=video_id,
        duration_sec=duration,
        has_audio=info.has_audio,
        frames=frames,
        frames_assumed=frames_assumed,
        stages=stages,
    )
