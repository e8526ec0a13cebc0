"""What every part of `PostgresStore` shares: its queries, its logger, values in and out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ..._exceptions import NotFound
from .. import sql
from .._common import (
    PATH_FIELDS,
    fields_holding,
    is_storable,
    path_from_bytes,
    path_to_bytes,
    sanitize_text,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow

    Conn = AsyncConnection[DictRow]

__all__ = ["Row", "T", "logger"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Row = dict[str, Any]

# One logger for the whole backend, named as the module it was before it became a package.
logger = logging.getLogger("videopipe.storage._postgres")

_Q = sql.queries("postgres")

# --- values in and out ------------------------------------------------------------------


def _ok(key: str) -> bool:
    """Whether `key` can name a stored row at all (one that cannot is simply not found)."""
    return is_storable(key)


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def _utc_or_none(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC)


def _path_in(path: str | None) -> tuple[str | None, bytes | None]:
    """A path as `(text, raw)`: raw bytes only when the text cannot hold the name."""
    if path is None or is_storable(path):
        return path, None
    return sanitize_text(path), path_to_bytes(path)


def _path_out(text: str | None, raw: bytes | None) -> str | None:
    return path_from_bytes(raw) if raw is not None else text


async def _require_video(conn: Conn, video_id: str) -> None:
    row = None
    if _ok(video_id):
        row = await (await conn.execute(_Q["video_exists"], {"id": video_id})).fetchone()
    if row is None:
        raise NotFound(f"no video with id {video_id!r}")


async def _require_videos(conn: Conn, video_ids: Sequence[str]) -> None:
    if not video_ids:
        return
    for video_id in video_ids:
        if not _ok(video_id):
            raise NotFound(f"no video with id {video_id!r}")
    row = await (await conn.execute(_Q["missing_videos"], {"ids": list(video_ids)})).fetchone()
    if row is not None:
        raise NotFound(f"no video with id {row['id']!r}")


def _record(model: type[M], row: Row) -> M:
    """The `model` that `row` holds, validated by the model itself.

    Times are converted to UTC, and a file name that text cannot hold comes
    from its bytes (the `<field>_raw` column); the model validates the rest.
    Columns that are not fields of `model` are left out.
    """
    values = {name: value for name, value in row.items() if name in model.model_fields}
    for name in values.keys() & fields_holding(model, datetime):
        values[name] = _utc_or_none(values[name])
    for name in values.keys() & PATH_FIELDS:
        values[name] = _path_out(values[name], row.get(f"{name}_raw"))
    return model.model_validate(values)
