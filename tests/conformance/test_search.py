"""Embeddings and search: exact cosine ranking, filters, models kept apart."""

from __future__ import annotations

import math

import pytest

import videopipe as vp
from tests.conformance import records
from tests.conformance.records import embedding
from videopipe import ConfigurationError, NotFound
from videopipe._models import caption_id, frame_id, segment_id, text_hash


async def _two_videos(store) -> None:
    for v in ("talk", "demo"):
        await store.upsert_video(records.video(v))
        await store.save_scenes(v, records.scenes(v, 3))
        await store.save_frames(v, records.frames(v, 3))
        await store.save_segments(v, records.segments(v, [f"{v} words {i}" for i in range(3)]))
        await store.save_captions(v, records.captions(v, [f"{v} slide {i}" for i in range(3)]))


# Unit vectors at known angles from the query [1, 0, 0]: cosines 1, 0.8, 0.6, 0, -1.
VECTORS = {
    ("talk", "segment", 0): [1.0, 0.0, 0.0],
    ("talk", "caption", 1): [0.8, 0.6, 0.0],
    ("demo", "segment", 2): [0.6, 0.0, 0.8],
    ("demo", "caption", 0): [0.0, 1.0, 0.0],
    ("talk", "segment", 1): [-1.0, 0.0, 0.0],
}


def _owner(video_id: str, kind: str, i: int) -> str:
    return segment_id(video_id, i) if kind == "segment" else caption_id(frame_id(video_id, i))


async def _embed(store, model: str = "m", scale: float = 1.0) -> None:
    await store.save_embeddings(
        [
            embedding(_owner(v, kind, i), v, kind, [x * scale for x in vec], model=model)
            for (v, kind, i), vec in VECTORS.items()
        ]
    )


async def test_search_ranks_by_cosine_similarity(store) -> None:
    await _two_videos(store)
    await _embed(store, scale=3.0)  # cosine ignores length
    hits = await store.search([2.0, 0.0, 0.0], model="m", k=10)
    assert [h.id for h in hits] == [
        segment_id("talk", 0),
        caption_id(frame_id("talk", 1)),
        segment_id("demo", 2),
        caption_id(frame_id("demo", 0)),
        segment_id("talk", 1),
    ]
    # Scores are in [0, 1]: an opposite vector scores 0, not -1.
    assert [h.score for h in hits] == pytest.approx([1.0, 0.8, 0.6, 0.0, 0.0], abs=1e-6)
    assert [h.id for h in await store.search([1.0, 0.0, 0.0], model="m", k=2)] == [
        segment_id("talk", 0),
        caption_id(frame_id("talk", 1)),
    ]
    assert await store.search([1.0, 0.0, 0.0], model="m", k=0) == []


async def test_hits_carry_text_and_time_span(store) -> None:
    await _two_videos(store)
    await _embed(store)
    hits = {h.id: h for h in await store.search([1.0, 0.0, 0.0], model="m")}
    segment = hits[segment_id("talk", 0)]
    assert (segment.kind, segment.video_id, segment.text) == ("segment", "talk", "talk words 0")
    assert (segment.t_start, segment.t_end, segment.frame_path) == (0.0, 5.0, None)
    caption = hits[caption_id(frame_id("talk", 1))]
    assert caption.kind == "caption"
    assert caption.text == "talk slide 1 slide 1"  # caption, then its on-screen text
    # The caption's frame shows scene 1, so the hit spans that scene.
    assert (caption.t_start, caption.t_end) == (10.0, 20.0)
    assert caption.frame_path == "frames/talk/scene_001.jpg"


async def test_a_caption_without_its_frame_is_a_moment(store) -> None:
    await _two_videos(store)
    await store.save_frames("talk", [])
    await _embed(store)
    hits = {h.id: h for h in await store.search([1.0, 0.0, 0.0], model="m")}
    caption = hits[caption_id(frame_id("talk", 1))]
    assert (caption.t_start, caption.t_end, caption.frame_path) == (15.0, 15.0, None)


async def test_search_filters_by_kind_and_video(store) -> None:
    await _two_videos(store)
    await _embed(store)
    query = [1.0, 0.0, 0.0]
    only_captions = await store.search(query, model="m", kinds=["caption"])
    assert {h.kind for h in only_captions} == {"caption"}
    assert len(only_captions) == 2
    only_demo = await store.search(query, model="m", video_ids=["demo"])
    assert [h.id for h in only_demo] == [segment_id("demo", 2), caption_id(frame_id("demo", 0))]
    both = await store.search(query, model="m", kinds=["segment"], video_ids=iter(["talk"]))
    assert [h.id for h in both] == [segment_id("talk", 0), segment_id("talk", 1)]
    assert await store.search(query, model="m", video_ids=[]) == []
    assert await store.search(query, model="m", video_ids=["nobody"]) == []


