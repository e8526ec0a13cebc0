"""A real OpenAI-compatible HTTP/1.1 server on 127.0.0.1, for tests and benchmarks.

Unlike the respx fakes of `openai_fakes.py`, this is a socket: the `openai`
SDK, httpx and its connection pool run for real, keep-alive included, so a
client that holds connections across event loops fails here as it would in
production. The server runs on its own event loop in a thread (`OpenAIServer`)
or in a child process (`OpenAIServerProcess`, so that its CPU work does not
share the caller's interpreter lock).

It answers `/v1/audio/transcriptions`, `/v1/chat/completions` and
`/v1/embeddings` (floats or base64, as asked) after a fixed latency, and can
misbehave on purpose, deterministically:

- `rate_limit`: the share of requests answered `429` with a `Retry-After`
  drawn from `retry_after` (a seeded draw, so a run is repeatable);
- `storm`: `(first, count)`: the requests numbered `first` to
  `first + count - 1` (counted over all endpoints, from 1) are all answered
  `429` or `503` (alternately), with `Retry-After` — a storm defined by
  requests, not by wall time;
- `echo`: a text put into every error message (to check that a provider
  scrubs what a server echoes back, such as the API key);
- `window`: `(limit, seconds)`: an account's rate limit, enforced as a provider
  does: a request arriving when `limit` requests were already answered in the
  last `seconds` (a sliding window) is answered `429`, with a `Retry-After`
  saying when the oldest of them leaves the window;
- `quiet`: requests whose body holds this text are answered but neither
  counted nor limited (a client's warm-up, before what is measured).

It counts requests and 429/503 answers per endpoint, the peak of concurrent
requests per endpoint, and the arrival time of every request (`arrivals`,
monotonic seconds, with whether it was answered), so a test can check that no
window ever held more than a limit (`most_in_window`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import multiprocessing
import random
import sys
import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np

__all__ = ["OpenAIServer", "OpenAIServerProcess", "most_in_window"]

_REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}


class OpenAIServer:
    """The server, on its own event loop in a daemon thread; use as a context manager."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rate_limit: float = 0.0,
        retry_after: tuple[float, float] = (0.1, 0.5),
        storm: tuple[int, int] | None = None,
        echo: str = "",
        window: tuple[int, float] | None = None,
        quiet: str | None = None,
        seed: int = 1,
        timeout: float = 300.0,
    ) -> None:
        self.latency = latency
        self.window = window
        self.quiet = quiet.encode() if quiet else None
        self._served: deque[float] = deque()  # arrival times of answered requests, in the window
        self.arrivals: list[tuple[float, bool]] = []
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.storm = storm
        self.echo = echo
        self.timeout = timeout
        self.random = random.Random(seed)
        self.total = 0
        self.requests: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def vision_peak(self) -> int:
        return self.peak["completions"]

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the OpenAI-compatible test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            try:
                await asyncio.wait_for(self._stop.wait(), self.timeout)
            except TimeoutError:
                sys.stderr.write(f"test server: stopping by itself after {self.timeout:.0f} s\n")
            server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(100_000):  # keep-alive: bounded
                line = await reader.readline()
                if not line:
                    return
                _method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                for _ in range(200):
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload, extra = await self._answer(path, body)
                data = json.dumps(payload).encode()
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
                head += ["content-type: application/json", f"content-length: {len(data)}"]
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    def _over_window(self, now: float) -> float | None:
        """Seconds until the window has room, when it is full; `None` when it has room now."""
        if self.window is None:
            return None
        limit, seconds = self.window
        while self._served and self._served[0] <= now - seconds:
            self._served.popleft()
        if len(self._served) >= limit:
            return self._served[0] + seconds - now
        self._served.append(now)
        return None

    def _refusal(self) -> int | None:
        """429 or 503 for this request, or `None` to answer it."""
        if self.storm is not None:
            first, count = self.storm
            if first <= self.total < first + count:
                return 429 if (self.total - first) % 2 == 0 else 503
        if self.rate_limit and self.random.random() < self.rate_limit:
            return 429
        return None

    async def _answer(self, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        kind = path.rsplit("/", 1)[-1]
        if self.quiet is not None and self.quiet in body and kind == "embeddings":
            request = json.loads(body)
            return 200, embeddings(request["input"], request.get("dimensions", 1536), False), {}
        self.total += 1
        self.requests[kind] += 1
        n = self.requests[kind]
        now = time.monotonic()
        refusal = self._refusal()
        wait = self.random.uniform(*self.retry_after)
        if refusal is None and (full := self._over_window(now)) is not None:
            refusal, wait = 429, full
        self.arrivals.append((now, refusal is None))
        self.in_flight[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.in_flight[kind])
        try:
            await asyncio.sleep(self.latency)
            if refusal is not None:
                self.limited[kind] += 1
                message = f"Rate limit reached. {self.echo}".strip()
                error = {"error": {"message": message, "type": "requests"}}
                return refusal, error, {"retry-after": f"{wait:.3f}"}
            if kind == "transcriptions":
                return 200, transcription(n), {}
            if kind == "completions":
                return 200, chat(n), {}
            if kind == "embeddings":
                request = json.loads(body)
                dim = request.get("dimensions", 1536)
                as_base64 = request.get("encoding_format") == "base64"
                return 200, embeddings(request["input"], dim, as_base64), {}
            return 404, {"error": {"message": f"no route {path}. {self.echo}"}}, {}
        finally:
            self.in_flight[kind] -= 1


def most_in_window(times: list[float], seconds: float) -> int:
    """The most of `times` that any span of `seconds` (half-open, anywhere) holds."""
    ordered = sorted(times)
    most = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def transcription(n: int, segments: int = 12) -> dict[str, Any]:
    """A `verbose_json` transcription whose text names the request number."""
    pieces = [
        {"id": i, "seek": 0, "start": 5.0 * i, "end": 5.0 * i + 4.5,
         "text": f" Request {n} sentence {i} about the quarterly budget review.",
         "tokens": [1], "temperature": 0.0, "avg_logprob": -0.2,
         "compression_ratio": 1.2, "no_speech_prob": 0.01}
        for i in range(segments)
    ]  # fmt: skip
    return {"task": "transcribe", "language": "english", "duration": 5.0 * segments,
            "text": "".join(s["text"] for s in pieces), "segments": pieces}  # fmt: skip


def chat(n: int) -> dict[str, Any]:
    """A structured-output chat completion describing frame `n`."""
    content = json.dumps(
        {
            "caption": f"A presentation slide, frame {n}, showing a revenue chart.",
            "entities": ["slide", "chart"],
            "on_screen_text": f"SLIDE {n}",
            "controls": [],
        }
    )
    return {
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1732000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": {"prompt_tokens": 185, "completion_tokens": 60, "total_tokens": 245},
    }  # fmt: skip


def embeddings(texts: list[str], dim: int, as_base64: bool) -> dict[str, Any]:
    """One random unit vector per text (seeded by it), as floats or base64 float32 as asked."""
    data = []
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).uniform(-1, 1, dim).astype("<f4")
        vector /= np.linalg.norm(vector)
        encoded = base64.b64encode(vector.tobytes()).decode() if as_base64 else vector.tolist()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(len(t.split()) * 4 // 3 + 1 for t in texts)
    return {"object": "list", "data": data, "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip


class OpenAIServerProcess:
    """`OpenAIServer` in a child process; its counters are read back by `stop()`."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.port = 0
        self.requests: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.arrivals: list[tuple[float, bool]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def vision_peak(self) -> int:
        return self.peak["completions"]

    def start(self) -> OpenAIServerProcess:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_in_child, args=(child, self.options))
        self._process.daemon = True
        self._process.start()
        if not self._conn.poll(60):
            raise RuntimeError("the test server process did not start")
        self.port = self._conn.recv()
        return self

    def stop(self) -> None:
        self._conn.send("stop")
        if self._conn.poll(30):
            stats = self._conn.recv()
            self.requests = Counter(stats["requests"])
            self.limited = Counter(stats["limited"])
            self.peak = Counter(stats["peak"])
            self.arrivals = stats["arrivals"]
        self._process.join(10)


def _serve_in_child(conn: Any, options: dict[str, Any]) -> None:
    server = OpenAIServer(**options).start()
    conn.send(server.port)
    conn.recv()  # "stop"
    server.stop()
    conn.send(
        {
            "requests": dict(server.requests),
            "limited": dict(server.limited),
            "peak": dict(server.peak),
            "arrivals": server.arrivals,
        }
    )
