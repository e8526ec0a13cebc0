"""The HTML report, the storyboard contact sheet and the rich displays, on a hand-made store."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image

import videopipe as vp
from videopipe._models import caption_id, frame_id, scene_id, segment_id
from videopipe._report import LOCAL_CAPTION_NOTE, TILE_SIZE
from videopipe._report._html import PLAYER_SCRIPT
from videopipe.storage import MemoryStore

VID = "vreport0001"
HOSTILE = "<script>alert('x')</script> & \"quotes\" <img src=x onerror=alert(1)>"
COLOURS = [(220, 30, 30), (30, 200, 40), (30, 60, 220), (240, 220, 20)]
DATA_URI = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')


def make_frame(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="JPEG", quality=95)
    return str(path)


async def populate(store: MemoryStore, tmp_path: Path, *, missing_frame: bool = False) -> None:
    """A processed video: 4 scenes (the last a duplicate of the first), hostile text everywhere."""
    await store.upsert_video(
        vp.Video(
            id=VID,
            original_path=f"/videos/{HOSTILE}.mp4",
            duration_sec=8.0,
            width=320,
            height=180,
            has_audio=True,
            status=vp.VideoStatus.READY,
        )
    )
    scenes = [
        vp.Scene(id=scene_id(VID, i), video_id=VID, idx=i, t_start=2.0 * i, t_end=2.0 * i + 2)
        for i in range(4)
    ]
    await store.save_scenes(VID, scenes)
    frames = []
    for i, colour in enumerate(COLOURS):
        path = tmp_path / "frames" / f"scene_{i:03d}.jpg"
        if not (missing_frame and i == 2):
            make_frame(path, colour)
        frames.append(
            vp.Frame(
                id=frame_id(VID, i),
                video_id=VID,
                scene_id=scene_id(VID, i),
                idx=i,
                t=2.0 * i + 1,
                path=str(path),
                phash=f"{i:016x}",
                duplicate_of=frame_id(VID, 0) if i == 3 else None,
            )
        )
    await store.save_frames(VID, frames)
    await store.save_segments(
        VID,
        [
            vp.TranscriptSegment(
                id=segment_id(VID, 0), video_id=VID, idx=0, t_start=0, t_end=2, text="Welcome."
            ),
            vp.TranscriptSegment(
                id=segment_id(VID, 1), video_id=VID, idx=1, t_start=2, t_end=4, text=HOSTILE
            ),
        ],
    )
    captions = [
        vp.FrameCaption(
            id=caption_id(frame_id(VID, 0)),
            video_id=VID,
            frame_id=frame_id(VID, 0),
            t=1.0,
            caption=f"A red slide saying {HOSTILE}",
            entities=["slide", "<b>bold</b>"],
            ocr_text="QUARTERLY RESULTS",
            model="fake-vision",
        ),
        vp.FrameCaption(  # what a local provider makes: OCR only, no description
            id=caption_id(frame_id(VID, 1)),
            video_id=VID,
            frame_id=frame_id(VID, 1),
            t=3.0,
            caption="",
            ocr_text="Budget 2025",
            model="rapidocr",
        ),
        vp.FrameCaption(
            id=caption_id(frame_id(VID, 2)),
            video_id=VID,
            frame_id=frame_id(VID, 2),
            t=5.0,
            caption="",
            error="ProviderTimeout: the provider did not answer",
        ),
    ]
    await store.save_captions(VID, captions)
    for name in ("normalize", "scenes", "frames", "vision", "transcribe"):
        await store.record_stage_run(
            vp.StageRun(
                video_id=VID,
                stage=name,
                status=vp.StageStatus.DONE,
                duration_sec=0.5,
                detail={"count": 4},
            )
        )
    await store.record_stage_run(
        vp.StageRun(
            video_id=VID,
            stage="embeddings",
            status=vp.StageStatus.SKIPPED,
            detail={"skipped": "no AI provider is configured"},
        )
    )
    await store.record_usage(
        vp.Usage(
            video_id=VID,
            stage="vision",
            provider="openai",
            model="gpt-4o-mini",
            requests=3,
            input_tokens=555,
            output_tokens=240,
            images=3,
            cost_usd=0.0123,
        )
    )


@pytest.fixture
async def store(tmp_path: Path):
    store = MemoryStore()
    await populate(store, tmp_path)
    yield store
    await store.aclose()


async def test_html_escapes_every_piece_of_untrusted_text(store: MemoryStore) -> None:
    """Captions, transcripts and paths come from models and videos: none can inject markup."""
    report = await vp.load_report(store, VID)
    for page in (report.to_html(), report._repr_html_()):
        assert "<script" not in page
        assert "<img src=x" not in page
        assert "onerror=alert" not in page or "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<b>bold</b>" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
        assert "&quot;quotes&quot;" in page
        assert "&lt;b&gt;bold&lt;/b&gt;" in page


async def test_page_is_self_contained_with_every_section(store: MemoryStore) -> None:
    """The report fetches nothing: thumbnails are data URIs, and a CSP forbids anything else."""
    page = (await vp.load_report(store, VID)).to_html()
    assert page.startswith("<!DOCTYPE html>")
    for section in (
        "Storyboard (4 scenes)",
        "Transcript (2 segments)",
        "Captions (3)",
        "Stages",
        "Usage and cost",
    ):
        assert f"<h2>{section}</h2>" in page
    assert "default-src 'none'; img-src data:" in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    uris = DATA_URI.findall(page)
    assert len(uris) == 4
    with Image.open(io.BytesIO(base64.b64decode(uris[0]))) as thumb:
        assert thumb.format == "JPEG"
        red, green, blue = thumb.convert("RGB").getpixel((thumb.width // 2, thumb.height // 2))
        assert red > 180  # the first scene's red frame
        assert max(green, blue) < 80
    assert "00:02.00\N{EN DASH}00:04.00" in page
    assert "$0.0123" in page
    assert "same picture as scene 0" in page
    # An anchor per scene and segment, where a search hit's `anchor` points.
    assert [f'id="scene-{i:03d}"' in page for i in range(4)] == [True] * 4
    assert 'id="segment-000"' in page
    assert 'id="segment-001"' in page
    assert "embeddings skipped" not in page  # only a missing section explains a skip
    assert "no AI provider is configured" in page  # ... and the stages table says it


async def test_ocr_only_captions_say_they_come_from_a_local_provider(store: MemoryStore) -> None:
    report = await vp.load_report(store, VID)
    page = report.to_html()
    assert LOCAL_CAPTION_NOTE == "on-screen text only (local provider)"
    assert page.count(LOCAL_CAPTION_NOTE) == 2  # the storyboard card and the captions table
    assert "Budget 2025" in page
    assert "not analysed: ProviderTimeout: the provider did not answer" in page
    assert f"{LOCAL_CAPTION_NOTE}: Budget 2025" in report.table()


async def test_a_missing_frame_file_is_shown_not_fatal(tmp_path: Path) -> None:
    """Frames deleted from DATA_DIR leave a placeholder; the rest of the report is written."""
    store = MemoryStore()
    await populate(store, tmp_path, missing_frame=True)
    report = await vp.write_report(store, VID, tmp_path / "out")
    page = report.html_path.read_text()
    assert "frame file missing" in page
    assert len(DATA_URI.findall(page)) == 3
    with Image.open(report.png_path) as sheet:
        tw, th = TILE_SIZE
        x, y = 8 + 2 * (tw + 8) + tw // 2, 36 + th // 4
        assert sheet.convert("RGB").getpixel((x, y)) == (0, 0, 0)


async def test_contact_sheet_has_one_tile_per_scene(store: MemoryStore) -> None:
    """Four scenes in two columns: a 2x2 grid, each tile showing its own frame."""
    report = await vp.load_report(store, VID)
    tw, th = TILE_SIZE
    sheet = report.contact_sheet(columns=2)
    assert sheet.size == (8 + 2 * (tw + 8), 36 + 2 * (th + 28 + 8) + 8)
    for i, colour in enumerate(COLOURS):
        x = 8 + (i % 2) * (tw + 8) + tw // 2
        y = 36 + (i // 2) * (th + 28 + 8) + th // 2
        got = sheet.getpixel((x, y))
        assert isinstance(got, tuple)
        assert all(abs(a - b) < 12 for a, b in zip(got, colour, strict=True)), (i, got)
    assert report.contact_sheet().size == (8 + 4 * (tw + 8), 36 + th + 28 + 8 + 8)
    with pytest.raises(vp.ConfigurationError):
        report.contact_sheet(columns=0)


async def test_write_report_writes_both_files_and_replaces_them(
    store: MemoryStore, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "reports"
    report = await vp.write_report(store, VID, out)
    assert report == vp.Report(VID, out / f"{VID}.html", out / f"{VID}.storyboard.png")
    first = report.html_path.read_bytes()
    with Image.open(report.png_path) as png:
        assert png.format == "PNG"
    again = await vp.write_report(store, VID, out)
    assert again.html_path.read_bytes().startswith(first[:200])
    assert sorted(p.name for p in out.iterdir()) == [f"{VID}.html", f"{VID}.storyboard.png"]


async def test_unknown_and_hostile_ids_are_typed_errors(store: MemoryStore, tmp_path: Path) -> None:
    with pytest.raises(vp.NotFound, match="no video with id 'nope'"):
        await vp.write_report(store, "nope", tmp_path)
    for hostile in ("../../etc/passwd", "a/b", "", "x\ny"):
        with pytest.raises(vp.ConfigurationError, match="invalid video id"):
            await vp.write_report(store, hostile, tmp_path / "out")
    assert not (tmp_path / "out").exists()


async def test_a_video_with_nothing_yet_explains_each_empty_section(tmp_path: Path) -> None:
    async with MemoryStore() as store:
        await store.upsert_video(vp.Video(id="vempty", original_path="/x.mp4"))
        await store.record_stage_run(
            vp.StageRun(
                video_id="vempty",
                stage="transcribe",
                status=vp.StageStatus.SKIPPED,
                detail={"skipped": "the video has no audio track"},
            )
        )
        report = await vp.write_report(store, "vempty", tmp_path)
    page = report.html_path.read_text()
    assert "No storyboard: the scenes stage has not run." in page
    assert "No transcript: transcribe skipped: the video has no audio track." in page
    assert "No captions: the vision stage has not run." in page
    with Image.open(report.png_path) as sheet:
        assert sheet.size == (8 + TILE_SIZE[0] + 8, 36 + TILE_SIZE[1] + 28 + 8 + 8)


async def test_plain_text_table_shows_control_characters_instead_of_running_them(
    tmp_path: Path,
) -> None:
    """A transcript could carry terminal escape sequences; printing a report must not obey them."""
    async with MemoryStore() as store:
        await store.upsert_video(vp.Video(id="vtty", original_path="/x.mp4"))
        await store.save_segments(
            "vtty",
            [
                vp.TranscriptSegment(
                    id=segment_id("vtty", 0),
                    video_id="vtty",
                    idx=0,
                    t_start=3661.5,
                    t_end=3663.0,
                    text="red \x1b[31malert\x07 \r\nnext line",
                )
            ],
        )
        text = str(await vp.load_report(store, "vtty"))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "red \\x1b[31malert\\x07 next line" in text
    assert "1:01:01.50" in text


async def test_stages_are_listed_in_pipeline_order(store: MemoryStore) -> None:
    text = (await vp.load_report(store, VID)).table()
    order = [line.split()[0] for line in text.splitlines() if " done " in line or "skipped" in line]
    assert order[:6] == ["normalize", "transcribe", "scenes", "frames", "vision", "embeddings"]


def _result(**changes: object) -> vp.VideoResult:
    video = vp.Video(
        id="vres",
        original_path=f"/in/{HOSTILE}.mp4",
        duration_sec=8.0,
        status=vp.VideoStatus.FAILED,
        error="stage 'vision' failed: <b>boom</b>",
    )
    stages = {
        "normalize": vp.StageOutcome(vp.StageStatus.DONE, resumed=True, duration_sec=0.9),
        "vision": vp.StageOutcome(vp.StageStatus.FAILED, duration_sec=0.1, error="<b>boom</b>"),
        "embeddings": vp.StageOutcome(
            vp.StageStatus.SKIPPED, detail={"skipped": "no AI provider is configured"}
        ),
    }
    usage = vp.UsageSummary(requests=2, images=1, cost_usd=0.5)
    return vp.VideoResult(video=video, stages=stages, usage=usage, duration_sec=1.25)


def test_video_result_renders_what_it_holds() -> None:
    """A result carries stages and usage, not the storyboard: it says where to find that."""
    result = _result()
    page = result._repr_html_()
    assert "<b>boom</b>" not in page
    assert "&lt;b&gt;boom&lt;/b&gt;" in page
    assert "<script" not in page
    assert "$0.5000" in page
    assert "await result.report(store)" in page
    text = str(result)
    assert text == result.table()
    lines = text.splitlines()
    assert lines[0] == "vres: failed in 1.2s"
    assert lines[1].split()[:3] == ["normalize", "done", "0.90s"]
    assert "resumed" in lines[1]
    assert lines[3].split()[:3] == ["embeddings", "skipped", "0.00s"]
    assert lines[3].endswith("no AI provider is configured")
    assert lines[-1].startswith("  usage: 2 requests")


async def test_video_result_report_reads_the_store(store: MemoryStore) -> None:
    result = vp.VideoResult(
        video=await store.get_video(VID), stages={}, usage=vp.UsageSummary(), duration_sec=0.0
    )
    report = await result.report(store)
    assert isinstance(report, vp.VideoReport)
    assert len(report.scenes) == 4
    assert len(DATA_URI.findall(report._repr_html_())) == 4


async def test_repr_html_shows_a_transcript_excerpt(tmp_path: Path) -> None:
    async with MemoryStore() as store:
        await store.upsert_video(vp.Video(id="vlong", original_path="/x.mp4"))
        segments = [
            vp.TranscriptSegment(
                id=segment_id("vlong", i),
                video_id="vlong",
                idx=i,
                t_start=i,
                t_end=i + 1,
                text=f"sentence {i}",
            )
            for i in range(30)
        ]
        await store.save_segments("vlong", segments)
        report = await vp.load_report(store, "vlong")
    assert "sentence 29" in report.to_html()
    notebook = report._repr_html_()
    assert "sentence 7" in notebook
    assert "sentence 8" not in notebook
    assert "and 22 more segments" in notebook


def test_search_hits_render_as_text_table_and_html(tmp_path: Path) -> None:
    frame = make_frame(tmp_path / "f.jpg", (30, 200, 40))
    hits = [
        vp.SearchHit(
            kind="caption",
            id="c1",
            video_id="vhit",
            text=f"A slide {HOSTILE}",
            t_start=61.0,
            t_end=61.0,
            score=0.91234,
            frame_path=frame,
            matched=["slide", "<script>"],
        ),
        vp.SearchHit(
            kind="segment",
            id="s1",
            video_id="vhit",
            text="the budget \x1b[2J" + " word" * 40,
            t_start=1.5,
            t_end=3.0,
            score=0.5,
        ),
    ]
    assert str(hits[0]).startswith("0.912  vhit  01:01.00-01:01.00  [caption] A slide <script>")
    table = vp.SearchHit.table(hits)
    lines = table.splitlines()
    assert lines[0].split() == ["score", "video", "time", "kind", "text"]
    assert lines[1].startswith(" 0.912  vhit")
    assert "\x1b" not in table
    assert lines[2].endswith("…")
    card = hits[0]._repr_html_()
    assert "<script" not in card
    assert "matched words: slide, &lt;script&gt;" in card
    assert len(DATA_URI.findall(card)) == 1
    assert DATA_URI.findall(hits[1]._repr_html_()) == []


def test_write_report_blocking_works_inside_a_running_loop(tmp_path: Path) -> None:
    """Jupyter runs cells inside an event loop; the blocking twin opens its own store there."""
    url = f"sqlite:///{tmp_path / 'videos.db'}"

    async def setup() -> None:
        async with vp.open_store(url) as store:
            await store.upsert_video(vp.Video(id="vblock", original_path="/x.mp4"))

    asyncio.run(setup())

    async def notebook_cell() -> vp.Report:
        return vp.write_report_blocking(url, "vblock", tmp_path / "out")

    report = asyncio.run(notebook_cell())
    assert report.html_path.is_file()
    assert report.png_path.is_file()


def test_cli_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from videopipe._cli import main

    db = f"sqlite:///{tmp_path / 'videos.db'}"
    assert main(["report", "--db", db, "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"videopipe: error: there is no store at {db}: the file ")
    assert not (tmp_path / "videos.db").exists()
    assert main(["report", "--db", db, "../../etc/passwd\nx"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("videopipe: error: invalid video id '../../etc/passwd\\nx'")
    assert err.count("\n") == 1


async def test_notebook_display_of_a_long_video_stays_small(tmp_path: Path) -> None:
    """Hundreds of scenes: the notebook shows the first 48, the report file all of them."""
    frame = make_frame(tmp_path / "f.jpg", (30, 60, 220), (64, 36))
    async with MemoryStore() as store:
        await store.upsert_video(vp.Video(id="vmany", original_path="/x.mp4"))
        n = 60
        await store.save_scenes(
            "vmany",
            [
                vp.Scene(id=scene_id("vmany", i), video_id="vmany", idx=i, t_start=i, t_end=i + 1)
                for i in range(n)
            ],
        )
        await store.save_frames(
            "vmany",
            [
                vp.Frame(
                    id=frame_id("vmany", i),
                    video_id="vmany",
                    scene_id=scene_id("vmany", i),
                    idx=i,
                    t=i + 0.5,
                    path=frame,
                    phash=f"{i:016x}",
                )
                for i in range(n)
            ],
        )
        await store.save_captions(
            "vmany",
            [
                vp.FrameCaption(
                    id=caption_id(frame_id("vmany", i)),
                    video_id="vmany",
                    frame_id=frame_id("vmany", i),
                    t=i + 0.5,
                    caption=f"picture {i}",
                )
                for i in range(n)
            ],
        )
        report = await vp.load_report(store, "vmany")
    notebook = report._repr_html_()
    assert len(DATA_URI.findall(notebook)) == 48
    assert "and 12 more scenes" in notebook
    assert "and 12 more captions" in notebook
    assert len(DATA_URI.findall(report.to_html())) == n
    sheet = report.contact_sheet()
    assert sheet.size == (8 + 4 * (TILE_SIZE[0] + 8), 36 + 15 * (TILE_SIZE[1] + 28 + 8) + 8)
    # A cap on the tiles keeps the image small for a long video: 10 of the 60, evenly spread.
    capped = report.contact_sheet(columns=5, max_tiles=10)
    assert capped.size == (8 + 5 * (TILE_SIZE[0] + 8), 36 + 2 * (TILE_SIZE[1] + 28 + 8) + 8)
    with pytest.raises(vp.ConfigurationError):
        report.contact_sheet(max_tiles=0)


PLAYER_SRC = re.compile(
    r'<video id="vp-player" class="vp-player" controls preload="metadata" '
    r'src="([^"]+)"></video>'
)


async def with_local_file(store: MemoryStore, tmp_path: Path, *, normalized: bool) -> Path:
    """The report's video pointed at a local original (and a normalized copy) that exist."""
    original = tmp_path / "in put" / "talk.mp4"
    original.parent.mkdir()
    original.write_bytes(b"original")
    copy = tmp_path / "processed" / "normalized.mp4"
    if normalized:
        copy.parent.mkdir()
        copy.write_bytes(b"normalized")
    video = await store.get_video(VID)
    await store.upsert_video(
        video.model_copy(update={"original_path": str(original), "normalized_path": str(copy)})
    )
    return copy if normalized else original


