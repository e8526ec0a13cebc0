"""The default pipeline with its input and DATA_DIR in a bucket on a real S3 server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.s3server import Bucket

import videopipe as vp
from videopipe import _locations as loc
from videopipe._cli import main
from videopipe._media import _scenes as scenes_module
from videopipe.testing import FakeProvider, MemoryStore


def pipeline(
    store: MemoryStore, data_dir: str, provider: FakeProvider | None = None
) -> vp.Pipeline:
    return vp.Pipeline.default(
        store=store, provider=provider or FakeProvider(), data_dir=data_dir, settings=vp.Settings()
    )


def scratch_leftovers(root: Path) -> list[Path]:
    """What is in the scratch space besides each process's lock file."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock")


@pytest.mark.timeout(240)
async def test_a_video_in_a_bucket_runs_end_to_end_into_the_bucket(
    media, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input and DATA_DIR in S3: every artefact is uploaded, recorded by URL, read once."""
    found_stats: list[bool] = []  # per scene detection: did it read normalize's statistics?

    def open_stats(path, **kwargs):
        stats = scenes_module.open_stats.__wrapped__(path, **kwargs)
        found_stats.append(stats is not None)
        return stats

    open_stats.__wrapped__ = scenes_module.open_stats  # type: ignore[attr-defined]
    monkeypatch.setattr(scenes_module, "open_stats", open_stats)
    source = media["cuts.mp4"]
    bucket.fs.put_file(str(source), f"{bucket.name}/inputs/cuts.mp4")
    store, provider = MemoryStore(), FakeProvider()
    data = bucket.url("videopipe")
    loc.transfers(reset=True)
    result = await pipeline(store, data, provider).run(bucket.url("inputs", "cuts.mp4"))
    assert result.ok, result
    vid = result.video_id
    assert vid == await vp.video_id_for(source)  # the same content is the same video
    video = await store.get_video(vid)
    assert video.original_path == bucket.url("inputs", "cuts.mp4")
    assert video.normalized_path == f"{data}/processed/{vid}/normalized.mp4"
    assert video.audio_path == f"{data}/processed/{vid}/audio.wav"
    frames = await store.list_frames(vid)
    assert [f.path for f in frames] == [f"{data}/frames/{vid}/scene_{i:03d}.jpg" for i in range(4)]
    assert len(await store.list_segments(vid)) == 4
    keys = bucket.objects()
    prefix = "videopipe"
    assert f"{prefix}/processed/{vid}/normalized.mp4" in keys
    assert f"{prefix}/processed/{vid}/audio.wav" in keys
    assert f"{prefix}/subs/{vid}.srt" in keys
    # The scene statistics travel with the video, and the scenes stage used them.
    assert f"{prefix}/processed/{vid}/normalized.scenestats" in keys
    assert found_stats == [True]
    assert {f"{prefix}/frames/{vid}/scene_{i:03d}.jpg" for i in range(4)} <= set(keys)
    assert not [k for k in keys if "chunks" in k or k.endswith(".part")]
    reads = loc.transfers().reads
    assert reads[bucket.url("inputs", "cuts.mp4")] == 1  # hashed while downloaded, not twice
    # What normalize uploaded, the later stages of the run read from their local copy.
    assert reads.keys() == {bucket.url("inputs", "cuts.mp4")}
    probed = await vp._media.probe(await _download(bucket, video.normalized_path, tmp_path))
    assert (probed.width, probed.height) == (320, 240)
    assert scratch_leftovers(vp.Settings().scratch_dir) == []

    again = await pipeline(store, data).run(bucket.url("inputs", "cuts.mp4"))
    assert all(o.resumed for o in again.stages.values())
    # A later run of the scenes stage alone downloads the statistics with the video.
    redone = await pipeline(store, data).run(bucket.url("inputs", "cuts.mp4"), force={"scenes"})
    assert redone.ok, redone
    assert found_stats == [True, True]

    # The report's thumbnails are the frames in the bucket.
    report = await vp.write_report(store, vid, tmp_path / "reports")
    assert report.html_path.read_text().count("data:image/jpeg;base64,") >= 4

    # A search hit's link opens the private object: presigned, at the moment.
    hits = await vp.search(store, "sentence", provider=provider, min_score=0.0)
    assert hits
    link = hits[0].link or ""
    assert link.startswith(f"{bucket.endpoint}/{bucket.name}/inputs/cuts.mp4?")
    assert "#t=" in link
    async with httpx.AsyncClient() as client:
        opened = await client.get(link.partition("#")[0])
    assert opened.content == source.read_bytes()


async def _download(bucket: Bucket, url: str | None, tmp_path: Path) -> Path:
    assert url is not None
    out = tmp_path / "normalized.mp4"
    bucket.fs.get_file(url, str(out))
    return out


@pytest.mark.timeout(240)
async def test_a_bucket_that_refuses_writes_fails_the_video_and_a_retry_completes(
    media, bucket: Bucket
) -> None:
    """No such bucket: a retryable error, nothing recorded; once it exists, the retry finishes."""
    bucket.fs.put_file(str(media["silent.mp4"]), f"{bucket.name}/in/silent.mp4")
    store = MemoryStore()
    missing = f"{bucket.name}-later"
    with pytest.raises(vp.StageError) as info:
        await pipeline(store, f"s3://{missing}/data").run(bucket.url("in", "silent.mp4"))
    cause = info.value.__cause__
    assert isinstance(cause, vp.ObjectStoreError)
    assert cause.retryable
    assert not cause.permanent
    assert f"s3://{missing}/data/processed/" in str(cause)
    video = await store.get_video(info.value.item_key or "")
    assert video.status is vp.VideoStatus.FAILED
    assert video.normalized_path is None  # nothing recorded that is not there
    assert scratch_leftovers(vp.Settings().scratch_dir) == []

    bucket.fs.mkdir(missing)
    result = await pipeline(store, f"s3://{missing}/data").run(bucket.url("in", "silent.mp4"))
    assert result.ok
    assert (
        result.video.normalized_path == f"s3://{missing}/data/processed/{video.id}/normalized.mp4"
    )
    assert bucket.fs.exists(result.video.normalized_path)


async def test_a_missing_input_in_a_bucket_is_input_not_found(bucket: Bucket) -> None:
    """Permanent, with the URL in the message: a worker dead-letters it at once."""
    with pytest.raises(vp.InputNotFound, match=r"nothing\.mp4"):
        await pipeline(MemoryStore(), bucket.url("data")).run(bucket.url("nothing.mp4"))


@pytest.mark.timeout(120)
def test_the_cli_processes_and_enqueues_urls_into_a_bucket(
    media, bucket: Bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`videopipe process s3://…` and `videopipe enqueue s3://…` with `--data-dir s3://…`."""
    bucket.fs.put_file(str(media["silent.mp4"]), f"{bucket.name}/in/silent.mp4")
    bucket.fs.put_file(str(media["cuts.mp4"]), f"{bucket.name}/in/cuts.mp4")
    common = ["--db", f"sqlite:///{tmp_path / 'videos.db'}", "--data-dir", bucket.url("data")]
    code = main(["process", *common, "--quiet", bucket.url("in", "silent.mp4")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "Done: 1 succeeded, 0 failed"
    assert any(k.endswith("/normalized.mp4") for k in bucket.objects())
    code = main(["enqueue", *common, bucket.url("in", "cuts.mp4")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert bucket.url("in", "cuts.mp4") in out


async def test_an_unusable_scratch_directory_fails_the_stage_with_a_clear_error(
    media, bucket: Bucket, tmp_path: Path
) -> None:
    """SCRATCH_DIR under a regular file: the stage fails, naming the setting to fix."""
    (tmp_path / "a-file").write_text("not a directory")
    settings = vp.Settings(scratch_dir=tmp_path / "a-file" / "scratch")
    pipeline = vp.Pipeline.default(
        store=MemoryStore(), provider=FakeProvider(), data_dir=bucket.url("d"), settings=settings
    )
    with pytest.raises(vp.StageError) as info:
        await pipeline.run(media["silent.mp4"])
    assert info.value.stage == "normalize"
    assert isinstance(info.value.__cause__, vp.ConfigurationError)
    assert "SCRATCH_DIR" in str(info.value.__cause__)
    assert bucket.objects() == []
