"""Stage outputs: `save_*` replaces a video's rows of that kind; `list_*` returns them in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conformance import records
from videopipe import ConfigurationError, NotFound


@dataclass
class Kind:
    name: str
    make: Any  # (video_id, n) -> list of records

    def save(self, store, video_id, rows):
        return getattr(store, f"save_{self.name}")(video_id, rows)

    def list(self, store, video_id):
        return getattr(store, f"list_{self.name}")(video_id)


KINDS = [
    Kind("scenes", lambda v, n: records.scenes(v, n)),
    Kind("frames", lambda v, n: records.frames(v, n)),
    Kind("segments", lambda v, n: records.segments(v, [f"words {i}" for i in range(n)])),
    Kind("captions", lambda v, n: records.captions(v, [f"a slide {i}" for i in range(n)])),
]


@pytest.fixture(params=KINDS, ids=lambda k: k.name)
def kind(request) -> Kind:
    return request.param


async def test_saving_twice_leaves_one_copy(store, kind: Kind) -> None:
    """A stage re-run writes the same rows again: they are upserts, not appends."""
    await store.upsert_video(records.video("talk"))
    rows = kind.make("talk", 3)
    await kind.save(store, "talk", rows)
    await kind.save(store, "talk", rows)
    assert await kind.list(store, "talk") == rows


async def test_saving_replaces_the_videos_rows_of_that_kind(store, kind: Kind) -> None:
    """A re-run that finds fewer scenes leaves no stale ones behind, and other videos alone."""
    await store.upsert_video(records.video("talk"))
    await store.upsert_video(records.video("other"))
    await kind.save(store, "talk", kind.make("talk", 5))
    await kind.save(store, "other", kind.make("other", 2))
    fewer = kind.make("talk", 2)
    await kind.save(store, "talk", fewer)
    assert await kind.list(store, "talk") == fewer
    assert await kind.list(store, "other") == kind.make("other", 2)
    await kind.save(store, "talk", [])
    assert await kind.list(store, "talk") == []


async def test_rows_come_back_in_order_whatever_order_they_were_saved_in(store, kind) -> None:
    await store.upsert_video(records.video("talk"))
    rows = kind.make("talk", 12)
    await kind.save(store, "talk", list(reversed(rows)))
    assert await kind.list(store, "talk") == rows


async def test_the_last_of_two_rows_with_one_id_wins(store, kind: Kind) -> None:
    await store.upsert_video(records.video("talk"))
    first, second = kind.make("talk", 2)
    changed = second.model_copy(update={"id": first.id})
    await kind.save(store, "talk", [first, changed])
    assert await kind.list(store, "talk") == [changed]


async def test_scenes_keep_their_transitions_and_picture_spans(store) -> None:
    """Each boundary's kind and the black edges come back; scenes from before them too."""
    await store.upsert_video(records.video("talk"))
    rows = records.scenes("talk", 5)
    assert {s.transition_in for s in rows[1:]} == set(records.KINDS)
    bare = [s.model_copy(update={"idx": s.idx + 5, "id": s.id + "b"}) for s in rows]
    bare = [
        s.model_copy(
            update={
                "transition_in": None,
                "transition_out": None,
                "content_start": None,
                "content_end": None,
            }
        )
        for s in bare
    ]
    await store.save_scenes("talk", rows + bare)
    assert await store.list_scenes("talk") == rows + bare


async def test_saving_needs_the_video(store, kind: Kind) -> None:
    with pytest.raises(NotFound):
        await kind.save(store, "ghost", kind.make("ghost", 1))
    with pytest.raises(NotFound):
        await kind.save(store, "ghost", [])


async def test_rows_of_another_video_are_refused(store, kind: Kind) -> None:
    """Saving B's rows under A would make them vanish from both: it is a bug, said so."""
    await store.upsert_video(records.video("a"))
    await store.upsert_video(records.video("b"))
    await kind.save(store, "a", kind.make("a", 1))
    with pytest.raises(ConfigurationError, match="belongs to video 'b'"):
        await kind.save(store, "a", kind.make("a", 1) + kind.make("b", 1))
    assert await kind.list(store, "a") == kind.make("a", 1)  # nothing written


async def test_listing_an_unknown_video_is_empty(store, kind: Kind) -> None:
    assert await kind.list(store, "nobody") == []


async def test_caption_fields_round_trip(store) -> None:
    await store.upsert_video(records.video("talk"))
    caption = records.captions("talk", ["a chart"])[0].model_copy(
        update={
            "entities": ["Ada Lovelace", "chart", ""],
            "controls": ["next", "volume"],
            "ocr_text": "Q3 budget: $1,200",
            "model": None,
            "error": "vision timed out",
        }
    )
    await store.save_captions("talk", [caption])
    assert await store.list_captions("talk") == [caption]
