"""Behaviour every backend shares, as functions (not a base class): IDs, batches, values."""

from __future__ import annotations

import json
import math
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from .._exceptions import ConfigurationError
from .._models import BatchState, BatchStatus, JobStatus

__all__ = [
    "LIVE",
    "PATH_FIELDS",
    "REAPED",
    "batch_finished_at",
    "batch_state",
    "batch_status",
    "batch_status_of_row",
    "check_limit",
    "check_text",
    "clean_path",
    "clean_record",
    "fields_holding",
    "is_storable",
    "new_id",
    "owned_by",
    "path_from_bytes",
    "path_to_bytes",
    "sanitize_text",
]

LIVE = (JobStatus.PENDING, JobStatus.PROCESSING)
"""The statuses of a job that is still to run: at most one such job per video with `unique`."""


REAPED = "the worker running the last attempt stopped without finishing it (its lease expired)"
"""The error of a job dead-lettered because its last attempt's worker died."""


def new_id(prefix: str) -> str:
    """A fresh random ID such as `job_6f1c…`."""
    return f"{prefix}_{uuid.uuid4().hex}"


def batch_state(counts: Mapping[JobStatus, int], *, total: int, cancelled: bool) -> BatchState:
    """A batch's state from its jobs' statuses.

    `created` until a job starts; `running` while any job is pending or
    processing after that; then `cancelled` if the batch was cancelled,
    `failed` if every job failed, else `completed` (its summary lists the
    failures: one failed item does not fail the batch).
    """
    pending = counts.get(JobStatus.PENDING, 0)
    processing = counts.get(JobStatus.PROCESSING, 0)
    dead = counts.get(JobStatus.DEAD, 0)
    if pending + processing > 0:
        untouched = pending == total and processing == 0
        return BatchState.CREATED if untouched else BatchState.RUNNING
    if cancelled:
        return BatchState.CANCELLED
    if total > 0 and dead == total:
        return BatchState.FAILED
    return BatchState.COMPLETED


def batch_finished_at(state: BatchState, last_update: datetime | None) -> datetime | None:
    """When a batch in `state` finished: its jobs' last update, once it is terminal."""
    if state in (BatchState.CREATED, BatchState.RUNNING):
        return None
    return last_update


def batch_status(
    batch_id: str,
    counts: Mapping[JobStatus, int],
    *,
    total: int,
    cancelled: bool,
    created_at: datetime,
    last_update: datetime | None,
) -> BatchStatus:
    """A batch's status from its jobs' counts per status (see `batch_state`)."""
    state = batch_state(counts, total=total, cancelled=cancelled)
    return BatchStatus(
        id=batch_id,
        state=state,
        total=total,
        done=counts.get(JobStatus.DONE, 0),
        failed=counts.get(JobStatus.DEAD, 0),
        pending=counts.get(JobStatus.PENDING, 0),
        processing=counts.get(JobStatus.PROCESSING, 0),
        cancelled=counts.get(JobStatus.CANCELLED, 0),
        created_at=created_at,
        finished_at=batch_finished_at(state, last_update),
    )


def batch_status_of_row(
    row: Mapping[str, Any], *, created_at: datetime, last_update: datetime | None
) -> BatchStatus:
    """A batch's status from a row of the SQL backends' `batch_status` query.

    The times come converted, as each backend stores them its own way.
    """
    counts = {
        JobStatus.PENDING: row["pending"],
        JobStatus.PROCESSING: row["processing"],
        JobStatus.DONE: row["done"],
        JobStatus.DEAD: row["dead"],
        JobStatus.CANCELLED: row["cancelled_jobs"],
    }
    return batch_status(
        row["id"],
        counts,
        total=row["total"],
        cancelled=bool(row["cancelled"]),
        created_at=created_at,
        last_update=last_update,
    )


@cache
def fields_holding(model: type[BaseModel], kind: type) -> frozenset[str]:
    """The fields of `model` whose values are `kind`s (or `None`): what a row must convert.

    Examples:
        >>> sorted(fields_holding(BatchStatus, datetime))
        ['created_at', 'finished_at']
    """
    found = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
        for arg in typing.get_args(annotation) if union else (annotation,):
            if arg is kind or typing.get_origin(arg) is kind:
                found.add(name)
    return frozenset(found)


# --- what every backend can store -------------------------------------------------------
# PostgreSQL cannot store NUL characters in text, and neither it nor SQLite can store
# lone surrogates (how Python represents undecodable bytes). Every backend applies the
# same rules, so a record accepted by `MemoryStore` is accepted by the others:
#
# - paths (`original_path`, `normalized_path`, `audio_path`, `path`) are file names and
#   are kept byte for byte, even when they are not valid UTF-8 (`os.fsdecode`);
# - diagnostics (`error`, a job's `last_error`) are escaped (`\x00`, `\udcff`), so
#   recording a failure can never fail in turn;
# - any other text with NUL or a lone surrogate is rejected with `ConfigurationError`.

PATH_FIELDS = frozenset({"original_path", "normalized_path", "audio_path", "path"})
"""The fields that hold file names (kept byte for byte, see `clean_path`)."""
_DIAGNOSTIC_FIELDS = frozenset({"error", "last_error"})


