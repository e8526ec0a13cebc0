"""Map HTTP client errors (httpx, the `openai` SDK) to videopipe's, once, at the provider boundary.

Everything above the providers reads `retryable` and `retry_after` of
videopipe's errors; this module is the only place that knows the foreign
types and parses `Retry-After`. `classify_http_error` is also the hook a
`RetryPolicy` takes for foreign exceptions raised by a user's own worker.
"""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .._exceptions import ProviderError, ProviderTimeout, RateLimited
from .._secrets import redact

__all__ = ["classify_http_error", "error_for_status", "parse_retry_after"]


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `Retry-After-Ms` or `Retry-After` (seconds or an HTTP date), if any.

    Examples:
        >>> parse_retry_after({"retry-after": "7"})
        7.0
    """
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if value is None:
            return None
        return max(0.0, float(value))
    except ValueError:
        pass
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_status(
    what: str, status: int, headers: Mapping[str, str] | None, message: str
) -> ProviderError:
    """The videopipe error for an HTTP error answer: "slow down" (429, 503 + Retry-After) or not."""
    wait = parse_retry_after(headers)
    if status == 429 or (status == 503 and wait is not None):
        return RateLimited(
            f"{what}: rate limited (HTTP {status}): {message}", retry_after=wait, status_code=status
        )
    return ProviderError(f"{what}: HTTP {status}: {message}", status_code=status, retry_after=wait)


def classify_http_error(
    exc: BaseException, *, what: str = "request", scrub: Callable[[str], str] = redact
) -> ProviderError | None:
    """The videopipe error for an `httpx` or `openai` SDK exception; `None` for anything else.

    Timeouts become `ProviderTimeout`, connection failures a retryable
    `ProviderError`, HTTP 429 (and 503 with `Retry-After`) `RateLimited` with
    the delay the server asked for, other statuses a `ProviderError` whose
    `retryable` follows the status. Pass it as `RetryPolicy(classify=...)` to
    retry a worker that calls httpx or the SDK itself.

    Examples:
        ```python
        policy = vp.RetryPolicy(classify=classify_http_error)
        results = await vp.process_batch(urls, fetch, retry=policy)
        ```

    Note:
        Added in 0.2.0.
    """
    openai: Any = sys.modules.get("openai")  # an SDK error implies the SDK is imported
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeout(f"{what}: the provider did not answer in time")
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"{what}: could not reach the provider: {exc}", retryable=True)
        if isinstance(exc, openai.APIStatusError):
            return error_for_status(
                what, exc.status_code, exc.response.headers, scrub(api_message(exc))
            )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"{what}: the provider did not answer in time")
    if isinstance(exc, httpx.TransportError):
        return ProviderError(
            f"{what}: could not reach the provider: {scrub(str(exc))}", retryable=True
        )
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return error_for_status(
            what, response.status_code, response.headers, scrub(response.reason_phrase)
        )
    return None


def scrubbed(exc: BaseException, scrub: Callable[[str], str] = redact) -> BaseException:
    """`exc` with the secrets in its message, arguments and error body masked by `scrub`.

    The SDK's exception stays the cause of videopipe's error (its type and
    status are worth a traceback), but a server that echoes the API key in its
    answer must not put the key into that traceback.
    """
    exc.args = tuple(scrub(a) if isinstance(a, str) else a for a in exc.args)
    if isinstance(getattr(exc, "message", None), str):
        exc.message = scrub(exc.message)  # type: ignore[attr-defined]
    if getattr(exc, "body", None) is not None:
        exc.body = _scrub_json(exc.body, scrub)  # type: ignore[attr-defined]
    return exc


def _scrub_json(value: object, scrub: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_json(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v, scrub) for v in value]
    return value


def api_message(exc: Any) -> str:
    """The `error.message` of an OpenAI-style error body, else the SDK's message."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc.message)
