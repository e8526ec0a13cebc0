"""Locations and scratch space: reading, writing and signing media on a real S3 server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

import videopipe as vp
from tests.s3server import Bucket
from videopipe import _locations as loc
from videopipe._cli import main
from videopipe._scratch import Scratch, process_dir
from videopipe.testing import MemoryStore


def test_urls_and_paths_are_told_apart() -> None:
    """A bucket URL is remote; a path or `file://` URL is local, and `Path` keeps it whole."""
    assert loc.is_url("s3://bucket/key.mp4")
    assert loc.is_url("gs://b/k")
    assert loc.is_url("az://c/k")
    assert loc.is_url("https://h/v.mp4")
    assert not loc.is_url("data/talk.mp4")
    assert not loc.is_url(Path("s3:/not/a/url"))
    assert not loc.is_url("file:///srv/videos/talk.mp4")
    assert loc.local_path("file:///srv/my%20videos/talk.mp4") == Path("/srv/my videos/talk.mp4")
    assert loc.join("s3://b/prefix/", "processed", "v1/") == "s3://b/prefix/processed/v1"
    assert vp.Settings(data_dir="s3://b/videopipe/").data_dir == "s3://b/videopipe/"
    assert vp.Settings(data_dir="file:///srv/data").data_dir == Path("/srv/data")
    assert vp.Settings(data_dir="data").data_dir == Path("data")


def test_storage_option_secrets_never_show() -> None:
    """A key given in STORAGE_OPTIONS is masked in the settings' repr."""
    settings = vp.Settings(storage_options={"secret": "s3cr3t-value-xyz", "region": "eu-west-1"})
    assert "s3cr3t-value-xyz" not in repr(settings)
    assert "eu-west-1" in repr(settings)


