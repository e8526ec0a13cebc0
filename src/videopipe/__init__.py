"""videopipe: turn raw video into searchable, AI-analysed content.

One file or a hundred thousand, without losing any:

```python
import videopipe as vp

results = await vp.process_batch(paths, worker, concurrency=4)
```
"""

from __future__ import annotations

from typing import Any

from ._batch import (
    Err,
    Ok,
    Progress,
    Result,
    RetryPolicy,
    StopSignal,
    is_retryable,
    process_batch,
    process_batch_blocking,
    retry_after,
    stream_batch,
)
from ._exceptions import (
    BudgetExceeded,
    Cancelled,
    ConfigurationError,
    CorruptMedia,
    EmptyInput,
    FFmpegNotFound,
    InputNotFound,
    MediaError,
    MissingDependency,
    NoAudioTrack,
    NotAVideo,
    NotFound,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    StageError,
    StorageError,
    StoreClosed,
    VideopipeError,
)
from ._settings import Settings
from ._sync import run_blocking

__all__ = [
    "BudgetExceeded",
    "Cancelled",
    "ConfigurationError",
    "CorruptMedia",
    "EmptyInput",
    "Err",
    "FFmpegNotFound",
    "InputNotFound",
    "MediaError",
    "MissingDependency",
    "NoAudioTrack",
    "NotAVideo",
    "NotFound",
    "Ok",
    "Progress",
    "ProviderError",
    "ProviderTimeout",
    "RateLimited",
    "Result",
    "RetryPolicy",
    "Settings",
    "StageError",
    "StopSignal",
    "StorageError",
    "StoreClosed",
    "VideopipeError",
    "is_retryable",
    "process_batch",
    "process_batch_blocking",
    "retry_after",
    "run_blocking",
    "stream_batch",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("videopipe")
        except PackageNotFoundError:  # running from a source tree that was never installed
            from ._version import __version__

            return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
