"""The exceptions videopipe raises, all under one root.

```
VideopipeError
├── ConfigurationError   (also ValueError)
│   └── ModelFileError
├── MissingDependency    (also ImportError)
├── Cancelled            an item that never started because its batch was stopped
├── MediaError           .path; a bad input file, or FFmpeg itself
│   ├── FFmpegNotFound
│   ├── InputNotFound    (also FileNotFoundError)   permanent
│   ├── EmptyInput                                 permanent
│   ├── NotAVideo                                  permanent
│   ├── CorruptMedia                               permanent
│   ├── NoAudioTrack                               permanent
│   └── InputTooLarge    .setting, .limit, .value   permanent
│       └── StageTimeout (also TimeoutError)
├── StageError           .stage, .item_key, .result; the original error in __cause__
├── StorageError         the driver's error in __cause__
│   ├── StoreClosed
│   └── NotFound         (also KeyError)
├── ObjectStoreError     (also OSError) .location; media in a bucket could not be read or written
│   └── ScratchFull      a file larger than the scratch limit (`SCRATCH_MAX_MB`)
└── ProviderError        .status_code, .retryable, .retry_after
    ├── RateLimited      "slow down": HTTP 429, or 503 with Retry-After
    ├── ProviderTimeout  (also TimeoutError)
    ├── MalformedResponse
    └── BudgetExceeded
```

Every class's docstring is its default message, so a bare `raise StoreClosed`
still explains itself. Every error says whether another attempt may succeed
(`retryable`), whether no attempt ever will (`permanent`: a bad input) and
how long the server asked to wait (`retry_after`, seconds or `None`): a
provider sets them once, where it maps its client library's errors, and
`RetryPolicy` and the worker read them, never the foreign types. A failed item in a
batch is a value (`Err`), not a raised exception: these classes are what
`Err.error` holds.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "BudgetExceeded",
    "Cancelled",
    "ConfigurationError",
    "CorruptMedia",
    "EmptyInput",
    "FFmpegNotFound",
    "InputNotFound",
    "InputTooLarge",
    "MalformedResponse",
    "MediaError",
    "MissingDependency",
    "ModelFileError",
    "NoAudioTrack",
    "NotAVideo",
    "NotFound",
    "ObjectStoreError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimited",
    "ScratchFull",
    "StageError",
    "StageTimeout",
    "StorageError",
    "StoreClosed",
    "VideopipeError",
]


class VideopipeError(Exception):
    """Something went wrong in videopipe."""

    retryable: bool = False
    """Whether another attempt may succeed (a passing failure: 429, 5xx, a timeout)."""
    retry_after: float | None = None
    """Seconds the server asked to wait before another attempt, if it said."""
    permanent: bool = False
    """Whether every attempt will fail the same way (the input is not a video, is
    missing, empty or corrupt): a queue moves the job to `dead` at once instead of
    retrying it. An error that is neither `retryable` nor `permanent` (a bug, a
    full disk) gets the job's remaining attempts."""

    def __init__(self, message: str | None = None, *args: Any) -> None:
        if message is None:
            message = (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        super().__init__(message, *args)

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0])

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which the default pickling
        # (``cls(*args)``) would drop; errors cross process boundaries in workers.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[VideopipeError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(VideopipeError, ValueError):
    """The configuration is invalid."""


class ModelFileError(ConfigurationError):
    """A local model file is missing, or is not the file videopipe pins.

    The message names the package and version to reinstall.
    """

    def __init__(self, message: str | None = None, *, path: str | os.PathLike[str] | None = None):
        self.path = path
        super().__init__(message)


class MissingDependency(VideopipeError, ImportError):
    """An optional dependency is not installed.

    Raised with the exact `pip install` line that fixes it.
    """

    def __init__(self, package: str, *, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the {package!r} package, which is not installed. "
            f"Install it with: pip install 'videopipe[{extra}]'"
        )


class Cancelled(VideopipeError):
    """The item never started: its batch was stopped first. Run it again to resume."""


class MediaError(VideopipeError):
    """The media file could not be processed."""

    def __init__(self, message: str | None = None, *, path: str | os.PathLike[str] | None = None):
        self.path = None if path is None else os.fspath(path)
        super().__init__(message)


