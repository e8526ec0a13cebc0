"""A real clip through the real pipeline, its report written by the CLI and drawn by Chromium.

Chromium is Debian's `chromium` (`scripts/install-system-deps.sh`). Without it the
rendering test skips locally, but fails when `CI=true`, so CI cannot pass
without having looked at the page.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import videopipe as vp
from videopipe._cli import main
from videopipe.testing import FakeProvider


def chromium() -> str:
    """The Chromium binary; skips without one, or fails when `CI=true`."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    reason = "chromium is not installed (run scripts/install-system-deps.sh)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: the report must be rendered)", pytrace=False)
    pytest.skip(reason)


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2000) -> Image.Image:
    """`html` as Chromium draws it, headless, into `png`."""
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={png.parent / 'chromium-profile'}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.is_file(), done.stderr[-2000:]
    with Image.open(png) as image:
        return image.convert("RGB")


def vivid_pixels(image: Image.Image) -> int:
    """Pixels of strong colour: the thumbnails' test patterns, not the page's greys."""
    pixels = np.asarray(image, dtype=np.int16)
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 100).sum())


@pytest.fixture
def processed(media, tmp_path: Path) -> tuple[str, str]:
    """`cuts.mp4` through the default pipeline (FakeProvider for AI) into SQLite."""
    db = f"sqlite:///{tmp_path / 'videos.db'}"

    async def run() -> str:
        async with vp.open_store(db) as store:
            pipeline = vp.Pipeline.default(
                store=store, provider=FakeProvider(), data_dir=tmp_path / "data"
            )
            result = await pipeline.run(media["cuts.mp4"])
        assert result.ok, result
        return result.video_id

    return db, vp.run_blocking(run)


@pytest.mark.timeout(180)
def test_report_of_a_real_clip_renders_in_headless_chromium(
    processed: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, video_id = processed
    out = tmp_path / "reports"
    assert main(["report", video_id, "--db", db, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    html, png = out / f"{video_id}.html", out / f"{video_id}.storyboard.png"
    assert lines == [f"report:     {html}", f"storyboard: {png}"]

    page = html.read_text()
    thumbnails = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(thumbnails) == 4  # one per scene of cuts.mp4
    assert all(base64.b64decode(t)[:3] == b"\xff\xd8\xff" for t in thumbnails)
    assert "Hello and welcome." in page
    assert "A frame showing scene" in page

    with Image.open(png) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (8 + 4 * 328, 36 + 180 + 28 + 8 + 8)
        assert vivid_pixels(sheet.convert("RGB")) > 4 * 20_000  # four frames, not blank tiles

    shot = screenshot(html, tmp_path / "screenshot.png")
    assert shot.size == (1280, 2000)
    colours = shot.getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 500  # text, tables and pictures, not a blank or error page
    most_common = max(colours)[1]
    assert most_common == (255, 255, 255)  # the page's background
    assert vivid_pixels(shot) > 4 * 12_000  # the four thumbnails are drawn


@pytest.mark.timeout(120)
def test_hostile_text_stays_text_in_the_browser(tmp_path: Path) -> None:
    """A caption full of markup is shown as characters: Chromium runs and loads nothing."""
    html = tmp_path / "hostile.html"

    async def write() -> vp.Report:
        async with vp.open_store("memory://") as store:
            await store.upsert_video(vp.Video(id="vhostile", original_path="/x.mp4"))
            await store.save_segments(
                "vhostile",
                [
                    vp.TranscriptSegment(
                        id="vhostile_segment_000",
                        video_id="vhostile",
                        idx=0,
                        t_start=0,
                        t_end=1,
                        text="<script>document.body.style.background='red'</script>"
                        "<style>.vp-report{display:none}</style>",
                    )
                ],
            )
            return await vp.write_report(store, "vhostile", tmp_path)

    report = vp.run_blocking(write)
    report.html_path.rename(html)
    shot = screenshot(html, tmp_path / "hostile.png", height=900)
    colours = shot.getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert max(colours)[1] == (255, 255, 255)  # the script did not paint the page red
    assert len(colours) > 50  # and the injected style did not hide the report