async def test_a_query_of_the_wrong_dimension_is_a_configuration_error(store) -> None:
    await _two_videos(store)
    await _embed(store)
    with pytest.raises(ConfigurationError, match="4 dimensions"):
        await store.search([1.0, 0.0, 0.0, 0.0], model="m")


async def test_models_are_kept_apart(store) -> None:
    """The same segment embedded by two models: each search sees only its model's vectors."""
    await _two_videos(store)
    await _embed(store, model="small")
    owner = segment_id("talk", 2)
    await store.save_embeddings(
        [
            embedding(owner, "talk", "segment", [0.0, 0.0, 0.0, 1.0, 0.0], model="big"),
            embedding(segment_id("talk", 0), "talk", "segment", [1, 0, 0, 0, 0], model="big"),
        ]
    )
    small = await store.search([0.0, 0.0, 1.0], model="small")
    assert len(small) == 5
    big = await store.search([0.0, 0.0, 0.0, 1.0, 0.0], model="big")
    assert [h.id for h in big] == [owner, segment_id("talk", 0)]
    assert big[0].score == pytest.approx(1.0)
    assert await store.search([1.0], model="unknown") == []
    with pytest.raises(ConfigurationError):
        await store.search([1.0, 0.0, 0.0], model="big")


async def test_embeddings_are_upserted_by_owner_and_model(store) -> None:
    await _two_videos(store)
    owner = segment_id("talk", 0)
    await store.save_embeddings([embedding(owner, "talk", "segment", [1, 0, 0])])
    await store.save_embeddings([embedding(owner, "talk", "segment", [0, 1, 0])])
    hits = await store.search([0.0, 1.0, 0.0], model="m")
    assert [(h.id, round(h.score, 6)) for h in hits] == [(owner, 1.0)]


async def test_find_embeddings_looks_up_by_text_hash_and_model(store) -> None:
    """Identical texts are embedded once: the stored vector is found by the text's hash."""
    await _two_videos(store)
    vector = [0.25, -0.5, 0.75, 1.0]
    await store.save_embeddings(
        [
            embedding(segment_id("talk", 0), "talk", "segment", vector, text="hello"),
            embedding(segment_id("talk", 1), "talk", "segment", [1, 1, 1, 1], model="other"),
        ]
    )
    found = await store.find_embeddings([text_hash("hello"), text_hash("nope")], model="m")
    assert list(found) == [text_hash("hello")]
    assert found[text_hash("hello")] == pytest.approx(vector)
    assert await store.find_embeddings([text_hash("hello")], model="other") == {}
    assert await store.find_embeddings([], model="m") == {}


async def test_embeddings_of_replaced_rows_are_never_hits(store) -> None:
    """A re-run stage replaced the segments: old vectors stay (a cache) but never match."""
    await _two_videos(store)
    await _embed(store)
    await store.save_segments("talk", [])
    hits = await store.search([1.0, 0.0, 0.0], model="m")
    assert all(not (h.video_id == "talk" and h.kind == "segment") for h in hits)
    assert len(hits) == 3


async def test_embeddings_need_their_video(store) -> None:
    with pytest.raises(NotFound):
        await store.save_embeddings([embedding("ghost_segment_000", "ghost", "segment", [1.0])])


async def test_vectors_must_be_finite(store) -> None:
    await _two_videos(store)
    for bad in (math.nan, math.inf):
        with pytest.raises(ConfigurationError):
            await store.save_embeddings(
                [embedding(segment_id("talk", 0), "talk", "segment", [1.0, bad])]
            )


async def test_a_realistic_search_over_many_vectors(store) -> None:
    """1,536-dimension vectors, as `text-embedding-3-small` makes: the exact nearest comes first."""
    import numpy as np

    rng = np.random.default_rng(7)
    await store.upsert_video(records.video("big"))
    n = 300
    await store.save_segments("big", records.segments("big", [f"t{i}" for i in range(n)]))
    vectors = rng.normal(size=(n, 1536)).astype(np.float32)
    await store.save_embeddings(
        [embedding(segment_id("big", i), "big", "segment", vectors[i]) for i in range(n)]
    )
    query = vectors[123] + rng.normal(scale=0.1, size=1536).astype(np.float32)
    hits = await store.search(query.tolist(), model="m", k=5)
    assert hits[0].id == segment_id("big", 123)
    assert len(hits) == 5
    assert hits == sorted(hits, key=lambda h: -h.score)


