"""A stage's files: local copies of remote media, and publishing outputs to `DATA_DIR`.

`StageFiles` is what `StageContext.local_file` and `StageContext.publish` use.
Media at a URL is downloaded once per stage into the stage's scratch
directory (under the scratch limit) and removed when the stage ends; an
output is uploaded, atomically, before the stage records its location.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread

from ._inputs import content_id
from ._locations import fetch, is_url, local_path, location_size, name_of, publish
from ._scratch import Scratch

__all__ = ["RunInputs", "StageFiles", "link_or_copy"]

_UPLOADS = 4
"""Most uploads of one stage at once."""


class StageFiles:
    """The files of one stage run: downloads into scratch, uploads to `DATA_DIR`.

    Args:
        scratch: The scratch area (its limit bounds the downloads held at once).
        storage_options: `fsspec` options of the object store.
        run: The run's files: local copies already made in this run (the input,
            downloaded while its content ID was computed; outputs of earlier
            stages, kept when published), so no stage reads them again.
        staging: The stage's scratch directory when `DATA_DIR` is remote (its
            outputs are written there, then published); made by the caller.
    """

    def __init__(
        self,
        scratch: Scratch,
        storage_options: Mapping[str, Any],
        *,
        run: RunInputs | None = None,
        staging: Path | None = None,
    ) -> None:
        self.scratch = scratch
        self.storage_options = storage_options
        self._run = run
        self._local: dict[str, Path] = {}
        self._stack = contextlib.AsyncExitStack()
        self._dir: Path | None = staging
        self._names = itertools.count()
        self._lock = anyio.Lock()

    async def local_file(self, location: str | os.PathLike[str]) -> Path:
        """A local path with the content of `location`: itself when local, else a download.

        Raises:
            InputNotFound: Nothing at `location`.
            ObjectStoreError: The download failed.
            ScratchFull: The file is larger than the whole scratch limit.
        """
        if not is_url(location):
            return local_path(location)
        assert isinstance(location, str)
        async with self._lock:  # two reads of one location in a stage download once
            found = self._local.get(location)
            if found is None and self._run is not None:
                found = self._run.fetched.get(location)
            if found is not None:
                return found
            size = await anyio.to_thread.run_sync(location_size, location, self.storage_options)
            await self._stack.enter_async_context(self.scratch.reserve(size, what=location))
            directory = await self._directory()
            dest = directory / "in" / f"{next(self._names)}-{name_of(location)}"
            await anyio.to_thread.run_sync(
                lambda: fetch(location, dest, self.storage_options, size=size)
            )
            self._local[location] = dest
            return dest

    async def publish(self, files: Mapping[Path, str]) -> None:
        """Upload each local file to its location (atomically, as readers see it).

        A few uploads run at once. Each file is also kept for the rest of the
        run, when the scratch limit has room, so that later stages need not
        download it again.
        """
        limiter = anyio.CapacityLimiter(_UPLOADS)
        errors: list[Exception] = []

        async def one(source: Path, location: str) -> None:
            try:
                async with limiter:
                    await anyio.to_thread.run_sync(publish, source, location, self.storage_options)
            except Exception as exc:  # raised as itself below, not in an ExceptionGroup
                errors.append(exc)
                return
            if self._run is not None:
                await self._run.keep(source, location)

        async with anyio.create_task_group() as tg:
            for source, location in files.items():
                tg.start_soon(one, source, location)
        if errors:
            raise errors[0]

    async def _directory(self) -> Path:
        if self._dir is None:
            self._dir = await self._stack.enter_async_context(self.scratch.directory())
        return self._dir

    async def aclose(self) -> None:
        """Remove the stage's downloads and give their space back."""
        await self._stack.aclose()


class RunInputs:
    """The remote inputs of one pipeline run, downloaded once: hashed for the ID as they arrive.

    The local copies stay (within the scratch limit) until the run ends, so the
    normalize stage reads the one download that gave the video its ID.

    Args:
        scratch: The scratch area.
        storage_options: `fsspec` options of the object store.
        stack: Where the reservations and the directory are released, when the run ends.
    """

    def __init__(
        self,
        scratch: Scratch,
        storage_options: Mapping[str, Any],
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.scratch = scratch
        self.storage_options = storage_options
        self.fetched: dict[str, Path] = {}
        """Local copies by location: inputs, and outputs kept by `keep`."""
        self._ids: dict[str, str] = {}
        self._stack = stack
        self._dir: Path | None = None

    async def fetch(self, location: str) -> str:
        """Download `location` into scratch; return the content-derived video ID.

        Raises:
            InputNotFound: Nothing at `location`.
            EmptyInput: The file is empty.
            ObjectStoreError: The download failed.
            ScratchFull: The file is larger than the scratch limit.
        """
        found = self._ids.get(location)
        if found is not None:
            return found
        size = await anyio.to_thread.run_sync(location_size, location, self.storage_options)
        await self._stack.enter_async_context(self.scratch.reserve(size, what=location))
        if self._dir is None:
            self._dir = await self._stack.enter_async_context(self.scratch.directory())
        dest = self._dir / f"{len(self.fetched)}-{name_of(location)}"
        got = await anyio.to_thread.run_sync(
            lambda: fetch(location, dest, self.storage_options, digest=True, size=size)
        )
        assert got.sha256 is not None
        self.fetched[location] = got.path
        self._ids[location] = content_id(got.sha256)
        return self._ids[location]

    async def keep(self, source: Path, location: str) -> None:
        """Keep a copy (a hard link) of the published `source` for the run, if it fits now."""
        size = (await anyio.to_thread.run_sync(source.stat)).st_size
        if not self.scratch.try_reserve(size):
            return  # the stages that need it download it
        self._stack.push_async_callback(self.scratch.release, size)
        if self._dir is None:
            self._dir = await self._stack.enter_async_context(self.scratch.directory())
        dest = self._dir / f"out-{len(self.fetched)}-{source.name}"
        await anyio.to_thread.run_sync(link_or_copy, source, dest)
        self.fetched[location] = dest


def link_or_copy(source: Path, dest: Path) -> None:
    """Make `dest` the same file as `source`: a hard link, or a copy where none can be made."""
    try:
        os.link(source, dest)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(source, dest)
