"""Opening the store a command names, and finding a video by its file or its ID."""

from __future__ import annotations

import re
from pathlib import Path

import anyio

from .._exceptions import ConfigurationError, NotFound
from .._inputs import video_id_for
from .._models import validate_id
from .._render import plain
from .._secrets import redact
from .._settings import Settings
from ..storage import Results
from ._parser import env_name

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

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
    """Check, before any store is opened, that `ref` can name a video: a file, a path or an ID.

    Raises:
        ConfigurationError: It is none of them (an unsafe ID, control characters).
    """
    if await anyio.Path(ref).is_file():
        return
    if "/" in ref and not _CONTROL.search(ref):
        return  # a path whose file is gone: looked up among the recorded sources
    validate_id(ref, what="video id")


def _is_id(ref: str) -> bool:
    try:
        validate_id(ref)
    except ConfigurationError:
        return False
    return True


async def _by_recorded_path(store: Results, ref: str) -> str | None:
    """The newest video made from this path (an indexed look-up in the store)."""
    found = await store.find_videos_by_path(str(await anyio.Path(ref).absolute()))
    return found[0].id if found else None


async def resolve_video(store: Results, ref: str) -> str:
    """The ID of the video `ref` names: an existing file, a video ID, or a recorded source path.

    An existing file is found by its content (its ID is derived from it, as
    `Pipeline.register` derives it), so a copy or a renamed file names the same
    video. Otherwise `ref` is a video ID or, for a file since deleted or moved,
    the path the video was processed from.

    Raises:
        NotFound: No video in the store has this content, ID or source path.
        ConfigurationError: `ref` is none of them.
    """
    if await anyio.Path(ref).is_file():
        video_id = await video_id_for(ref)
        try:
            await store.get_video(video_id)
        except NotFound:
            found = await _by_recorded_path(store, ref)  # the file changed since
            if found is not None:
                return found
            raise NotFound(
                f"the file {plain(ref)} was never processed in this store (its video ID "
                f"would be {video_id}); `videopipe videos` lists the videos there"
            ) from None
        return video_id
    if _is_id(ref):
        try:
            await store.get_video(ref)
        except NotFound:
            pass
        else:
            return ref
    found = await _by_recorded_path(store, ref)
    if found is not None:
        return found
    raise NotFound(
        f"no video with id {plain(ref)!r}, nor processed from a file of that name; "
        "`videopipe videos` lists the videos"
    )
