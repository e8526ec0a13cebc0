"""Opening the store a command names, and finding a video by its file or its ID."""

from __future__ import annotations

from pathlib import Path

import anyio

from .._exceptions import NotFound
from .._inputs import video_id_for
from .._models import validate_id
from .._render import plain
from .._secrets import redact
from .._settings import Settings
from ..storage import Results
from ._parser import env_name

__all__ = ["MissingStore", "check_ref", "check_store_exists", "resolve_video", "store_url"]


class MissingStore(NotFound):
    """A command that only reads was pointed at a database file that does not exist."""


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def store_url(settings: Settings) -> str:
    """The store URL of a command that may create the store (its folder made first)."""
    url = settings.database_url
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


async def check_store_exists(settings: Settings) -> str:
    """The store URL of a command that only reads: a missing SQLite file is an error.

    Opening it would create an empty database and answer "nothing there", which
    hides a mistyped `--db`.

    Raises:
        MissingStore: The URL names a SQLite file that does not exist.
    """
    url = settings.database_url
    path = _sqlite_path(url)
    if path is not None and not await anyio.Path(path).exists():
        raise MissingStore(
            f"there is no store at {redact(url)}: the file {plain(str(path))} does not exist "
            f"(check --db or {env_name('database_url')}; `videopipe process` or "
            "`videopipe enqueue` creates it)"
        )
    return url


async def check_ref(ref: str) -> None:
    """Check, before any store is opened, that `ref` is an existing file or a valid video ID.

    Raises:
        ConfigurationError: It is neither.
    """
    if not await anyio.Path(ref).is_file():
        validate_id(ref, what="video id")


async def resolve_video(store: Results, ref: str) -> str:
    """The ID of the video `ref` names: an existing file (by its content) or a video ID.

    A file's ID is derived from its content (as `Pipeline.register` derives it),
    so a file is found even when it was processed from another path.

    Raises:
        NotFound: No video in the store has this ID or this file's content.
        ConfigurationError: `ref` is neither an existing file nor a valid ID.
    """
    path = anyio.Path(ref)
    if await path.is_file():
        video_id = await video_id_for(ref)
        try:
            await store.get_video(video_id)
        except NotFound:
            raise NotFound(
                f"the file {plain(ref)} was never processed in this store (its video ID "
                f"would be {video_id}); `videopipe videos` lists the videos there"
            ) from None
        return video_id
    validate_id(ref, what="video id")
    try:
        await store.get_video(ref)
    except NotFound:
        raise NotFound(
            f"no video with id {ref!r}, and no such file; `videopipe videos` lists the videos"
        ) from None
    return ref
