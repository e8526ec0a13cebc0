"""Where media lives: local paths or URLs (`s3://`, `gs://`, `az://`, `https://`); reaching it.

A location is a string. A local path (or a `file://` URL) is used in place;
a bucket URL goes through `fsspec` and the filesystem package of its scheme
(`s3fs`, `gcsfs`, `adlfs`: the extras `videopipe[s3]`, `[gcs]`, `[azure]`);
an `https://` URL is read with `httpx`. Everything here is blocking and runs
in a worker thread (`anyio.to_thread`), so it works from any event loop.

Writes are atomic as seen by readers: to a bucket, one `PUT` (or a multipart
upload, which shows nothing until it completes); to a local directory, a
temporary name renamed into place. Reads stream: a download hashes what it
writes, so a video's content ID costs no second read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from ._exceptions import EmptyInput, InputNotFound, ObjectStoreError
from ._imports import require

__all__ = [
    "Fetched",
    "Transfers",
    "fetch",
    "is_bucket_url",
    "is_url",
    "join",
    "local_path",
    "location_size",
    "presign",
    "publish",
    "read_bytes",
    "transfers",
]

_FSSPEC_SCHEMES = {
    # scheme: (module, package, extra)
    "s3": ("s3fs", "s3fs", "s3"),
    "s3a": ("s3fs", "s3fs", "s3"),
    "gs": ("gcsfs", "gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcsfs", "gcs"),
    "az": ("adlfs", "adlfs", "azure"),
    "abfs": ("adlfs", "adlfs", "azure"),
    "abfss": ("adlfs", "adlfs", "azure"),
}
_HTTP_SCHEMES = frozenset({"http", "https"})
REMOTE_SCHEMES = frozenset(_FSSPEC_SCHEMES) | _HTTP_SCHEMES
"""The URL schemes of media that is not on a local disk."""

_CHUNK = 1024 * 1024


def _scheme(location: str | os.PathLike[str]) -> str:
    if not isinstance(location, str) or "://" not in location:
        return ""
    return location.split("://", 1)[0].lower()


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether `location` is remote media (`s3://`, `gs://`, `az://`, `https://`, ...)."""
    return _scheme(location) in REMOTE_SCHEMES


def is_bucket_url(location: str | os.PathLike[str]) -> bool:
    """Whether `location` is in object storage (`s3://`, `gs://`, `az://`): not plain HTTPS."""
    return _scheme(location) in _FSSPEC_SCHEMES


def local_path(location: str | os.PathLike[str]) -> Path:
    """The local path of `location`: a path, or a `file://` URL."""
    if _scheme(location) == "file":
        assert isinstance(location, str)
        return Path(unquote(urlsplit(location).path))
    return Path(location)


def join(root: str, *parts: str) -> str:
    """`root` (a URL) with `parts` appended, one `/` between each."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def name_of(location: str | os.PathLike[str]) -> str:
    """The last part of a path or URL (`talk.mp4`), without a query string."""
    if is_url(location):
        assert isinstance(location, str)
        return unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]) or "input"
    return local_path(location).name


# --- counting what crosses the wire ---------------------------------------------------------


@dataclass
class Transfers:
    """Bytes and files moved to and from remote media by this process (for benchmarks, tests)."""

    bytes_read: int = 0
    files_read: int = 0
    bytes_written: int = 0
    files_written: int = 0
    reads: dict[str, int] = field(default_factory=dict)
    """Downloads by location."""


_counts = Transfers()
_counts_lock = threading.Lock()


def transfers(*, reset: bool = False) -> Transfers:
    """A copy of this process's transfer counts; `reset=True` starts them again at zero."""
    global _counts
    with _counts_lock:
        copy = Transfers(**{**vars(_counts), "reads": dict(_counts.reads)})
        if reset:
            _counts = Transfers()
    return copy


def _count(location: str, *, read: int = 0, written: int = 0) -> None:
    with _counts_lock:
        if read:
            _counts.bytes_read += read
            _counts.files_read += 1
            _counts.reads[location] = _counts.reads.get(location, 0) + 1
        if written:
            _counts.bytes_written += written
            _counts.files_written += 1