# --- hybrid search: terms found in the full-text index raise a hit's score -------------


async def _slides(store) -> None:
    """`talk` has a caption whose on-screen text is a code, and a near-duplicate number."""
    await store.upsert_video(records.video("talk"))
    await store.save_scenes("talk", records.scenes("talk", 3))
    await store.save_frames("talk", records.frames("talk", 3))
    await store.save_segments("talk", records.segments("talk", ["we ship on monday"]))
    caps = records.captions("talk", ["", "", ""])
    caps[0] = caps[0].model_copy(update={"ocr_text": "ORDER CODE ZX-4471"})
    caps[1] = caps[1].model_copy(update={"ocr_text": "Invoice ZX-44710"})
    caps[2] = caps[2].model_copy(update={"caption": "a chart", "ocr_text": "Revenue grew"})
    await store.save_captions("talk", caps)
    # The embedding "misses" the code: for the query [1, 0, 0] (cosines 0.25, 0, 0.2, 0.1),
    # the caption showing it is the farthest.
    vectors = {
        segment_id("talk", 0): [0.25, math.sqrt(1 - 0.25**2), 0.0],
        caption_id(frame_id("talk", 0)): [0.0, 0.0, 1.0],
        caption_id(frame_id("talk", 1)): [0.2, math.sqrt(1 - 0.2**2), 0.0],
        caption_id(frame_id("talk", 2)): [0.1, math.sqrt(1 - 0.1**2), 0.0],
    }
    await store.save_embeddings(
        [
            embedding(owner, "talk", "segment" if i == 0 else "caption", vector)
            for i, (owner, vector) in enumerate(vectors.items())
        ]
    )


async def test_a_word_found_verbatim_lifts_a_hit_the_embedding_missed(store) -> None:
    await _slides(store)
    plain = await store.search([1.0, 0.0, 0.0], model="m", k=4)
    assert plain[-1].id == caption_id(frame_id("talk", 0))
    assert all(h.matched == [] for h in plain)

    hits = await store.search([1.0, 0.0, 0.0], model="m", k=4, keywords="where is zx-4471?")
    assert hits[0].id == caption_id(frame_id("talk", 0))
    assert hits[0].matched == ["zx-4471"]
    assert hits[0].score == pytest.approx(0.6 * 0.0 + 0.4, abs=1e-6)  # cosine 0, every term
    assert hits[0].t_start == 0.0
    assert "ZX-4471" in hits[0].text
    # `ZX-44710` is another code, not a match of `zx-4471`.
    other = next(h for h in hits if h.id == caption_id(frame_id("talk", 1)))
    assert other.matched == []
    # Keyword matching never lets a filtered-out kind or video in.
    only_segments = await store.search(
        [1.0, 0.0, 0.0], model="m", keywords="ZX-4471", kinds=["segment"]
    )
    assert [h.id for h in only_segments] == [segment_id("talk", 0)]
    assert await store.search([1.0, 0.0, 0.0], model="m", keywords="zx-4471", video_ids=["x"]) == []


async def test_a_share_of_the_words_gives_a_share_of_the_weight(store) -> None:
    await _slides(store)
    hits = await store.search([1.0, 0.0, 0.0], model="m", k=4, keywords="revenue forecast")
    chart = next(h for h in hits if h.id == caption_id(frame_id("talk", 2)))
    assert chart.matched == ["revenue"]
    assert chart.score == pytest.approx(0.6 * 0.1 + 0.4 / 2, abs=1e-6)  # one term of two
    assert hits[0].id == chart.id


async def test_a_text_query_is_embedded_by_the_provider_and_is_its_own_keywords(store) -> None:
    from videopipe.testing import FakeProvider

    class Fixed(FakeProvider):
        embedding_model = "m"

        async def embed(self, texts):  # the query's vector points at the segment
            embedded = await super().embed(texts)
            return embedded.model_copy(update={"vectors": [[1.0, 0.0, 0.0]] * len(texts)})

    await _slides(store)
    hits = await vp.search(store, "order ZX-4471", provider=Fixed(), k=2, min_score=0.0)
    assert [h.id for h in hits] == [caption_id(frame_id("talk", 0)), segment_id("talk", 0)]
    assert hits[0].matched == ["order", "zx-4471"]
    # By default a text query leaves out what scores under 0.3: the segment (0.6 x 0.3) is noise.
    hits = await vp.search(store, "order ZX-4471", provider=Fixed(), k=2)
    assert [h.id for h in hits] == [caption_id(frame_id("talk", 0))]
    with pytest.raises(ConfigurationError, match="min_score"):
        await vp.search(store, "order", provider=Fixed(), min_score=1.5)