class FFmpegNotFound(MediaError):
    """FFmpeg not found: install the `imageio-ffmpeg` package, put `ffmpeg` on PATH, or set VIDEOPIPE_FFMPEG to its path."""  # noqa: E501


class InputNotFound(MediaError, FileNotFoundError):
    """The input file does not exist."""

    permanent = True


class EmptyInput(MediaError):
    """The input file is empty (0 bytes)."""

    permanent = True


class NotAVideo(MediaError):
    """The input file is not a video: no video stream was found in it."""

    permanent = True


class CorruptMedia(MediaError):
    """The input file is corrupt or truncated and cannot be decoded."""

    permanent = True


class NoAudioTrack(MediaError):
    """The video has no audio track."""

    permanent = True


class InputTooLarge(MediaError):
    """The input is over a limit on the work one input may cause (a setting names it).

    `setting` is the environment variable of the limit (such as
    `MAX_INPUT_DURATION_SEC`), `limit` its value and `value` what the input
    needed; raising the setting lets the input through.
    """

    permanent = True

    def __init__(
        self,
        message: str | None = None,
        *,
        setting: str,
        limit: float,
        value: float | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.setting = setting
        self.limit = limit
        self.value = value
        super().__init__(message, path=path)


class StageTimeout(InputTooLarge, TimeoutError):
    """A stage ran longer than its wall-clock limit on this input (`STAGE_TIMEOUT_SEC`)."""


class StageError(VideopipeError):
    """A pipeline stage failed; the original error is in `__cause__`.

    `result` holds the video's partial result (a `VideoResult`) when a
    pipeline raised it: what the other stages did is kept.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        stage: str,
        item_key: str | None = None,
        result: Any = None,
    ):
        self.stage = stage
        self.item_key = item_key
        self.result = result
        super().__init__(message)


class StorageError(VideopipeError):
    """The store failed; the driver's error is in `__cause__`."""


class StoreClosed(StorageError):
    """The store is closed: open a new one with `open_store()`."""


class NotFound(StorageError, KeyError):
    """No such record in the store."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better unquoted.
        return self.message


class ObjectStoreError(VideopipeError, OSError):
    """Media in object storage (a bucket, an HTTPS server) could not be read or written.

    `location` is the URL; the client library's error is in `__cause__`. It is
    `retryable`: a worker retries the job later (a bucket that refuses writes
    today may accept them once its policy or credentials are fixed), and
    nothing is recorded for an upload that did not complete.
    """

    retryable = True

    def __init__(self, message: str | None = None, *, location: str | None = None) -> None:
        self.location = location
        super().__init__(message)


class ScratchFull(ObjectStoreError):
    """A file does not fit in the scratch space at all: raise `SCRATCH_MAX_MB`."""

    retryable = False
    permanent = True


_RETRYABLE_STATUS = frozenset({408, 429})


class ProviderError(VideopipeError):
    """The AI provider returned an error.

    `retryable` defaults to what the status says (408, 429 and 5xx are
    passing failures); a provider sets it explicitly for failures without a
    status, such as a connection reset.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        if retryable is None:
            retryable = type(self).retryable or (
                status_code is not None and (status_code in _RETRYABLE_STATUS or status_code >= 500)
            )
        self.retryable = retryable
        self.retry_after = None if retry_after is None else max(0.0, float(retry_after))
        super().__init__(message)


class RateLimited(ProviderError):
    """The AI provider asked to slow down (HTTP 429, or 503 with Retry-After); retried later.

    "Slow down" answers are retried by time, not by count: for as long as the
    server asks, within the retry policy's time budget
    (`PROVIDER_RETRY_BUDGET_SEC`). Past it, the request fails with this error,
    saying how long it waited and how many answers were 429.
    """

    retryable = True

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, retryable=retryable, retry_after=retry_after
        )


class ProviderTimeout(ProviderError, TimeoutError):
    """The AI provider did not answer in time."""

    retryable = True


class MalformedResponse(ProviderError):
    """The AI provider's answer could not be parsed into the expected structure."""


class BudgetExceeded(ProviderError):
    """The spending budget would be exceeded; the item can be resumed with a larger budget."""
