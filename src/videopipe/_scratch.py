"""Local scratch space for stages whose tools need files on disk, bounded and always cleaned.

Each process works in its own directory, `SCRATCH_DIR/<host>-<pid>-<token>/`,
holding an exclusive lock on a file in it for as long as it lives. A stage
gets a fresh subdirectory, removed when the stage ends, whether it succeeded,
failed or was cancelled. A process killed with `kill -9` cannot clean up:
the next process to start finds its directory unlocked and removes it.

`Scratch.reserve(n)` waits until `n` more bytes fit under the limit
(`SCRATCH_MAX_MB`), so the disk a pipeline uses is bounded however many
videos run at once.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread

from ._exceptions import ConfigurationError, ScratchFull

__all__ = ["Scratch", "default_scratch_root", "process_dir", "sweep_stale"]

_LOCK_NAME = ".lock"


def default_scratch_root() -> Path:
    """`videopipe-scratch` in the system's temporary directory."""
    return Path(tempfile.gettempdir()) / "videopipe-scratch"


def _try_lock(f: IO[bytes]) -> bool:
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def sweep_stale(root: Path, *, keep: Path | None = None) -> list[Path]:
    """Remove the directories under `root` that no living process holds; return them."""
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if entry == keep or entry.name.startswith(".new-") or not entry.is_dir():
            continue
        try:
            with (entry / _LOCK_NAME).open("rb") as f:
                if not _try_lock(f):
                    continue  # its process is alive
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        except FileNotFoundError:  # not one of ours, or removed right now
            continue
    return removed


class _ProcessDir:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dirs: dict[Path, tuple[Path, IO[bytes]]] = {}
        self.pid = os.getpid()


_state = _ProcessDir()


def process_dir(root: Path) -> Path:
    """This process's directory under `root`, made (and stale ones swept) on first use."""
    global _state
    if _state.pid != os.getpid():  # a forked child: the parent's directory and lock are not ours
        _state = _ProcessDir()
    with _state.lock:
        found = _state.dirs.get(root)
        if found is not None:
            return found[0]
        try:
            return _make_process_dir(root)
        except OSError as exc:
            raise ConfigurationError(
                f"the scratch directory {root} cannot be used ({exc.strerror or exc}): "
                "set SCRATCH_DIR to a writable local directory"
            ) from exc


def _make_process_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    # Made under a name sweepers skip, and renamed once locked: never swept half-made.
    new = root / f".new-{name}"
    new.mkdir()
    lock = (new / _LOCK_NAME).open("ab")
    _try_lock(lock)
    mine = root / name
    new.rename(mine)
    sweep_stale(root, keep=mine)
    _state.dirs[root] = (mine, lock)
    atexit.register(_remove, mine, lock)
    return mine


def _remove(path: Path, lock: IO[bytes]) -> None:
    shutil.rmtree(path, ignore_errors=True)
    lock.close()


class Scratch:
    """A scratch area with a size limit, for one event loop's stages.

    Args:
        root: `SCRATCH_DIR`: where each process makes its directory.
        max_bytes: The most bytes reserved at once (`SCRATCH_MAX_MB`).
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.used = 0
        """Bytes reserved now."""
        self.peak = 0
        """The most bytes reserved at once so far."""
        self._changed = anyio.Condition()

    @contextlib.asynccontextmanager
    async def reserve(self, nbytes: int, *, what: str) -> AsyncIterator[None]:
        """Hold `nbytes` of the limit, waiting until they fit.

        Raises:
            ScratchFull: `nbytes` alone is over the limit.
        """
        if nbytes > self.max_bytes:
            raise ScratchFull(
                f"{what} needs {nbytes / 2**20:,.1f} MiB of scratch space, more than "
                f"SCRATCH_MAX_MB ({self.max_bytes / 2**20:,.0f} MiB): raise SCRATCH_MAX_MB",
                location=what,
            )
        async with self._changed:
            while self.used + nbytes > self.max_bytes:
                await self._changed.wait()
            self.used += nbytes
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._changed:
                    self.used -= nbytes
                    self._changed.notify_all()

    def try_reserve(self, nbytes: int) -> bool:
        """Hold `nbytes` if they fit now, without waiting; `release` them later."""
        if self.used + nbytes > self.max_bytes:
            return False
        self.used += nbytes
        self.peak = max(self.peak, self.used)
        return True

    async def release(self, nbytes: int) -> None:
        """Give back `nbytes` held by `try_reserve`."""
        with anyio.CancelScope(shield=True):
            async with self._changed:
                self.used -= nbytes
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def directory(self) -> AsyncIterator[Path]:
        """A new empty directory, removed with its content on exit (also on error or cancel)."""
        base = await anyio.to_thread.run_sync(process_dir, self.root)
        path = base / uuid.uuid4().hex[:12]
        await anyio.to_thread.run_sync(path.mkdir)
        try:
            yield path
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_rmtree, path)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def disk_usage(path: Path) -> int:
    """Bytes of the files under `path` (for measurements); hard links counted once."""
    return sum(_sizes(path).values())


def _sizes(path: Path) -> dict[tuple[int, int], int]:
    sizes = {}
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                st = (Path(dirpath) / name).stat()
                sizes[st.st_dev, st.st_ino] = st.st_size
    return sizes