def is_storable(value: str) -> bool:
    """Whether `value` can be stored as text by every backend: no NUL, no lone surrogate."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str, *, what: str) -> str:
    """Return `value`, or raise `ConfigurationError` when no backend could store it."""
    if not is_storable(value):
        problem = "a NUL character" if "\x00" in value else "an undecodable character"
        raise ConfigurationError(
            f"{what} contains {problem} ({value[:80]!r}), which cannot be stored: "
            "clean the text first (NUL characters and lone surrogates are not text)"
        )
    return value


MAX_QUEUE_NAME = 200
"""Longest queue name, in characters: the same on every backend, and well inside
PostgreSQL's `NOTIFY` payload (8000 bytes), which carries the name."""


def check_queue(name: str) -> str:
    """Return the queue `name`; `ConfigurationError` when not storable or too long."""
    check_text(name, what="queue name")
    if len(name) > MAX_QUEUE_NAME:
        raise ConfigurationError(
            f"queue name of {len(name):,} characters ({name[:40]!r}...): the longest is "
            f"{MAX_QUEUE_NAME}"
        )
    return name


def sanitize_text(value: str) -> str:
    r"""`value` with NUL characters and lone surrogates escaped as `\x00` and `\udcff`."""
    if is_storable(value):
        return value
    escaped = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace("\x00", "\\x00")


def clean_path(value: str, *, what: str) -> str:
    """A file name as every backend stores it: the same bytes on disk, whatever they are.

    Paths from `os.fsdecode` of non-UTF-8 names carry their bytes as surrogate
    escapes; they are kept exactly. A string that names no possible file (a
    surrogate that is not an escaped byte) raises `ConfigurationError`.
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{what} {value[:80]!r} is not a file name: it contains a character that is "
            "neither text nor an undecodable byte"
        ) from None
    return raw.decode("utf-8", "surrogateescape")


def path_to_bytes(value: str) -> bytes:
    """A cleaned path as the file system's bytes (see `clean_path`)."""
    return value.encode("utf-8", "surrogateescape")


def path_from_bytes(raw: bytes) -> str:
    """The inverse of `path_to_bytes`."""
    return raw.decode("utf-8", "surrogateescape")


def _check_value(value: Any, *, what: str) -> None:
    if isinstance(value, str):
        check_text(value, what=what)
    elif isinstance(value, float):
        if math.isnan(value):
            raise ConfigurationError(f"{what} is NaN, which cannot be stored")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(item, what=what)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_value(key, what=what)
            _check_value(item, what=what)


def _as_json(value: dict[str, Any], *, what: str) -> dict[str, Any]:
    try:
        # A JSON round trip, so every backend hands back the same thing (tuples become
        # lists, keys strings) and what a database cannot hold fails here, clearly.
        data: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{what} must be JSON-serialisable: {exc}") from None
    _check_value(data, what=what)
    return data


R = TypeVar("R", bound=BaseModel)


def clean_record(record: R) -> R:
    """`record` as every backend stores it, or `ConfigurationError` if it cannot be stored.

    Paths are normalised (`clean_path`), diagnostics escaped (`sanitize_text`), JSON
    fields round-tripped, naive datetimes taken as UTC and aware ones converted to
    UTC; any other text must be storable (`check_text`) and floats must not be NaN.
    """
    updates: dict[str, Any] = {}
    kind = type(record).__name__
    for name in type(record).model_fields:
        value = getattr(record, name)
        what = f"{kind}.{name}"
        if value is None:
            continue
        if name in PATH_FIELDS and isinstance(value, str):
            new: Any = clean_path(value, what=what)
        elif name in _DIAGNOSTIC_FIELDS and isinstance(value, str):
            new = sanitize_text(value)
        elif isinstance(value, datetime):
            new = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        elif isinstance(value, dict):
            new = _as_json(value, what=what)
        elif name == "vector":
            # Vectors are long: one vectorised check instead of one per number.
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise ConfigurationError(f"{what} has a NaN or infinite value")
            continue
        else:
            _check_value(value, what=what)
            continue
        if new != value or type(new) is not type(value) or _tz_differs(new, value):
            updates[name] = new
    return record.model_copy(update=updates) if updates else record


def _tz_differs(new: Any, old: Any) -> bool:
    return isinstance(new, datetime) and new.tzinfo is not old.tzinfo


class _Owned(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def video_id(self) -> str: ...


OwnedT = TypeVar("OwnedT", bound=_Owned)


def owned_by(video_id: str, records: Iterable[OwnedT], *, what: str) -> list[OwnedT]:
    """The records to store for a video: one per ID (the last wins), all of that video.

    Raises:
        ConfigurationError: A record belongs to another video.
    """
    by_id: dict[str, OwnedT] = {}
    for record in records:
        if record.video_id != video_id:
            raise ConfigurationError(
                f"{what} {record.id!r} belongs to video {record.video_id!r}, "
                f"not {video_id!r}: save each video's {what}s separately"
            )
        by_id[record.id] = record
    return list(by_id.values())


def check_limit(n: int, *, what: str = "limit") -> int:
    """Return `n`, or raise `ConfigurationError` when it is negative."""
    if n < 0:
        raise ConfigurationError(f"{what} must be 0 or more, not {n}")
    return n
