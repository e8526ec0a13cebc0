"""Input files: the checks every stage relies on, and the content-derived video ID."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import anyio
import anyio.to_thread

from ._exceptions import EmptyInput, InputNotFound, MediaError

__all__ = ["check_input", "content_id", "video_id_for"]


_NO_FILE = {
    errno.ELOOP: "a loop of symbolic links",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENAMETOOLONG: "the name is too long",
}


def _sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def check_input(path: str | os.PathLike[str]) -> Path:
    """`path` as a `Path`, checked to be a regular, non-empty file.

    Raises:
        InputNotFound: No such file (a symbolic link loop included), or not a
            regular file.
        MediaError: The file cannot be read (permissions, I/O).
        EmptyInput: The file is empty.
    """
    p = Path(path)
    try:
        st = await anyio.to_thread.run_sync(p.stat)
    except FileNotFoundError:
        raise InputNotFound(f"video file not found: {p}", path=p) from None
    except OSError as exc:
        # A path that cannot lead to a file: a symlink loop, a file used as a directory,
        # a name too long. Anything else (permissions, I/O) may pass: not "not found".
        if exc.errno in _NO_FILE:
            reason = _NO_FILE[exc.errno]
            raise InputNotFound(f"video file not found: {p} ({reason})", path=p) from None
        raise MediaError(f"cannot read the video file {p} ({exc.strerror})", path=p) from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputNotFound(f"not a regular file: {p}", path=p)
    if st.st_size == 0:
        raise EmptyInput(f"the video file is empty (0 bytes): {p}", path=p)
    return p


async def video_id_for(path: str | os.PathLike[str]) -> str:
    """The default ID of the video at `path`: derived from its content, so a file is one video.

    Raises:
        InputNotFound: No such file.
        EmptyInput: The file is empty.
    """
    p = await check_input(path)
    return content_id(await anyio.to_thread.run_sync(_sha256_file, p))


def content_id(sha256: str) -> str:
    """The video ID of content whose SHA-256 is `sha256` (hexadecimal)."""
    return "v" + sha256[:20]