async def test_a_text_query_needs_a_provider_and_a_vector_query_a_model(store) -> None:
    await _slides(store)
    with pytest.raises(ConfigurationError, match="provider="):
        await vp.search(store, "order ZX-4471")
    with pytest.raises(ConfigurationError, match="model="):
        await vp.search(store, [1.0, 0.0, 0.0])


# --- full text in the engine: numbers, codes, phrases, exclusions ----------------------------


def _near(cosine: float) -> list[float]:
    """A unit vector at `cosine` from the query [1, 0]."""
    return [cosine, math.sqrt(1 - cosine**2)]


async def _segments(store, texts: list[str], cosines: list[float], video_id: str = "talk"):
    await store.upsert_video(records.video(video_id))
    await store.save_segments(video_id, records.segments(video_id, texts))
    await store.save_embeddings(
        [
            embedding(segment_id(video_id, i), video_id, "segment", _near(c))
            for i, c in enumerate(cosines)
        ]
    )


async def test_a_number_tells_sentences_apart(store) -> None:
    """The issue's case: the vectors cannot tell the numbers apart, the full text can."""
    texts = [f"sentence number {n} about the quarterly budget" for n in range(5)]
    # The embedding prefers 1, 0, 2 over 3, as the issue measured.
    await _segments(store, texts, [0.98, 0.99, 0.97, 0.96, 0.95])
    query = "sentence number 3 about the quarterly budget"
    hits = await store.search([1.0, 0.0], model="m", k=5, keywords=query)
    assert hits[0].id == segment_id("talk", 3)
    assert hits[0].matched == ["sentence", "number", "3", "quarterly", "budget"]
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].score > hits[1].score


async def test_a_number_word_is_its_digits(store) -> None:
    """Speech recognition writes "region four" as often as "region 4"; people type `4`."""
    texts = ["the budget for region four was approved", "the budget for region 2 was approved"]
    await _segments(store, texts, [0.8, 0.9])
    hits = await store.search([1.0, 0.0], model="m", k=2, keywords="budget for region 4")
    assert hits[0].id == segment_id("talk", 0)
    assert hits[0].matched == ["budget", "region", "4"]
    hits = await store.search([1.0, 0.0], model="m", k=2, keywords="region two")
    assert hits[0].id == segment_id("talk", 1)
    assert hits[0].matched == ["region", "2"]


async def test_the_word_that_tells_candidates_apart_counts_most(store) -> None:
    """A rare word found (a name) outweighs two common ones (the words every candidate shares)."""
    names = ["Maria", "David", "Lucas", "Kenji", "Sofia"]
    texts = [f"{name} presented the sales forecast" for name in names]
    texts.append("Speaker: Aisha Okafor, head of sales")
    # The embedding prefers the forecasts; only the last text names Aisha.
    await _segments(store, texts, [0.7] * 5 + [0.6])
    hits = await store.search([1.0, 0.0], model="m", k=6, keywords="Aisha sales forecast")
    assert hits[0].id == segment_id("talk", 5)
    assert hits[0].matched == ["aisha", "sales"]
    # Each forecast holds two of the three words too, but the two every forecast holds.
    assert all(h.matched == ["sales", "forecast"] for h in hits[1:])


async def test_a_close_paraphrase_keeps_most_of_its_cosine(store) -> None:
    """Lacking the query's words, a hit still scores 0.9 x its cosine (`COSINE_FLOOR`)."""
    texts = ["the elevator is out of service", "the coffee machine is broken"]
    await _segments(store, texts, [0.8, 0.3])
    hits = await store.search([1.0, 0.0], model="m", k=2, keywords="the lift is broken")
    assert [h.id for h in hits] == [segment_id("talk", 0), segment_id("talk", 1)]
    assert hits[0].score == pytest.approx(0.9 * 0.8, abs=1e-6)
    assert hits[1].score == pytest.approx(0.6 * 0.3 + 0.4 / 2, abs=1e-6)  # one word of two


async def test_codes_are_whole_terms(store) -> None:
    texts = ["revenue in Q3 rose", "revenue in Q4 rose", "order ZX-4471 shipped", "order ZX-4472"]
    await _segments(store, texts, [0.9, 0.9, 0.9, 0.9])
    for query, want in [("Q3", 0), ("q4 revenue", 1), ("where is ZX-4472?", 3), ("zx-4471", 2)]:
        hits = await store.search([1.0, 0.0], model="m", k=4, keywords=query)
        assert hits[0].id == segment_id("talk", want), query
        assert hits[0].score > hits[1].score, query
    # Part of a code is not the code.
    hits = await store.search([1.0, 0.0], model="m", k=4, keywords="ZX-447")
    assert all(h.matched == [] for h in hits)