# --- filesystems ---------------------------------------------------------------------------


def _options(scheme: str, storage_options: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(storage_options)
    if scheme in ("s3", "s3a") and "endpoint_url" not in options:
        # The variables the AWS SDKs read, so that MinIO, R2 or a test server need no
        # videopipe setting (older botocore versions do not read them themselves).
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
    return options


def _filesystem(location: str, storage_options: Mapping[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem of `location` and the path within it."""
    scheme = _scheme(location)
    module, package, extra = _FSSPEC_SCHEMES[scheme]
    require(module, package=package, extra=extra, feature=f"Media at {scheme}:// locations")
    fsspec = require("fsspec", package="fsspec", extra=extra, feature="Media in object storage")
    fs, path = fsspec.core.url_to_fs(location, **_options(scheme, storage_options))
    return fs, path


def _failure(action: str, location: str, exc: BaseException) -> ObjectStoreError:
    if isinstance(exc, PermissionError):
        hint = "the credentials (AWS_*/GOOGLE_*/AZURE_* variables) are not allowed to: check them and the bucket's policy"  # noqa: E501
    elif isinstance(exc, FileNotFoundError):
        hint = "the bucket (or container) does not exist: create it, or fix DATA_DIR"
    else:
        hint = f"{type(exc).__name__}: {exc}"
    return ObjectStoreError(f"could not {action} {location}: {hint}", location=location)


def location_size(location: str | os.PathLike[str], storage_options: Mapping[str, Any]) -> int:
    """The size in bytes of the file at `location`, checked to exist and be non-empty.

    Raises:
        InputNotFound: Nothing at `location`.
        EmptyInput: The file is empty.
        ObjectStoreError: The object store could not be asked.
    """
    if not is_url(location):
        size = local_path(location).stat().st_size
    else:
        assert isinstance(location, str)
        size = _remote_size(location, storage_options)
    if size == 0:
        raise EmptyInput(f"the video file is empty (0 bytes): {location}", path=location)
    return size


def _remote_size(location: str, storage_options: Mapping[str, Any]) -> int:
    if _scheme(location) in _HTTP_SCHEMES:
        try:
            response = httpx.head(location, follow_redirects=True, timeout=60)
        except httpx.HTTPError as exc:
            raise _failure("reach", location, exc) from exc
        _check_http(response, location)
        return int(response.headers.get("content-length", -1))
    fs, path = _filesystem(location, storage_options)
    try:
        fs.invalidate_cache(path)
        info = fs.info(path)
    except FileNotFoundError:
        raise InputNotFound(f"video not found: {location}", path=location) from None
    except OSError as exc:
        raise _failure("read", location, exc) from exc
    if info.get("type") == "directory":
        raise InputNotFound(f"not a file: {location}", path=location)
    return int(info["size"])


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    """A file downloaded to local disk."""

    path: Path
    size: int
    sha256: str | None
    """The SHA-256 of the content, when it was asked for."""


def fetch(
    location: str,
    dest: Path,
    storage_options: Mapping[str, Any],
    *,
    digest: bool = False,
    size: int | None = None,
) -> Fetched:
    """Download `location` to the local file `dest`, in one streamed read.

    With `digest`, the content's SHA-256 is computed from the same read. A
    known `size` (from `location_size`) saves asking the store for it again.

    Raises:
        InputNotFound: Nothing at `location`.
        EmptyInput: The file is empty.
        ObjectStoreError: The download failed (the partial file is removed).
    """
    hasher = hashlib.sha256() if digest else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    got = 0
    try:
        with dest.open("wb") as out:
            for block in _blocks(location, storage_options, size):
                out.write(block)
                if hasher is not None:
                    hasher.update(block)
                got += len(block)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    _count(location, read=got)
    if got == 0:
        dest.unlink(missing_ok=True)
        raise EmptyInput(f"the video file is empty (0 bytes): {location}", path=location)
    return Fetched(dest, got, None if hasher is None else hasher.hexdigest())


def read_bytes(location: str, storage_options: Mapping[str, Any]) -> bytes:
    """The whole content at `location` (a small file: a frame, subtitles).

    Raises:
        InputNotFound: Nothing at `location`.
        ObjectStoreError: The read failed.
    """
    if not is_url(location):
        return local_path(location).read_bytes()
    data = b"".join(_blocks(location, storage_options))
    _count(location, read=len(data))
    return data


def _blocks(location: str, storage_options: Mapping[str, Any], size: int | None = None) -> Any:
    if _scheme(location) in _HTTP_SCHEMES:
        yield from _http_blocks(location)
        return
    fs, path = _filesystem(location, storage_options)
    try:
        # Reads of 8 MiB ranges; with the size known, no request asks for it first.
        sized = {} if size is None else {"size": size}
        f = fs.open(path, "rb", block_size=8 * _CHUNK, **sized)
    except FileNotFoundError:
        raise InputNotFound(f"video not found: {location}", path=location) from None
    except OSError as exc:
        raise _failure("read", location, exc) from exc
    with f:
        while True:
            try:
                block = f.read(_CHUNK)
            except OSError as exc:
                raise _failure("read", location, exc) from exc
            if not block:
                return
            yield block


def _check_http(response: httpx.Response, location: str) -> None:
    """Raise the typed error an HTTP answer about `location` means, if it is one."""
    if response.status_code in (403, 404, 410):
        raise InputNotFound(
            f"video not found: {location} (HTTP {response.status_code})", path=location
        )
    if response.is_error:
        raise ObjectStoreError(
            f"could not read {location}: HTTP {response.status_code}", location=location
        )


def _http_blocks(location: str) -> Any:
    try:
        with httpx.stream("GET", location, follow_redirects=True, timeout=60) as response:
            _check_http(response, location)
            yield from response.iter_bytes(_CHUNK)
    except httpx.HTTPError as exc:
        raise _failure("read", location, exc) from exc


# --- writing ---------------------------------------------------------------------------------


def publish(source: Path, location: str, storage_options: Mapping[str, Any]) -> str:
    """Put the local file `source` at `location`, atomically as seen by readers; return `location`.

    A reader sees the old object (or none) until the new one is whole: a bucket
    shows an object only once its upload completes; a local file is written
    under a temporary name and renamed. Publishing again overwrites.

    Raises:
        ObjectStoreError: The upload failed (nothing is visible at `location`).
    """
    if not is_url(location):
        target = local_path(location)
        if target.resolve() != source.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                shutil.copyfile(source, part)
                os.replace(part, target)
            finally:
                part.unlink(missing_ok=True)
        return location
    if _scheme(location) in _HTTP_SCHEMES:
        raise ObjectStoreError(
            f"cannot write to {location}: an https:// location is read-only; "
            "set DATA_DIR to a bucket (s3://, gs://, az://) or a local directory",
            location=location,
        )
    fs, path = _filesystem(location, storage_options)
    size = source.stat().st_size
    try:
        # One PUT, or a multipart upload completed at the end: no reader sees a part.
        fs.put_file(os.fspath(source), path)
    except OSError as exc:
        raise _failure("write", location, exc) from exc
    _count(location, written=size)
    return location


def presign(location: str, storage_options: Mapping[str, Any], *, expires_sec: float) -> str:
    """A URL anyone can open for `expires_sec` seconds: presigned for a bucket, as is otherwise.

    Raises:
        ObjectStoreError: The store cannot sign URLs for `location`.
    """
    if not is_url(location) or _scheme(location) in _HTTP_SCHEMES:
        return location
    fs, path = _filesystem(location, storage_options)
    try:
        return str(fs.sign(path, expiration=int(expires_sec)))
    except (NotImplementedError, OSError, ValueError) as exc:
        raise _failure("sign a URL for", location, exc) from exc


def exists(location: str, storage_options: Mapping[str, Any]) -> bool:
    """Whether a file is at `location`."""
    if not is_url(location):
        return local_path(location).is_file()
    try:
        _remote_size(location, storage_options)
    except InputNotFound:
        return False
    return True
