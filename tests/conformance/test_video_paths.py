"""Videos by the path or URL they were made from: `find_videos_by_path`."""

from __future__ import annotations

from tests.conformance import records
from videopipe._models import Video


async def test_videos_are_found_by_their_original_path(store) -> None:
    await store.upsert_video(records.video("talk"))
    await store.upsert_video(records.video("demo"))
    await store.upsert_video(Video(id="again", original_path="/videos/talk.mp4"))
    found = await store.find_videos_by_path("/videos/talk.mp4")
    assert {v.id for v in found} == {"talk", "again"}
    assert [v.id for v in await store.find_videos_by_path("/videos/demo.mp4")] == ["demo"]
    assert await store.find_videos_by_path("talk.mp4") == []
    assert await store.find_videos_by_path("") == []


async def test_a_path_that_is_not_utf8_or_a_url_is_found_too(store) -> None:
    odd = "/videos/caf\udce9.mp4"  # a Latin-1 file name, as os.listdir gives it
    url = "s3://bucket/dir/clip%201.mov"
    await store.upsert_video(Video(id="odd", original_path=odd))
    await store.upsert_video(Video(id="remote", original_path=url))
    assert [v.id for v in await store.find_videos_by_path(odd)] == ["odd"]
    assert [v.id for v in await store.find_videos_by_path(url)] == ["remote"]
    assert await store.find_videos_by_path("/videos/caf\udce8.mp4") == []
