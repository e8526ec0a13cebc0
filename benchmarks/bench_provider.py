"""Benchmark the AI stages against a local mock OpenAI-compatible server, with and without 429s.

Run:  python benchmarks/bench_provider.py                 (20 one-minute videos, 0 % and 20 % 429s)
      python benchmarks/bench_provider.py --videos 5 --latency 0.1 --rate-limit 0.2

A mock server on 127.0.0.1 (an asyncio HTTP/1.1 server in a child process, so
its CPU work does not compete with the client for the interpreter lock)
answers `/v1/audio/transcriptions`, `/v1/chat/completions` and
`/v1/embeddings` (floats or base64, as asked) after a fixed latency, and
answers a configurable share of requests with HTTP 429 and `Retry-After`. It
counts requests per endpoint and the peak of concurrent vision requests. It
stops with the benchmark (and by itself after `--server-timeout` seconds at
the latest).

The media stages (normalize, scenes, frames) run once, for real, on the 60 s
1080p clip of `scripts/make_media.py` (`make_bench()`): at about 15 s of CPU-bound
work per video on 2 cores they would dominate a run of 20 videos and hide what
this measures. Every video then reuses those outputs (the WAV and the frame
JPEGs) under its own video ID, through two small stand-in stages, and goes
through the real `Transcribe`, `Caption` and `Embed` stages and `OpenAIProvider`
(`base_url=` the mock server). The mock puts the request number into every
transcript and caption and the video ID into every frame's pHash, so no cache
makes one video cheaper than another.

It prints, per run: wall time against the ideal given the concurrency caps,
requests per video, 429s answered, the peak of concurrent vision requests (which
must not pass `VISION_MAX_CONCURRENT`), and the estimated cost per minute of
video (from `Pipeline.estimate` and from the recorded usage).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import multiprocessing
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from bench_media import load_make_media  # benchmarks/ is on sys.path as a script

import videopipe as vp
from videopipe._models import Frame, frame_id, scene_id
from videopipe.providers import OpenAIProvider
from videopipe.stages import Caption, DetectScenes, Embed, ExtractFrames, Normalize, Transcribe
from videopipe.storage import MemoryStore

# --- the mock server ------------------------------------------------------------------------


class MockOpenAI:
    """A tiny OpenAI-compatible HTTP/1.1 server on 127.0.0.1, in a thread with its own loop."""

    def __init__(self, *, latency: float, rate_limit: float, retry_after: float, seed: int = 1):
        self.latency = latency
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.random = random.Random(seed)
        self.requests: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()
        self.vision_in_flight = 0
        self.vision_peak = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, *, limit: float) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(limit),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the mock server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self, limit: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            try:
                await asyncio.wait_for(self._stop.wait(), limit)
            except TimeoutError:
                print(f"mock server: stopping by itself after {limit:.0f} s", file=sys.stderr)

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
                head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Too Many Requests'}"]
                head += ["content-type: application/json", f"content-length: {len(data)}"]
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _answer(self, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        kind = path.rsplit("/", 1)[-1]
        self.requests[kind] += 1
        n = self.requests[kind]
        vision = kind == "completions"
        if vision:
            self.vision_in_flight += 1
            self.vision_peak = max(self.vision_peak, self.vision_in_flight)
        try:
            await asyncio.sleep(self.latency)
            if self.random.random() < self.rate_limit:
                self.limited[kind] += 1
                error = {"error": {"message": "Rate limit reached", "type": "requests"}}
                return 429, error, {"retry-after": f"{self.retry_after:g}"}
            if kind == "transcriptions":
                return 200, _transcription(n), {}
            if vision:
                return 200, _chat(n), {}
            if kind == "embeddings":
                request = json.loads(body)
                dim = request.get("dimensions", 1536)
                as_base64 = request.get("encoding_format") == "base64"
                return 200, _embeddings(request["input"], dim, as_base64), {}
            return 404, {"error": {"message": f"no route {path}"}}, {}
        finally:
            if vision:
                self.vision_in_flight -= 1


def _transcription(n: int) -> dict[str, Any]:
    segments = [
        {"id": i, "seek": 0, "start": 5.0 * i, "end": 5.0 * i + 4.5,
         "text": f" Request {n} sentence {i} about the quarterly budget review.",
         "tokens": [1], "temperature": 0.0, "avg_logprob": -0.2,
         "compression_ratio": 1.2, "no_speech_prob": 0.01}
        for i in range(12)
    ]  # fmt: skip
    return {"task": "transcribe", "language": "english", "duration": 60.0,
            "text": "".join(s["text"] for s in segments), "segments": segments}  # fmt: skip


def _chat(n: int) -> dict[str, Any]:
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


def _embeddings(texts: list[str], dim: int, as_base64: bool) -> dict[str, Any]:
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


class MockProcess:
    """`MockOpenAI` in a child process, so that its CPU work (JSON, 1536-float vectors) does
    not share the benchmark's interpreter lock, as a real server would not."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.port = 0
        self.requests: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()
        self.vision_peak = 0

    def start(self, *, limit: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve_in_child, args=(child, self.options, limit), daemon=True
        )
        self._process.start()
        if not self._conn.poll(60):
            raise RuntimeError("the mock server process did not start")
        self.port = self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        if self._conn.poll(30):
            stats = self._conn.recv()
            self.requests = Counter(stats["requests"])
            self.limited = Counter(stats["limited"])
            self.vision_peak = stats["vision_peak"]
        self._process.join(10)