@pytest.mark.parametrize("normalized", [True, False])
async def test_player_plays_the_local_file_and_times_seek_it(
    store: MemoryStore, tmp_path: Path, normalized: bool
) -> None:
    """The normalized copy when it is there (browsers play H.264), else the original."""
    played = await with_local_file(store, tmp_path, normalized=normalized)
    page = (await vp.load_report(store, VID)).to_html(player=True)
    (src,) = PLAYER_SRC.findall(page)
    assert src == played.as_uri()
    # Each scene's and segment's time seeks the player; their anchors carry their start.
    for t in ("0", "2", "4", "6"):
        assert f'<a class="vp-seek" href="#t={t}">play</a>' in page
    assert '<figure id="scene-002" data-t="4">' in page
    assert '<tr id="segment-001" data-t="2">' in page
    # The policy lets in local media and the one script, by its hash; nothing else runs.
    (policy,) = re.findall(r'Content-Security-Policy" content="([^"]+)"', page)
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert scripts == [PLAYER_SCRIPT]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy == (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"media-src file:; script-src 'sha256-{digest}'"
    )
    assert "<script>alert" not in page  # the hostile transcript is still only text


async def test_no_player_unless_asked_or_for_a_file_that_is_not_local(
    store: MemoryStore, tmp_path: Path
) -> None:
    page = (await vp.load_report(store, VID)).to_html(player=True)  # the file does not exist
    assert "<video" not in page
    assert "<script" not in page.replace("&lt;script", "")
    assert "No player: the video is not a local file this page may load." in page
    assert "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\"" in page
    video = await store.get_video(VID)
    await store.upsert_video(video.model_copy(update={"original_path": "s3://bucket/talk.mp4"}))
    assert "<video" not in (await vp.load_report(store, VID)).to_html(player=True)
    await with_local_file(store, tmp_path, normalized=True)
    plain = (await vp.load_report(store, VID)).to_html()
    assert "<video" not in plain
    assert 'class="vp-seek"' not in plain
    assert "No player" not in plain