async def test_a_quoted_phrase_must_appear_as_a_phrase(store) -> None:
    texts = ["the quarterly budget grew", "the budget was quarterly", "nothing here"]
    await _segments(store, texts, [0.5, 0.9, 0.8])
    hits = await store.search([1.0, 0.0], model="m", keywords='"quarterly budget"')
    assert [h.id for h in hits] == [segment_id("talk", 0)]
    assert hits[0].matched == ["quarterly", "budget"]


async def test_a_minus_word_excludes_the_texts_holding_it(store) -> None:
    texts = ["the draft budget", "the final budget", "budget"]
    await _segments(store, texts, [0.9, 0.5, 0.4])
    hits = await store.search([1.0, 0.0], model="m", keywords="budget -draft")
    assert [h.id for h in hits] == [segment_id("talk", 1), segment_id("talk", 2)]
    hits = await store.search([1.0, 0.0], model="m", keywords="-draft")
    assert segment_id("talk", 0) not in {h.id for h in hits}


async def test_min_score_leaves_a_query_without_answer_empty(store) -> None:
    await _segments(store, ["we ship on monday", "the chart shows revenue"], [0.2, 0.1])
    keywords = "who talks about the budget?"
    assert len(await store.search([1.0, 0.0], model="m", keywords=keywords)) == 2
    assert await store.search([1.0, 0.0], model="m", keywords=keywords, min_score=0.3) == []
    hits = await store.search([1.0, 0.0], model="m", keywords="monday", min_score=0.3)
    assert [h.id for h in hits] == [segment_id("talk", 0)]


async def test_the_same_caption_on_adjacent_scenes_is_one_hit(store) -> None:
    """The issue's case: one copyright caption over three adjacent scenes came back three times."""
    await store.upsert_video(records.video("talk"))
    await store.save_scenes("talk", records.scenes("talk", 4))
    await store.save_frames("talk", records.frames("talk", 4))
    caps = records.captions("talk", ["(c) 2024 Example Films"] * 3 + ["a chart"])
    caps = [c.model_copy(update={"ocr_text": ""}) for c in caps]
    await store.save_captions("talk", caps)
    await store.save_embeddings(
        [
            embedding(caption_id(frame_id("talk", i)), "talk", "caption", _near(c))
            for i, c in enumerate([0.3, 0.5, 0.4, 0.2])
        ]
    )
    hits = await store.search([1.0, 0.0], model="m", keywords="example films")
    assert len(hits) == 2
    assert hits[0].id == caption_id(frame_id("talk", 1))  # the best of the three
    assert (hits[0].t_start, hits[0].t_end) == (0.0, 30.0)
    assert hits[1].text == "a chart"


async def test_hits_name_the_file_and_link_to_the_moment(store) -> None:
    await _two_videos(store)
    await _embed(store)
    hits = {h.id: h for h in await store.search([1.0, 0.0, 0.0], model="m")}
    segment = hits[segment_id("talk", 1)]
    assert segment.file == "/videos/talk.mp4"
    assert segment.title == "talk.mp4"
    assert segment.link == "file:///videos/talk.mp4#t=5"
    caption = hits[caption_id(frame_id("demo", 0))]
    assert (caption.title, caption.link) == ("demo.mp4", "file:///videos/demo.mp4#t=0")
    assert caption.frame_path == "frames/demo/scene_000.jpg"


async def test_hits_carry_the_title_set_for_their_video(store) -> None:
    await _two_videos(store)
    await _embed(store)
    talk = await store.get_video("talk")
    await store.upsert_video(talk.model_copy(update={"title": "Q3 all-hands"}))
    hits = await store.search([1.0, 0.0, 0.0], model="m", keywords="words slide", min_score=0.0)
    titles = {(h.video_id, h.title) for h in hits}
    assert titles == {("talk", "Q3 all-hands"), ("demo", "demo.mp4")}
    assert {h.file for h in hits if h.video_id == "talk"} == {"/videos/talk.mp4"}
    # Cleared again, the file name is back.
    await store.upsert_video(talk.model_copy(update={"title": None}))
    hits = await store.search([1.0, 0.0, 0.0], model="m", kinds=["segment"], video_ids=["talk"])
    assert {h.title for h in hits} == {"talk.mp4"}
