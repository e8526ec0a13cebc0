from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
import respx

import videopipe as vp
from videopipe import _cost
from videopipe._cli import main
from videopipe._media import MediaInfo
from videopipe._models import Frame
from videopipe.storage import MemoryStore

from ..openai_fakes import FakeOpenAI
from .test_ai_stages import BLUE, GREEN, RED, FakeFrames, pipeline, video

YELLOW, CYAN, MAGENTA = (200, 200, 20), (20, 200, 200), (200, 20, 200)


class StoredFrames(FakeFrames):
    """`FakeFrames` that, like `ExtractFrames`, reloads its frames when resumed."""

    async def load(self, ctx: vp.StageContext) -> list[Frame]:
        return await ctx.store.list_frames(ctx.video.id)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeOpenAI(router)


@pytest.fixture
def durations(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Probe results by file name, so estimates of long videos need no long files."""
    known: dict[str, float] = {}
    real_probe = _cost.media.probe

    async def probe(path: str | Path) -> MediaInfo:
        name = Path(path).name
        if name not in known:
            return await real_probe(path)
        return MediaInfo(
            path=str(path),
            duration_sec=known[name],
            width=1280,
            height=720,
            fps=30.0,
            rotation=0,
            has_audio=True,
            video_codec="h264",
            audio_codec="aac",
            size_bytes=1_000_000,
            variable_frame_rate=False,
        )

    monkeypatch.setattr(_cost.media, "probe", probe)
    return known


GPT4O_FRAME = (85 + 100) * 2.50 / 1e6 + 80 * 10.00 / 1e6


async def test_estimate_counts_calls_and_cost_without_any_http_call(
    fake: FakeOpenAI, tmp_path: Path, durations: dict[str, float]
) -> None:
    """An estimate probes locally and prices the expected calls; the provider is never called."""
    durations["ten.mp4"] = 600.0
    durations["half-hour.mp4"] = 1800.0
    p = pipeline(MemoryStore(), tmp_path)
    ten = video(tmp_path, "ten.mp4", b"ten minutes")
    half = video(tmp_path, "half-hour.mp4", b"thirty minutes")
    bad = video(tmp_path, "bad.mp4", b"not a video at all")
    estimate = await p.estimate([ten, bad, half])

    assert len(fake.router.calls) == 0
    first, broken, second = estimate.items
    assert first.ok
    assert first.video_id == await vp.video_id_for(ten)
    assert first.duration_sec == 600.0
    assert first.transcription_requests == 1  # 600 s of 16 kHz s16 WAV is 19.2 MB
    assert first.vision_calls == 120  # one scene every 5 s is assumed
    assert first.frames_assumed
    assert first.embedding_requests == 1
    assert first.stages["transcribe"].cost_usd == pytest.approx(10 * 0.006)
    assert first.stages["vision"].cost_usd == pytest.approx(120 * GPT4O_FRAME)
    tokens = 600 * 2.5 * 1.3 + 120 * 80
    assert first.stages["embeddings"].cost_usd == pytest.approx(tokens * 0.02 / 1e6)
    assert second.transcription_requests == 3  # 57.6 MB of WAV: three chunks under 24 MiB
    assert second.vision_calls == 360
    # ...which overlap by 1 s, so 2 s are sent twice.
    assert second.stages["transcribe"].cost_usd == pytest.approx((1800 + 2) / 60 * 0.006)
    assert isinstance(broken.error, vp.MediaError)
    assert not broken.ok
    assert broken.cost_usd == 0
    assert estimate.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert estimate.transcription_requests == 4
    assert estimate.vision_calls == 480
    assert "total" in estimate.table()


async def test_estimate_counts_completed_stages_as_free(
    fake: FakeOpenAI, tmp_path: Path, durations: dict[str, float]
) -> None:
    """A finished video costs nothing more; its stored frames replace the assumption."""
    store = MemoryStore()
    p = pipeline(store, tmp_path)
    path = video(tmp_path)
    durations[path.name] = 3.0
    await p.run(path)
    calls = len(fake.router.calls)
    [item] = (await p.estimate([path])).items
    assert len(fake.router.calls) == calls
    assert item.cost_usd == 0
    assert all(s.completed for s in item.stages.values())
    assert item.frames == 3  # the stored unique frames (one of four is a duplicate)
    assert not item.frames_assumed


async def test_a_tiny_budget_stops_the_second_video_and_a_larger_one_resumes_it(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    """The stage that would pass the budget fails before calling; a re-run redoes nothing done."""
    store = MemoryStore()
    first = pipeline(store, tmp_path, colors=[RED, GREEN, RED, BLUE])
    first.budget_usd = 0.005
    second = first.replace(StoredFrames([YELLOW, CYAN, MAGENTA]))  # shares the budget

    done = await first.run(video(tmp_path, "a.mp4", b"first"))
    assert done.ok
    spent = first.budget.spent_usd
    assert spent == pytest.approx(done.usage.cost_usd)
    vision_calls = fake.vision_calls

    with pytest.raises(vp.StageError) as caught:
        await second.run(video(tmp_path, "b.mp4", b"second"))
    error = caught.value
    assert error.stage == "vision"
    assert isinstance(error.__cause__, vp.BudgetExceeded)
    assert "raise the budget" in str(error.__cause__)
    assert "$0.0050 budget" in str(error.__cause__)
    assert not vp.is_retryable(error)
    assert fake.vision_calls == vision_calls  # nothing was sent for the stopped stage
    partial = error.result
    assert partial.stages["transcribe"].status is vp.StageStatus.DONE
    assert first.budget.reserved_usd == 0
    assert (await store.get_video(done.video_id)).status is vp.VideoStatus.READY

    transcriptions = fake.transcriptions.call_count
    second.budget_usd = 1.0
    resumed = await second.run(video(tmp_path, "b.mp4", b"second"))
    assert resumed.ok
    assert resumed.stages["transcribe"].resumed
    assert resumed.stages["frames"].resumed
    assert fake.transcriptions.call_count == transcriptions
    assert fake.vision_calls == vision_calls + 3


async def test_pipeline_default_takes_a_budget(tmp_path: Path) -> None:
    """`Pipeline.default(budget_usd=...)` sets the limit, and pipelines derived from it share it."""
    p = vp.Pipeline.default(store=MemoryStore(), data_dir=tmp_path, budget_usd=2.5)
    assert p.budget_usd == 2.5
    assert p.remove("embeddings").budget is p.budget
    with pytest.raises(vp.ConfigurationError):
        p.budget_usd = -1


async def test_concurrent_reservations_never_pass_the_budget() -> None:
    """Reservations made from many tasks at once stay under the limit."""
    budget = vp.Budget(1.0)
    granted: list[float] = []
    refused: list[vp.BudgetExceeded] = []

    async def stage(i: int) -> None:
        await anyio.lowlevel.checkpoint()
        try:
            reservation = budget.reserve(0.3, stage="vision", video_id=f"v{i}")
        except vp.BudgetExceeded as exc:
            refused.append(exc)
            return
        granted.append(reservation.amount)
        await anyio.sleep(0.01)
        reservation.settle(0.25)

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(stage, i)
    assert len(granted) == 3
    assert len(refused) == 7
    assert budget.spent_usd == pytest.approx(0.75)
    assert budget.reserved_usd == 0
    assert budget.remaining_usd == pytest.approx(0.25)


async def test_dry_run_prints_the_estimate_and_makes_no_call(
    fake: FakeOpenAI,
    tmp_path: Path,
    durations: dict[str, float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`videopipe process --dry-run` prints the table and total, exits 0 and processes nothing."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dry-run-key")
    path = video(tmp_path, "talk.mp4")
    durations["talk.mp4"] = 60.0
    db = tmp_path / "db" / "videos.db"

    code = await anyio.to_thread.run_sync(
        main, ["process", "--dry-run", "--db", f"sqlite:///{db}", str(path)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert len(fake.router.calls) == 0
    assert "Estimated cost: $" in out
    assert out.splitlines()[2].startswith("total")
    assert not db.exists()  # nothing was recorded