def test_videopipe_settings_masks_storage_option_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`videopipe settings` shows STORAGE_OPTIONS with its secret masked."""
    monkeypatch.setenv("STORAGE_OPTIONS", '{"secret": "hush-hush-0042", "anon": false}')
    monkeypatch.setenv("DATA_DIR", "s3://media/videopipe/")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "hush-hush-0042" not in out
    assert "anon" in out
    assert "DATA_DIR                     s3://media/videopipe/" in out


def test_a_download_hashes_what_it_reads_in_one_pass(bucket: Bucket, tmp_path: Path) -> None:
    """The content ID comes from the download itself: the object is read once."""
    content = os.urandom(3 * 1024 * 1024 + 17)
    bucket.fs.pipe(f"{bucket.name}/in/clip.mp4", content)
    loc.transfers(reset=True)
    got = loc.fetch(bucket.url("in", "clip.mp4"), tmp_path / "clip.mp4", {}, digest=True)
    assert got.sha256 == hashlib.sha256(content).hexdigest()
    assert (tmp_path / "clip.mp4").read_bytes() == content
    counts = loc.transfers()
    assert counts.reads == {bucket.url("in", "clip.mp4"): 1}
    assert counts.bytes_read == len(content)


def test_missing_and_empty_objects_are_typed_input_errors(bucket: Bucket, tmp_path: Path) -> None:
    """A missing object is `InputNotFound` (permanent); an empty one `EmptyInput`."""
    with pytest.raises(vp.InputNotFound, match="not found"):
        loc.location_size(bucket.url("nope.mp4"), {})
    with pytest.raises(vp.InputNotFound):
        loc.fetch(bucket.url("nope.mp4"), tmp_path / "x", {})
    assert not (tmp_path / "x").exists()
    bucket.fs.pipe(f"{bucket.name}/empty.mp4", b"")
    with pytest.raises(vp.EmptyInput):
        loc.location_size(bucket.url("empty.mp4"), {})


def test_publish_uploads_and_overwrites(bucket: Bucket, tmp_path: Path) -> None:
    """Publishing twice leaves one object, the newer content."""
    source = tmp_path / "a.txt"
    for text in ("first", "second"):
        source.write_text(text)
        loc.publish(source, bucket.url("out", "a.txt"), {})
    assert bucket.objects() == ["out/a.txt"]
    assert bucket.fs.cat(f"{bucket.name}/out/a.txt") == b"second"


def test_a_bucket_that_refuses_writes_is_a_retryable_error(
    s3_endpoint: str, bucket: Bucket, tmp_path: Path
) -> None:
    """No such bucket: a clear, retryable `ObjectStoreError` naming the location."""
    source = tmp_path / "a.txt"
    source.write_text("x")
    with pytest.raises(vp.ObjectStoreError) as info:
        loc.publish(source, "s3://vp-no-such-bucket/data/a.txt", {})
    assert info.value.retryable
    assert not info.value.permanent
    assert "s3://vp-no-such-bucket/data/a.txt" in str(info.value)
    assert "does not exist" in str(info.value)


def test_a_local_publish_is_atomic(tmp_path: Path) -> None:
    """A local target is replaced whole, through a temporary name that does not stay."""
    source = tmp_path / "src.bin"
    source.write_bytes(b"new")
    target = tmp_path / "data" / "out.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    loc.publish(source, str(target), {})
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_a_presigned_link_opens_a_private_object(bucket: Bucket) -> None:
    """The link works without credentials."""
    bucket.fs.pipe(f"{bucket.name}/frames/f.jpg", b"jpeg bytes")
    link = loc.presign(bucket.url("frames", "f.jpg"), {}, expires_sec=600)
    assert link.startswith(bucket.endpoint)
    assert "Signature=" in link or "X-Amz-Signature=" in link
    assert httpx.get(link).content == b"jpeg bytes"


def test_a_killed_process_scratch_is_removed_by_the_next(tmp_path: Path) -> None:
    """kill -9 leaves its scratch directory behind; the next process to start removes it."""
    root = tmp_path / "scratch"
    code = (
        "import os, sys; from pathlib import Path; from videopipe._scratch import process_dir;"
        f"d = process_dir(Path({str(root)!r})); (d / 'big.bin').write_bytes(b'x' * 1000);"
        "print(d, flush=True); os.kill(os.getpid(), 9)"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == -9
    stale = Path(child.stdout.strip())
    assert (stale / "big.bin").is_file()
    mine = process_dir(root)
    assert not stale.exists()
    assert list(root.iterdir()) == [mine]


async def test_scratch_reservations_wait_for_room() -> None:
    """The limit holds: a reservation that does not fit waits until space is given back."""
    scratch = Scratch(Path("unused"), max_bytes=100)
    events: list[str] = []
    release = anyio.Event()

    async def first() -> None:
        async with scratch.reserve(60, what="a"):
            events.append("a in")
            await release.wait()
        events.append("a out")

    async def second() -> None:
        async with scratch.reserve(60, what="b"):
            events.append("b in")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert events == ["a in"]
        release.set()
    assert events == ["a in", "a out", "b in"]
    assert (scratch.peak, scratch.used) == (60, 0)
    with pytest.raises(vp.ScratchFull, match="SCRATCH_MAX_MB"):
        async with scratch.reserve(101, what="huge.mp4"):
            pass


@pytest.fixture
def http_dir(tmp_path: Path):
    """A local HTTP server over a directory (an `https://` input stands in as `http://`)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))

    class Quiet(handler.func):  # type: ignore[name-defined,misc]
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_http_input_streams_through_the_hash(http_dir, tmp_path: Path) -> None:
    """Read with httpx in one pass; a 404 is `InputNotFound`; nothing can be written there."""
    root, url = http_dir
    content = os.urandom(200_000)
    (root / "clip.mp4").write_bytes(content)
    assert loc.location_size(f"{url}/clip.mp4", {}) == len(content)
    got = loc.fetch(f"{url}/clip.mp4", tmp_path / "clip.mp4", {}, digest=True)
    assert got.sha256 == hashlib.sha256(content).hexdigest()
    with pytest.raises(vp.InputNotFound, match="HTTP 404"):
        loc.fetch(f"{url}/missing.mp4", tmp_path / "m.mp4", {})
    with pytest.raises(vp.ObjectStoreError, match="read-only"):
        loc.publish(tmp_path / "clip.mp4", f"{url}/out.mp4", {})


async def test_a_pipeline_has_one_scratch_space_per_event_loop() -> None:
    """Its videos share one limit: the budget is the pipeline's, not each run's."""
    pipeline = vp.Pipeline([], store=MemoryStore())
    assert pipeline.scratch() is pipeline.scratch()
    assert pipeline.scratch().max_bytes == vp.Settings().scratch_max_mb * 2**20
