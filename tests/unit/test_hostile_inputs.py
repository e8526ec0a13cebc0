"""The smaller hostile inputs of issue 19: each a clear error or a clean state, never a crash."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

import videopipe as vp
from videopipe._cli import main
from videopipe.stages import Normalize
from videopipe.testing import FakeProvider


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = f"sqlite:///{tmp_path / 'videos.db'}"

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args[:1], "--db", db, "--data-dir", str(tmp_path / "data"), *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    run.db = db  # type: ignore[attr-defined]
    return run


async def test_a_symlink_loop_is_input_not_found(tmp_path: Path) -> None:
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    with pytest.raises(vp.InputNotFound, match="symbolic link"):
        await vp.video_id_for(loop)


def test_a_symlink_loop_on_the_command_line_is_one_clear_line(cli, tmp_path: Path) -> None:
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    code, _, err = cli("enqueue", str(loop))
    assert code == 1
    assert err.startswith("videopipe: error: ")
    assert "Errno" not in err
    assert "symbolic link" in err


def test_a_search_query_that_is_not_utf8_is_a_clear_error(cli) -> None:
    # What Python makes of `printf 'x\xffy'` on the command line: a lone surrogate.
    code, _, err = cli("search", "x\udcffy")
    assert code == 1
    assert err.startswith("videopipe: error: ")
    assert "UTF-8" in err


async def test_search_refuses_a_query_that_is_not_utf8() -> None:
    store = vp.open_store("memory://")
    with pytest.raises(vp.ConfigurationError, match="UTF-8"):
        await vp.search(store, "x\udcffy", provider=FakeProvider())


def test_a_batch_with_a_missing_file_leaves_no_orphan(cli, tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    good.write_bytes(b"not checked at enqueue")
    code, _, err = cli("enqueue", "--batch", str(good), str(tmp_path / "missing.mp4"))
    assert code == 1
    assert "missing.mp4" in err

    async def videos() -> list[vp.Video]:
        async with vp.open_store(cli.db) as store:
            return await store.list_videos()

    assert anyio.run(videos) == []


def test_file_names_with_terminal_escapes_are_not_printed_raw(cli, tmp_path: Path) -> None:
    evil = tmp_path / "evil\x1b]0;pwned\x07\x1b[31m.mp4"
    evil.write_bytes(b"an evil name")
    code, out, _ = cli("enqueue", str(evil))
    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b]0;pwned" in out
    missing = tmp_path / "gone\x1b[2J.mp4"
    code, _, err = cli("enqueue", str(missing))
    assert code == 1
    assert "\x1b" not in err
    assert "\\x1b[2J" in err


async def test_part_files_left_by_a_kill_are_cleaned_on_the_next_run(tmp_path: Path) -> None:
    """A `kill -9` mid-write leaves `.part` files; the next run of the stage removes them."""
    paths = vp.VideoPaths(tmp_path / "data", "v1")
    paths.processed.mkdir(parents=True)
    stale = paths.processed / ".normalized.mp4.0123456789ab.part"
    stale.write_bytes(b"half a video")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    fresh = paths.processed / ".audio.wav.ba9876543210.part"
    fresh.write_bytes(b"being written right now")
    source = tmp_path / "not-a-video.mp4"
    source.write_bytes(b"not a video at all")
    pipeline = vp.Pipeline(
        [Normalize()], store=vp.open_store("memory://"), data_dir=tmp_path / "data"
    )
    with pytest.raises(vp.StageError):
        await pipeline.run(vp.Video(id="v1", original_path=str(source)))
    assert not stale.exists()
    assert fresh.exists()  # another run may be writing it
