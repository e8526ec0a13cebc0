"""Realistic OpenAI API responses served through respx, so the real `openai` SDK code runs."""

from __future__ import annotations

import hashlib
import json
import math
import re
from base64 import b64encode
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import numpy as np
import respx

BASE = "https://api.openai.com/v1"
DIM = 1536


def vector_for(text: str, dim: int = DIM) -> list[float]:
    """A deterministic unit vector per text: equal texts, equal vectors."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % 32] + i * 31) % 97) / 97 - 0.5 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def transcription_body(segments: list[tuple[float, float, str]], duration: float) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "language": "english",
        "duration": duration,
        "text": " ".join(t for _, _, t in segments),
        "segments": [
            {
                "id": i,
                "seek": 0,
                "start": a,
                "end": b,
                "text": f" {t}",
                "tokens": [50364, 1012],
                "temperature": 0.0,
                "avg_logprob": -0.21,
                "compression_ratio": 1.3,
                "no_speech_prob": 0.01,
            }
            for i, (a, b, t) in enumerate(segments)
        ],
        "usage": {"type": "duration", "seconds": math.ceil(duration)},
    }


def chat_body(
    content: str, *, prompt_tokens: int = 120, completion_tokens: int = 45
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1732000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": content, "refusal": None},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def analysis_json(caption: str, text: str = "") -> str:
    return json.dumps(
        {"caption": caption, "entities": ["slide"], "on_screen_text": text, "controls": []}
    )


def embeddings_body(texts: list[str], dim: int = DIM, *, base64: bool = False) -> dict[str, Any]:
    """The API's answer; with `base64`, vectors as base64 little-endian float32, as it sends."""

    def encoded(vector: list[float]) -> str | list[float]:
        if not base64:
            return vector
        return b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()

    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encoded(vector_for(t, dim))}
            for i, t in enumerate(texts)
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": sum(len(t.split()) for t in texts), "total_tokens": 0},
    }


class FakeOpenAI:
    """Routes for the three endpoints, with counters and hooks for failures and latency."""

    def __init__(self, router: respx.MockRouter, base: str = BASE) -> None:
        self.router = router
        self.base = base
        self.in_flight = 0
        self.peak_vision = 0
        self.vision_delay = 0.0
        self.floats_only = False  # answer embeddings as JSON floats, whatever was asked
        self.transcripts: list[tuple[float, float, str]] = [
            (0.0, 2.0, "Welcome to the budget review."),
            (2.0, 4.5, "Revenue grew by twelve percent."),
        ]
        self.transcript_for: Callable[[int], list[tuple[float, float, str]]] | None = None
        self.vision_content: Callable[[int], str] = lambda n: analysis_json(
            f"A presentation slide number {n}", text=f"SLIDE {n}"
        )
        self.transcriptions = router.post(f"{base}/audio/transcriptions").mock(
            side_effect=self._transcribe
        )
        self.chat = router.post(f"{base}/chat/completions").mock(side_effect=self._chat)
        self.embeddings = router.post(f"{base}/embeddings").mock(side_effect=self._embed)
        self.embedded_batches: list[int] = []
        self.vision_calls = 0
        self.transcription_calls = 0

    @property
    def calls(self) -> int:
        return self.transcriptions.call_count + self.chat.call_count + self.embeddings.call_count

    def _transcribe(self, request: httpx.Request) -> httpx.Response:
        n = self.transcription_calls
        self.transcription_calls += 1
        # Chunks are sent concurrently: tell them apart by their file name, not by order.
        named = re.search(rb'filename="chunk_(\d+)\.wav"', request.content)
        if named:
            n = int(named.group(1))
        segments = self.transcript_for(n) if self.transcript_for else self.transcripts
        duration = max((b for _, b, _ in segments), default=0.0)
        return httpx.Response(200, json=transcription_body(segments, duration))

    async def _chat(self, request: httpx.Request) -> httpx.Response:
        self.vision_calls += 1
        number = self.vision_calls
        self.in_flight += 1
        self.peak_vision = max(self.peak_vision, self.in_flight)
        try:
            if self.vision_delay:
                await anyio.sleep(self.vision_delay)
            body = json.loads(request.content)
            assert body["response_format"]["type"] == "json_schema"
            image = body["messages"][0]["content"][1]["image_url"]
            assert re.match(r"data:image/jpeg;base64,", image["url"])
            return httpx.Response(200, json=chat_body(self.vision_content(number)))
        finally:
            self.in_flight -= 1

    def _embed(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["encoding_format"] in ("float", "base64")
        texts = body["input"]
        self.embedded_batches.append(len(texts))
        as_base64 = body["encoding_format"] == "base64" and not self.floats_only
        dim = body.get("dimensions", DIM)
        return httpx.Response(200, json=embeddings_body(texts, dim, base64=as_base64))
