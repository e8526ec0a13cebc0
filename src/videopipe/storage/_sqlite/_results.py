"""`SQLiteStore`'s `Results`: videos, stage runs, stage outputs, the cache and usage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..._exceptions import NotFound
from ..._models import (
    Frame,
    FrameCaption,
    Scene,
    StageRun,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
    utcnow,
)
from .._common import check_limit, check_text, clean_record, owned_by, sanitize_text
from .._fulltext import search_docs
from ._connection import (
    _Q,
    Row,
    SQLiteConnection,
    T,
    _json_keys,
    _ok,
    _path_in,
    _record,
    _require_video,
    _us,
    _us_or_none,
)

__all__ = ["SQLiteResults"]


class SQLiteResults(SQLiteConnection):
    """The [`Results`][videopipe.storage.Results] of a `SQLiteStore`."""

    # --- videos and stage runs -----------------------------------------------------------

    async def upsert_video(self, video: Video) -> Video:
        video = clean_record(video)
        params = _video_params(video)
        params["now"] = _us(utcnow())

        def op(conn: sqlite3.Connection) -> Video:
            return _record(Video, conn.execute(_Q["upsert_video"], params).fetchone())

        return await self._write(op)

    async def get_video(self, video_id: str) -> Video:
        def op(conn: sqlite3.Connection) -> Video:
            row = (
                conn.execute(_Q["get_video"], {"id": video_id}).fetchone()
                if _ok(video_id)
                else None
            )
            if row is None:
                raise NotFound(f"no video with id {video_id!r}")
            return _record(Video, row)

        return await self._run(op)

    async def list_videos(
        self, *, status: VideoStatus | None = None, limit: int = 100
    ) -> list[Video]:
        check_limit(limit)
        params = {"status": None if status is None else VideoStatus(status).value, "limit": limit}

        def op(conn: sqlite3.Connection) -> list[Video]:
            return [_record(Video, row) for row in conn.execute(_Q["list_videos"], params)]

        return await self._run(op)

    async def find_videos_by_path(self, original_path: str) -> list[Video]:
        params = {"path": _path_in(original_path)}

        def op(conn: sqlite3.Connection) -> list[Video]:
            return [_record(Video, row) for row in conn.execute(_Q["videos_by_path"], params)]

        return await self._run(op)

    async def count_videos(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            counts = {s.value: 0 for s in VideoStatus}
            counts.update({row["status"]: row["n"] for row in conn.execute(_Q["count_videos"])})
            return counts

        return await self._run(op)

    async def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        params = {
            "id": video_id,
            "status": VideoStatus(status).value,
            "error": None if error is None else sanitize_text(error),
            "now": _us(utcnow()),
        }

        def op(conn: sqlite3.Connection) -> None:
            if not _ok(video_id) or conn.execute(_Q["set_video_status"], params).fetchone() is None:
                raise NotFound(f"no video with id {video_id!r}")

        await self._write(op)

    async def record_stage_run(self, run: StageRun) -> None:
        run = clean_record(run)
        params = {
            "video_id": run.video_id,
            "stage": run.stage,
            "status": run.status.value,
            "attempt": run.attempt,
            "started_at": _us(run.started_at),
            "finished_at": _us_or_none(run.finished_at),
            "duration_sec": run.duration_sec,
            "error": run.error,
            "detail": json.dumps(run.detail, ensure_ascii=False),
        }

        def op(conn: sqlite3.Connection) -> None:
            _require_video(conn, run.video_id)
            conn.execute(_Q["upsert_stage_run"], params)

        await self._write(op)

    async def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        def op(conn: sqlite3.Connection) -> dict[str, StageRun]:
            if not _ok(video_id):
                return {}
            rows = conn.execute(_Q["get_stage_runs"], {"video_id": video_id})
            return {row["stage"]: _record(StageRun, row) for row in rows}

        return await self._run(op)

    # --- stage outputs -------------------------------------------------------------------

    async def _replace(
        self,
        kind: str,
        video_id: str,
        rows: Sequence[dict[str, Any]],
        upsert: str,
        docs: Sequence[dict[str, str]] | None = None,
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            _require_video(conn, video_id)
            conn.execute(_Q[f"delete_{kind}"], {"video_id": video_id})
            conn.executemany(_Q[upsert], rows)
            if docs is not None:  # the full-text index of segments and captions
                doc_kind = "segment" if kind == "segments" else "caption"
                conn.execute(_Q["delete_search_docs"], {"video_id": video_id, "kind": doc_kind})
                conn.executemany(_Q["upsert_search_doc"], docs)

        await self._write(op)

    async def _list(self, kind: str, video_id: str, convert: Callable[[Row], T]) -> list[T]:
        def op(conn: sqlite3.Connection) -> list[T]:
            if not _ok(video_id):
                return []
            return [
                convert(row) for row in conn.execute(_Q[f"list_{kind}"], {"video_id": video_id})
            ]

        return await self._run(op)

    async def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, scenes, what="scene")]
        await self._replace("scenes", video_id, rows, "upsert_scene")

    async def list_scenes(self, video_id: str) -> list[Scene]:
        return await self._list("scenes", video_id, lambda row: _record(Scene, row))

    async def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        rows = []
        for frame in owned_by(video_id, frames, what="frame"):
            params = clean_record(frame).model_dump()
            params["path"] = _path_in(params["path"])
            rows.append(params)
        await self._replace("frames", video_id, rows, "upsert_frame")

    async def list_frames(self, video_id: str) -> list[Frame]:
        return await self._list("frames", video_id, lambda row: _record(Frame, row))

    async def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, segments, what="segment")]
        docs = search_docs("segment", rows)
        await self._replace("segments", video_id, rows, "upsert_segment", docs)

    async def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        return await self._list("segments", video_id, lambda row: _record(TranscriptSegment, row))

    async def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        rows = []
        for caption in owned_by(video_id, captions, what="caption"):
            params = clean_record(caption).model_dump()
            params["entities"] = json.dumps(params["entities"], ensure_ascii=False)
            params["controls"] = json.dumps(params["controls"], ensure_ascii=False)
            rows.append(params)
        await self._replace(
            "captions", video_id, rows, "upsert_caption", search_docs("caption", rows)
        )

    async def list_captions(self, video_id: str) -> list[FrameCaption]:
        return await self._list("captions", video_id, lambda row: _record(FrameCaption, row))

    # --- cache ---------------------------------------------------------------------------

    async def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        params = {"keys": _json_keys(keys)}

        def op(conn: sqlite3.Connection) -> dict[str, str]:
            return {row["key"]: row["value"] for row in conn.execute(_Q["get_cached"], params)}

        return await self._run(op)

    async def put_cached(self, items: Mapping[str, str]) -> None:
        rows = [
            {"key": check_text(k, what="cache key"), "value": check_text(v, what="cached value")}
            for k, v in items.items()
        ]
        await self._write(lambda conn: conn.executemany(_Q["put_cached"], rows))

    # --- usage ---------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        params = clean_record(usage).model_dump()
        params["created_at"] = _us(params["created_at"])
        await self._write(lambda conn: conn.execute(_Q["insert_usage"], params))

    async def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        params = {"video_id": video_id, "job_id": job_id, "batch_id": batch_id}

        def op(conn: sqlite3.Connection) -> UsageSummary:
            if not all(_ok(v) for v in params.values() if v is not None):
                return UsageSummary()
            row = conn.execute(_Q["usage_summary"], params).fetchone()
            return _record(UsageSummary, row)

        return await self._run(op)


def _video_params(video: Video) -> dict[str, Any]:
    return {
        "id": video.id,
        "original_path": _path_in(video.original_path),
        "title": video.title,
        "normalized_path": _path_in(video.normalized_path),
        "audio_path": _path_in(video.audio_path),
        "duration_sec": video.duration_sec,
        "width": video.width,
        "height": video.height,
        "has_audio": None if video.has_audio is None else int(video.has_audio),
        "status": video.status.value,
        "error": video.error,
        "created_at": _us(video.created_at),
        "updated_at": _us(video.updated_at),
    }
