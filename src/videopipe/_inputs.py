"""Input files: the checks every stage relies on, and the content-derived video ID."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import anyio
import anyio.to_thread

from ._exceptions import EmptyInput, InputNotFound

__all__ = ["check_input", "video_id_for"]


def _sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def check_input(path: str | os.PathLike[str]) -> Path:
    """`path` as a `Path`, checked to be a regular, non-empty file.

    Raises:
        InputNotFound: No such file, or not a regular file.
        EmptyInput: The file is empty.
    """
    p = Path(path)
    try:
        st = await anyio.to_thread.run_sync(p.stat)
    except FileNotFoundError:
        raise InputNotFound(f"video file not found: {p}", path=p) from None
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
    return "v" + (await anyio.to_thread.run_sync(_sha256_file, p))[:20]