def _serve_in_child(conn: Any, options: dict[str, Any], limit: float) -> None:
    server = MockOpenAI(**options)
    server.start(limit=limit)
    conn.send(server.port)
    conn.recv()  # "stop"
    server.stop()
    conn.send(
        {
            "requests": dict(server.requests),
            "limited": dict(server.limited),
            "vision_peak": server.vision_peak,
        }
    )


# --- stand-in media stages over prepared outputs -------------------------------------------


class PreparedNormalize:
    """The normalize stage's result for the benchmark clip, already computed once."""

    name = "normalize"
    requires = ()

    def __init__(self, prepared: vp.Video) -> None:
        self.prepared = prepared

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        await ctx.update_video(
            normalized_path=self.prepared.normalized_path,
            audio_path=self.prepared.audio_path,
            duration_sec=self.prepared.duration_sec,
            has_audio=self.prepared.has_audio,
        )
        return {"has_audio": self.prepared.has_audio}


class PreparedFrames:
    """The scenes + frames stages' result for the benchmark clip, under this video's IDs."""

    name = "frames"
    requires = ("normalize",)

    def __init__(self, prepared: list[Frame]) -> None:
        self.prepared = prepared

    async def run(self, ctx: vp.StageContext) -> list[Frame]:
        vid = ctx.video.id
        ids = {f.id: frame_id(vid, f.idx) for f in self.prepared}
        frames = [
            f.model_copy(
                update={
                    "id": ids[f.id],
                    "video_id": vid,
                    "scene_id": scene_id(vid, f.idx),
                    "phash": f"{vid}:{f.phash}",  # no cross-video caption cache hits
                    "duplicate_of": ids[f.duplicate_of] if f.duplicate_of else None,
                }
            )
            for f in self.prepared
        ]
        await ctx.store.save_frames(vid, frames)
        return frames

    async def load(self, ctx: vp.StageContext) -> list[Frame]:
        return await ctx.store.list_frames(ctx.video.id)


# --- the benchmark ------------------------------------------------------------------------------


async def prepare(clip: Path, data_dir: Path) -> tuple[vp.Video, list[Frame], float]:
    store = MemoryStore()
    pipeline = vp.Pipeline(
        [Normalize(), DetectScenes(), ExtractFrames()],
        store=store,
        data_dir=data_dir,
        settings=vp.Settings(_env_file=None),
    )
    t0 = time.perf_counter()
    result = await pipeline.run(clip)
    took = time.perf_counter() - t0
    return result.video, await store.list_frames(result.video_id), took


