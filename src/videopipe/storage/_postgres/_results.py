"""`PostgresStore`'s `Results`: videos, stage runs, stage outputs, the cache and usage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, LiteralString

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
)
from .._common import check_limit, check_text, clean_record, new_id, owned_by, sanitize_text
from .._fulltext import search_docs
from ._connection import PostgresConnection
from ._values import _Q, Row, _ok, _path_in, _record, _require_video

if TYPE_CHECKING:
    from ._values import Conn

__all__ = ["PostgresResults"]


class PostgresResults(PostgresConnection):
    """The [`Results`][videopipe.storage.Results] of a `PostgresStore`."""

    # --- videos and stage runs -----------------------------------------------------------

    async def upsert_video(self, video: Video) -> Video:
        video = clean_record(video)
        row = await self._row(_Q["upsert_video"], _video_params(video))
        assert row is not None  # RETURNING of an upsert always has its row
        return _record(Video, row)

    async def get_video(self, video_id: str) -> Video:
        row = await self._row(_Q["get_video"], {"id": video_id}) if _ok(video_id) else None
        if row is None:
            self._check()
            raise NotFound(f"no video with id {video_id!r}")
        return _record(Video, row)

    async def list_videos(
        self, *, status: VideoStatus | None = None, limit: int = 100
    ) -> list[Video]:
        check_limit(limit)
        status_value = None if status is None else VideoStatus(status).value
        rows = await self._rows(_Q["list_videos"], {"status": status_value, "limit": limit})
        return [_record(Video, row) for row in rows]

    async def find_videos_by_path(self, original_path: str) -> list[Video]:
        text, raw = _path_in(original_path)
        rows = await self._rows(_Q["videos_by_path"], {"path": text, "raw": raw})
        return [_record(Video, row) for row in rows]

    async def count_videos(self) -> dict[str, int]:
        counts = {s.value: 0 for s in VideoStatus}
        counts.update({row["status"]: row["n"] for row in await self._rows(_Q["count_videos"])})
        return counts

    async def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        params = {
            "id": video_id,
            "status": VideoStatus(status).value,
            "error": None if error is None else sanitize_text(error),
        }
        row = await self._row(_Q["set_video_status"], params) if _ok(video_id) else None
        if row is None:
            self._check()
            raise NotFound(f"no video with id {video_id!r}")

    async def record_stage_run(self, run: StageRun) -> None:
        from psycopg.types.json import Jsonb

        run = clean_record(run)
        params = run.model_dump()
        params["status"] = run.status.value
        params["detail"] = Jsonb(run.detail)

        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await _require_video(conn, run.video_id)
                await conn.execute(_Q["upsert_stage_run"], params)

        await self._run(op)

    async def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        if not _ok(video_id):
            self._check()
            return {}
        rows = await self._rows(_Q["get_stage_runs"], {"video_id": video_id})
        return {row["stage"]: _record(StageRun, row) for row in rows}

    # --- stage outputs -------------------------------------------------------------------

    async def _replace(
        self,
        kind: str,
        video_id: str,
        rows: Sequence[dict[str, Any]],
        upsert: str,
        docs: Sequence[dict[str, str]] | None = None,
    ) -> None:
        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await _require_video(conn, video_id)
                await conn.execute(_Q[f"delete_{kind}"], {"video_id": video_id})
                if rows:
                    async with conn.cursor() as cursor:
                        await cursor.executemany(_Q[upsert], rows)
                if docs is not None:  # the full-text index of segments and captions
                    doc_kind = "segment" if kind == "segments" else "caption"
                    params = {"video_id": video_id, "kind": doc_kind}
                    await conn.execute(_Q["delete_search_docs"], params)
                    if docs:
                        async with conn.cursor() as cursor:
                            await cursor.executemany(_Q["upsert_search_doc"], docs)

        await self._run(op)

    async def _list(self, kind: str, video_id: str) -> list[Row]:
        if not _ok(video_id):
            self._check()
            return []
        return await self._rows(_Q[f"list_{kind}"], {"video_id": video_id})

    async def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, scenes, what="scene")]
        await self._replace("scenes", video_id, rows, "upsert_scene")

    async def list_scenes(self, video_id: str) -> list[Scene]:
        return [_record(Scene, row) for row in await self._list("scenes", video_id)]

    async def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        rows = []
        for frame in owned_by(video_id, frames, what="frame"):
            params = clean_record(frame).model_dump()
            params["path"], params["path_raw"] = _path_in(params["path"])
            rows.append(params)
        await self._replace("frames", video_id, rows, "upsert_frame")

    async def list_frames(self, video_id: str) -> list[Frame]:
        return [_record(Frame, row) for row in await self._list("frames", video_id)]

    async def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, segments, what="segment")]
        docs = search_docs("segment", rows)
        await self._replace("segments", video_id, rows, "upsert_segment", docs)

    async def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        return [_record(TranscriptSegment, row) for row in await self._list("segments", video_id)]

    async def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        from psycopg.types.json import Jsonb

        rows = []
        for caption in owned_by(video_id, captions, what="caption"):
            params = clean_record(caption).model_dump()
            params["entities"] = Jsonb(params["entities"])
            params["controls"] = Jsonb(params["controls"])
            rows.append(params)
        docs = search_docs("caption", rows)
        await self._replace("captions", video_id, rows, "upsert_caption", docs)

    async def list_captions(self, video_id: str) -> list[FrameCaption]:
        return [_record(FrameCaption, row) for row in await self._list("captions", video_id)]

    # --- cache ---------------------------------------------------------------------------

    async def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        wanted = sorted({k for k in keys if _ok(k)})
        if not wanted:
            self._check()
            return {}
        rows = await self._rows(_Q["get_cached"], {"keys": wanted})
        return {row["key"]: row["value"] for row in rows}

    async def put_cached(self, items: Mapping[str, str]) -> None:
        rows = [
            {"key": check_text(k, what="cache key"), "value": check_text(v, what="cached value")}
            for k, v in items.items()
        ]
        if not rows:
            self._check()
            return

        async def op(conn: Conn) -> None:
            async with conn.transaction(), conn.cursor() as cursor:
                await cursor.executemany(_Q["put_cached"], rows)

        await self._run(op)

    # --- usage ---------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        params = clean_record(usage).model_dump()
        params["request_id"] = new_id("usage")  # the same for every retry of this write
        await self._execute(_Q["insert_usage"], params)

    async def _execute(self, query: LiteralString, params: dict[str, Any]) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(query, params)

        await self._run(op)

    async def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        params = {"video_id": video_id, "job_id": job_id, "batch_id": batch_id}
        if not all(_ok(v) for v in params.values() if v is not None):
            self._check()
            return UsageSummary()
        row = await self._row(_Q["usage_summary"], params)
        assert row is not None  # an aggregate always has its row
        return _record(UsageSummary, row)


def _video_params(video: Video) -> dict[str, Any]:
    params = video.model_dump()
    for name in ("original_path", "normalized_path", "audio_path"):
        params[name], params[f"{name}_raw"] = _path_in(params[name])
    params["status"] = video.status.value
    return params
