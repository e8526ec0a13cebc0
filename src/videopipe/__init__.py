"""videopipe: turn raw video into searchable, AI-analysed content.

One file or a hundred thousand, without losing any:

```python
import videopipe as vp

results = await vp.process_batch(paths, worker, concurrency=4)
```
"""

from __future__ import annotations

from typing import Any

# The subpackages, so that `vp.stages.ExtractFrames` works after `import videopipe as vp`.
from . import providers as providers
from . import stages as stages
from . import storage as storage
from ._batch import (
    Err,
    Ok,
    Progress,
    Result,
    StopSignal,
    process_batch,
    process_batch_blocking,
    stream_batch,
)
from ._blocking import BlockingStore
from ._budget import Budget
from ._cost import Estimate, ItemEstimate, StageEstimate
from ._exceptions import (
    BudgetExceeded,
    Cancelled,
    ConfigurationError,
    CorruptMedia,
    EmptyInput,
    FFmpegNotFound,
    InputNotFound,
    InputTooLarge,
    MalformedResponse,
    MediaError,
    MissingDependency,
    ModelFileError,
    NoAudioTrack,
    NotAVideo,
    NotFound,
    ObjectStoreError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ScratchFull,
    StageError,
    StageTimeout,
    StorageError,
    StoreClosed,
    VideopipeError,
)
from ._export import to_pandas, to_polars
from ._imports import public as _public
from ._inputs import video_id_for
from ._models import (
    Batch,
    BatchItem,
    BatchResults,
    BatchState,
    BatchStatus,
    Embedding,
    Frame,
    FrameCaption,
    Job,
    JobStatus,
    QueueStats,
    Scene,
    SearchHit,
    StageRun,
    StageStatus,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
)
from ._pipeline import Pipeline
from ._progress import RunProgress, StageProgress
from ._report import Report, VideoReport, load_report, write_report, write_report_blocking
from ._result import StageOutcome, VideoResult
from ._retry import RetryPolicy, is_retryable, retry_after
from ._search import search, search_blocking
from ._settings import Settings
from ._stage import (
    LoadsOutput,
    Marked,
    Stage,
    StageContext,
    StageSkipped,
    UploadsAudio,
    VideoPaths,
)
from ._sync import run_blocking
from ._worker import Worker
from .providers._choose import default_provider
from .storage import Store, open_store

__all__ = [
    "Batch",
    "BatchItem",
    "BatchResults",
    "BatchState",
    "BatchStatus",
    "BlockingStore",
    "Budget",
    "BudgetExceeded",
    "Cancelled",
    "ConfigurationError",
    "CorruptMedia",
    "Embedding",
    "EmptyInput",
    "Err",
    "Estimate",
    "FFmpegNotFound",
    "Frame",
    "FrameCaption",
    "InputNotFound",
    "InputTooLarge",
    "ItemEstimate",
    "Job",
    "JobStatus",
    "LoadsOutput",
    "MalformedResponse",
    "Marked",
    "MediaError",
    "MissingDependency",
    "ModelFileError",
    "NoAudioTrack",
    "NotAVideo",
    "NotFound",
    "ObjectStoreError",
    "Ok",
    "Pipeline",
    "Progress",
    "ProviderError",
    "ProviderTimeout",
    "QueueStats",
    "RateLimited",
    "Report",
    "Result",
    "RetryPolicy",
    "RunProgress",
    "Scene",
    "ScratchFull",
    "SearchHit",
    "Settings",
    "Stage",
    "StageContext",
    "StageError",
    "StageEstimate",
    "StageOutcome",
    "StageProgress",
    "StageRun",
    "StageSkipped",
    "StageStatus",
    "StageTimeout",
    "StopSignal",
    "StorageError",
    "Store",
    "StoreClosed",
    "TranscriptSegment",
    "UploadsAudio",
    "Usage",
    "UsageSummary",
    "Video",
    "VideoPaths",
    "VideoReport",
    "VideoResult",
    "VideoStatus",
    "VideopipeError",
    "Worker",
    "default_provider",
    "is_retryable",
    "load_report",
    "open_store",
    "process_batch",
    "process_batch_blocking",
    "retry_after",
    "run_blocking",
    "search",
    "search_blocking",
    "stream_batch",
    "to_pandas",
    "to_polars",
    "video_id_for",
    "write_report",
    "write_report_blocking",
]


_public(globals(), __name__)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("videopipe")
        except PackageNotFoundError:  # running from a source tree that was never installed
            from ._version import __version__

            return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