async def run_once(
    args: argparse.Namespace,
    clip: Path,
    data_dir: Path,
    video: vp.Video,
    frames: list[Frame],
    rate_limit: float,
) -> dict[str, Any]:
    server = MockProcess(latency=args.latency, rate_limit=rate_limit, retry_after=args.retry_after)
    server.start(limit=args.server_timeout)
    try:
        settings = vp.Settings(vision_max_concurrent=args.vision_max, _env_file=None)
        retry = vp.RetryPolicy(attempts=12, initial_delay=0.05, max_delay=1.0)
        provider = OpenAIProvider(api_key="bench", base_url=f"http://127.0.0.1:{server.port}/v1")
        store = MemoryStore()
        pipeline = vp.Pipeline(
            [
                PreparedNormalize(video),
                Transcribe(retry=retry),
                PreparedFrames(frames),
                Caption(retry=retry),
                Embed(retry=retry),
            ],
            store=store,
            provider=provider,
            data_dir=data_dir,
            settings=settings,
        )
        estimate = await pipeline.estimate([clip])
        ids = [f"bench{rate_limit * 100:02.0f}v{i:02d}" for i in range(args.videos)]

        async def one(video_id: str) -> vp.VideoResult:
            return await pipeline.run(clip, video_id=video_id)

        t0 = time.perf_counter()
        results = await vp.process_batch(ids, one, concurrency=args.concurrency)
        wall = time.perf_counter() - t0
        # Close the client's keep-alive connections first, so the server's handlers end cleanly.
        await provider.client.close()
    finally:
        server.stop()
    ok = [r.unwrap() for r in results if r.ok]
    errors = [r.error for r in results if isinstance(r, vp.Err)]
    unique = sum(1 for f in frames if f.duplicate_of is None)
    # The ideal: every vision call back to back at the cap, then the last video's embeddings.
    vision_total = unique * args.videos
    waves = math.ceil(vision_total / args.vision_max)
    ideal = waves * args.latency + args.latency
    cost = sum(r.usage.cost_usd for r in ok)
    minutes = args.videos * (video.duration_sec or 0.0) / 60
    return {
        "rate_limit": rate_limit,
        "wall": wall,
        "ideal": ideal,
        "completed": len(ok),
        "errors": errors,
        "requests": dict(server.requests),
        "limited": dict(server.limited),
        "vision_peak": server.vision_peak,
        "vision_total": vision_total,
        "cost_per_minute": cost / minutes if minutes else 0.0,
        "estimate_per_minute": estimate.cost_usd / ((video.duration_sec or 60.0) / 60),
        "estimate": estimate,
    }


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    n = args.videos
    req = r["requests"]
    total = sum(req.values())
    print(
        f"--- {r['rate_limit']:.0%} of requests answered 429 (Retry-After {args.retry_after:g} s)"
    )
    print(
        f"videos completed        {r['completed']}/{n}"
        + (f"  errors: {r['errors']}" if r["errors"] else "")
    )
    why = f"{r['vision_total']} vision calls / cap {args.vision_max} x {args.latency:g} s + 1 embed"
    print(f"wall time               {r['wall']:.2f} s   (ideal {r['ideal']:.2f} s: {why}; "
          f"ratio {r['wall'] / r['ideal']:.2f})")  # fmt: skip
    per = {k: v / n for k, v in req.items()}
    print(f"requests per video      {total / n:.2f}  (transcriptions "
          f"{per.get('transcriptions', 0):.2f}, vision {per.get('completions', 0):.2f}, "
          f"embeddings {per.get('embeddings', 0):.2f}; "
          f"incl. {sum(r['limited'].values())} 429s in all)")  # fmt: skip
    print(f"vision concurrency peak {r['vision_peak']} (cap {args.vision_max}): "
          f"{'OK' if r['vision_peak'] <= args.vision_max else 'EXCEEDED'}")  # fmt: skip
    print(f"cost per video minute   ${r['cost_per_minute']:.4f} recorded "
          f"(gpt-4o low detail + whisper-1 + text-embedding-3-small list prices); "
          f"${r['estimate_per_minute']:.4f} estimated beforehand")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20, help="videos in flight")
    parser.add_argument("--vision-max", type=int, default=8, help="VISION_MAX_CONCURRENT")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per mock response")
    parser.add_argument("--rate-limit", type=float, action="append", help="share of 429s")
    parser.add_argument("--retry-after", type=float, default=0.2)
    parser.add_argument("--server-timeout", type=float, default=300.0)
    parser.add_argument(
        "--media-dir", type=Path, default=Path(tempfile.gettempdir()) / "vp-bench-media"
    )
    args = parser.parse_args()
    clip = load_make_media().make_bench(args.media_dir, 60)
    with tempfile.TemporaryDirectory(prefix="videopipe-bench-provider-") as tmp:
        data_dir = Path(tmp)
        video, frames, took = anyio.run(prepare, clip, data_dir)
        unique = sum(1 for f in frames if f.duplicate_of is None)
        print(f"clip: {clip.name}, {video.duration_sec:.1f} s; media stages once: {took:.1f} s, "
              f"{len(frames)} frames ({unique} unique)")  # fmt: skip
        print(f"{args.videos} videos, {args.concurrency} at a time, mock latency "
              f"{args.latency:g} s, VISION_MAX_CONCURRENT={args.vision_max}")  # fmt: skip
        for rate in args.rate_limit or [0.0, 0.2]:
            result = anyio.run(run_once, args, clip, data_dir, video, frames, rate)
            report(args, result)
            if result["completed"] != args.videos or result["vision_peak"] > args.vision_max:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
