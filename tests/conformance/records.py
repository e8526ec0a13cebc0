"""Small builders for the records the conformance suite stores."""

from __future__ import annotations

from videopipe._models import (
    Embedding,
    Frame,
    FrameCaption,
    Scene,
    TranscriptSegment,
    Video,
    caption_id,
    frame_id,
    scene_id,
    segment_id,
    text_hash,
)


def video(video_id: str = "talk", **fields) -> Video:
    return Video(id=video_id, original_path=f"/videos/{video_id}.mp4", **fields)


KINDS = ("cut", "fade_in", "fade_out", "dissolve")


def scenes(video_id: str, n: int, *, length: float = 10.0) -> list[Scene]:
    """`n` scenes of `length` s; their boundaries go through every kind, some with black edges."""
    return [
        Scene(
            id=scene_id(video_id, i),
            video_id=video_id,
            idx=i,
            t_start=i * length,
            t_end=(i + 1) * length,
            transition_in=None if i == 0 else KINDS[i % 4],
            transition_out=None if i == n - 1 else KINDS[(i + 1) % 4],
            content_start=i * length + (0.25 if i % 2 else 0.0),
            content_end=(i + 1) * length - (0.125 if i % 3 else 0.0),
        )
        for i in range(n)
    ]


def frames(video_id: str, n: int, *, length: float = 10.0) -> list[Frame]:
    return [
        Frame(
            id=frame_id(video_id, i),
            video_id=video_id,
            scene_id=scene_id(video_id, i),
            idx=i,
            t=i * length + length / 2,
            path=f"frames/{video_id}/scene_{i:03d}.jpg",
            phash=f"{i:016x}",
            duplicate_of=None if i == 0 else frame_id(video_id, 0) if i == 2 else None,
        )
        for i in range(n)
    ]


def segments(video_id: str, texts: list[str], *, length: float = 5.0) -> list[TranscriptSegment]:
    return [
        TranscriptSegment(
            id=segment_id(video_id, i),
            video_id=video_id,
            idx=i,
            t_start=i * length,
            t_end=(i + 1) * length,
            text=text,
        )
        for i, text in enumerate(texts)
    ]


def captions(video_id: str, texts: list[str], *, length: float = 10.0) -> list[FrameCaption]:
    return [
        FrameCaption(
            id=caption_id(frame_id(video_id, i)),
            video_id=video_id,
            frame_id=frame_id(video_id, i),
            t=i * length + length / 2,
            caption=text,
            entities=["person", f"thing {i}"],
            ocr_text=f"slide {i}" if i % 2 else "",
            controls=["play"] if i == 0 else [],
            model="vision-model",
        )
        for i, text in enumerate(texts)
    ]


def embedding(owner_id: str, video_id: str, kind, vector, *, model="m", text="") -> Embedding:
    return Embedding(
        owner_id=owner_id,
        video_id=video_id,
        kind=kind,
        model=model,
        vector=list(vector),
        text_hash=text_hash(text or owner_id),
    )