def test_write_report_and_the_cli_add_the_player(tmp_path: Path) -> None:
    from videopipe._cli import main

    db = tmp_path / "videos.db"

    async def setup() -> tuple[Path, vp.Report]:
        async with vp.open_store(f"sqlite:///{db}") as store:
            await populate(store, tmp_path)  # type: ignore[arg-type]
            played = await with_local_file(store, tmp_path, normalized=False)  # type: ignore[arg-type]
            return played, await vp.write_report(store, VID, tmp_path / "api", player=True)

    played, report = asyncio.run(setup())
    assert PLAYER_SRC.findall(report.html_path.read_text()) == [played.as_uri()]
    out = tmp_path / "cli"
    assert main(["report", "--db", f"sqlite:///{db}", VID, "--out", str(out), "--player"]) == 0
    assert PLAYER_SRC.findall((out / f"{VID}.html").read_text()) == [played.as_uri()]


async def test_a_titled_video_is_called_by_its_title_everywhere(store: MemoryStore) -> None:
    video = await store.get_video(VID)
    await store.upsert_video(video.model_copy(update={"title": f"Q3 {HOSTILE}"}))
    report = await vp.load_report(store, VID)
    page = report.to_html()
    shown = "Q3 &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert f"<title>videopipe report: {shown}" in page
    assert f"<h1>{shown}" in page
    assert f'<p class="vp-meta">id: {VID}</p>' in page
    assert "<script>" not in page
    assert report.table().splitlines()[1] == f"title: Q3 {HOSTILE}"
