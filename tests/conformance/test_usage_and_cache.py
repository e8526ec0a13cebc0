"""Usage accounting and the small key-value cache."""

from __future__ import annotations

import pytest

from tests.conformance import records
from videopipe import ConfigurationError
from videopipe._models import Usage, UsageSummary


def _usage(video_id: str, stage: str, job_id: str | None = None, **counts) -> Usage:
    return Usage(
        video_id=video_id, stage=stage, provider="openai", model="m", job_id=job_id, **counts
    )


async def test_usage_adds_up_by_video_job_batch_and_overall(store) -> None:
    for v in ("a", "b", "c"):
        await store.upsert_video(records.video(v))
    batch = await store.create_batch(["a", "b"])
    await store.record_usage(
        _usage("a", "transcribe", "j1", requests=2, audio_seconds=30.5, cost_usd=0.01)
    )
    await store.record_usage(
        _usage(
            "a",
            "vision",
            "j1",
            requests=3,
            images=3,
            input_tokens=900,
            output_tokens=120,
            cost_usd=0.02,
        )
    )
    await store.record_usage(
        _usage("b", "embed", "j2", requests=1, texts=40, input_tokens=2000, cost_usd=0.001)
    )
    await store.record_usage(_usage("c", "embed", None, requests=1, texts=5, cost_usd=0.5))
    await store.record_usage(
        _usage("c", "embed", None, requests=1, texts=5, cost_usd=0.5)
    )  # appended, not merged

    a = await store.usage_summary(video_id="a")
    assert (a.requests, a.images, a.input_tokens, a.output_tokens) == (5, 3, 900, 120)
    assert a.audio_seconds == pytest.approx(30.5)
    assert a.cost_usd == pytest.approx(0.03)
    assert (await store.usage_summary(job_id="j2")).texts == 40
    in_batch = await store.usage_summary(batch_id=batch)
    assert in_batch.requests == 6
    assert in_batch.cost_usd == pytest.approx(0.031)
    everything = await store.usage_summary()
    assert everything.requests == 8
    assert everything.texts == 50
    assert everything.cost_usd == pytest.approx(1.031)
    both = await store.usage_summary(video_id="a", job_id="j2")
    assert both == UsageSummary()
    assert await store.usage_summary(video_id="nobody") == UsageSummary()
    assert await store.usage_summary(batch_id="batch_nope") == UsageSummary()


async def test_cache_overwrites_and_returns_only_present_keys(store) -> None:
    assert await store.get_cached(["a"]) == {}
    await store.put_cached({"a": "1", "b": '{"caption": "x"}'})
    await store.put_cached({"a": "2"})
    await store.put_cached({})
    assert await store.get_cached(["a", "b", "c"]) == {"a": "2", "b": '{"caption": "x"}'}
    assert await store.get_cached(iter(["b"])) == {"b": '{"caption": "x"}'}
    assert await store.get_cached([]) == {}


async def test_cache_refuses_text_no_backend_can_store(store) -> None:
    with pytest.raises(ConfigurationError):
        await store.put_cached({"k": "a\x00b"})
    assert await store.get_cached(["k", "a\x00b"]) == {}
