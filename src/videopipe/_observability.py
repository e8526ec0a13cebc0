"""Metrics (Prometheus), logging set-up, and the worker's small HTTP server."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ._secrets import redact
from ._settings import Settings

__all__ = ["METRICS", "Metrics", "configure_logging", "serve_http"]

logger = logging.getLogger("videopipe.worker")


class Metrics:
    """The Prometheus metrics of videopipe's workers, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Counter(
            "videopipe_jobs", "Jobs by queue and outcome.", ["queue", "outcome"], registry=r
        )
        self.in_flight = Gauge("videopipe_jobs_in_flight", "Jobs being processed.", registry=r)
        self.worker_rss = Gauge(
            "videopipe_worker_resident_bytes",
            "Resident memory of the worker process, read before each claim "
            "(its ceiling is WORKER_MAX_RSS_MB).",
            registry=r,
        )
        self.queue_lag = Gauge(
            "videopipe_queue_lag_seconds", "Age of the oldest runnable pending job.", registry=r
        )
        self.queue_depth = Gauge(
            "videopipe_queue_jobs", "Jobs in the queue by status.", ["status"], registry=r
        )
        self.stage_seconds = Histogram(
            "videopipe_stage_duration_seconds",
            "Wall time of each stage run.",
            ["stage"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.provider_requests = Counter(
            "videopipe_provider_requests", "Requests to AI providers.", registry=r
        )
        self.provider_errors = Counter(
            "videopipe_provider_errors",
            "Job attempts failed by a provider error, by kind (RateLimited, ProviderTimeout...).",
            ["kind"],
            registry=r,
        )
        self.provider_request_errors = Counter(
            "videopipe_provider_request_errors",
            "Failed provider requests, by kind (RateLimited: an HTTP 429).",
            ["kind"],
            registry=r,
        )
        self.provider_retries = Counter(
            "videopipe_provider_retries",
            "Provider calls retried after a passing failure, by kind.",
            ["kind"],
            registry=r,
        )
        self.provider_limit = Gauge(
            "videopipe_provider_concurrency_limit",
            "The adaptive in-flight limit of each provider endpoint: halved on 429, "
            "grown back to its cap on successes.",
            ["provider", "endpoint", "model"],
            registry=r,
        )
        self.provider_rate_wait = Counter(
            "videopipe_provider_rate_wait_seconds",
            "Seconds provider requests waited on the shared RPM/TPM limits (PROVIDER_RPM, "
            "PROVIDER_TPM) before being sent.",
            ["provider", "model"],
            registry=r,
        )
        self.cost = Counter(
            "videopipe_estimated_cost_usd", "Estimated provider spend in US dollars.", registry=r
        )
        self.tokens = Counter(
            "videopipe_provider_tokens", "Provider tokens by direction.", ["direction"], registry=r
        )
        self.audio_seconds = Counter(
            "videopipe_provider_audio_seconds", "Audio seconds transcribed.", registry=r
        )

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


METRICS = Metrics()
"""The process's metrics; `/metrics` serves them."""


class _Redacting(logging.Filter):
    """Masks passwords and keys in a record's message and traceback (see `_secrets.redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("video_id", "stage", "job_id", "worker_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_TEXT = "%(asctime)s - %(name)s - %(levelname)s - [%(filename)s:%(lineno)d] - %(message)s"


def configure_logging(
    settings: Settings, *, json_lines: bool = False, to_file: bool = True, stream: Any = None
) -> Path | None:
    """Send videopipe's logs to stderr and to `{DATA_DIR}/worker/log.log` (5 MB x 3 backups).

    Passwords and API keys are masked in every line (messages and tracebacks).

    Args:
        settings: `LOG_LEVEL` and `DATA_DIR` come from here.
        json_lines: One JSON object per line, for log shippers.
        to_file: Also write the rotating log file.
        stream: Where console logs go (stderr by default).

    Returns:
        The log file's path, when there is one.
    """
    root = logging.getLogger("videopipe")
    root.setLevel(settings.log_level_number)
    for handler in list(root.handlers):
        if getattr(handler, "_videopipe", False):
            root.removeHandler(handler)
            handler.close()
    formatter: logging.Formatter = _JsonFormatter() if json_lines else logging.Formatter(_TEXT)
    console = logging.StreamHandler(stream or sys.stderr)
    handlers: list[logging.Handler] = [console]
    path = None
    # A bucket is no place for a log being appended to: then the console only.
    if to_file and isinstance(settings.data_dir, Path):
        path = settings.data_dir / "worker" / "log.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=3)
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_Redacting())
        handler._videopipe = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False
    return path


Route = Callable[[], Awaitable[tuple[int, str, bytes]]]


async def serve_http(
    routes: dict[str, Route],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `GET` on `routes` (path to handler of status, content type, body) until cancelled.

    Reports the bound port through `task_status` (useful with `port=0`).
    """
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    logger.info("HTTP endpoints on http://%s:%d (%s)", host, bound, ", ".join(sorted(routes)))
    task_status.started(bound)

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            try:
                with anyio.fail_after(10):
                    head = b""
                    while b"\r\n\r\n" not in head and len(head) < 16384:
                        chunk = await client.receive(4096)
                        if not chunk:
                            return
                        head += chunk
                    method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                    path = target.split("?", 1)[0]
                    route = routes.get(path)
                    if method != "GET":
                        status, ctype, body = 405, "application/json", b'{"error":"GET only"}'
                    elif route is None:
                        status, ctype, body = 404, "application/json", b'{"error":"not found"}'
                    else:
                        status, ctype, body = await route()
                    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                        status, "Service Unavailable" if status == 503 else "Error"
                    )
                    await client.send(
                        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                        + body
                    )
            except (anyio.BrokenResourceError, anyio.EndOfStream, TimeoutError, ValueError):
                return

    async with listener:
        await listener.serve(handle)
