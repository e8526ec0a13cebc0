"""The one tokenizer and query syntax every backend shares, and the links hits carry."""

from __future__ import annotations

import pytest

from videopipe._models import SearchHit
from videopipe.storage._fulltext import TextQuery, coverage, holds, rarer, terms, tsvector
from videopipe.storage._ranking import file_title, fuse, merge_adjacent, moment_link


def test_numbers_and_codes_are_whole_terms() -> None:
    assert terms("Slide 7: order ZX-4471 in Q3, up 3.5%. Done.") == [
        "slide", "7", "order", "zx-4471", "in", "q3", "up", "3.5", "done",
    ]  # fmt: skip
    assert terms("Café CAFÉ v2_final") == ["café", "café", "v2_final"]


def test_the_query_syntax_is_websearch_to_tsquery_s() -> None:
    q = TextQuery.parse('who said "slide 7" about the budget -draft or ZX-4471')
    assert q.words == ("said", "budget", "zx-4471")
    assert q.phrases == (("slide", "7"),)
    assert q.excluded == ("draft",)
    assert q.fts5() == '("slide 7") NOT ("draft")'
    assert q.tsquery() == "(('slide' <-> '7')) & !('draft')"
    # Only stop words: they are the query.
    assert TextQuery.parse("who is it").words == ("who", "is", "it")
    # An unterminated quote runs to the end; a lone "-" is no exclusion.
    assert TextQuery.parse('"quarterly budget').phrases == (("quarterly", "budget"),)
    assert not TextQuery.parse("- !!")


def test_phrases_exclusions_and_coverage() -> None:
    q = TextQuery.parse('"quarterly budget" number 3 -draft')
    assert holds(terms("the quarterly budget, number 3"), q)
    assert not holds(terms("the budget quarterly"), q)
    assert not holds(terms("the draft quarterly budget"), q)
    assert coverage(terms("quarterly budget number 4"), q) == (
        0.75,
        ["number", "quarterly", "budget"],
    )


def test_a_tsvector_keeps_positions_for_phrases() -> None:
    assert tsvector(terms("Order ZX-4471 order")) == "'order':1 'zx-4471':2 'order':3"


def _hit(i: int, text: str, score: float, t: float) -> SearchHit:
    return SearchHit(
        kind="caption", id=f"c{i}", video_id="v", text=text, t_start=t, t_end=t + 10, score=score
    )


def test_adjacent_hits_with_the_same_text_merge() -> None:
    hits = [
        _hit(0, "(c) Films", 0.2, 0.0),
        _hit(1, "(C) films", 0.5, 10.0),
        _hit(2, "(c) Films", 0.3, 20.0),
        _hit(3, "(c) Films", 0.4, 60.0),  # not adjacent
        _hit(4, "a chart", 0.1, 30.0),
    ]
    merged = sorted(merge_adjacent(hits), key=lambda h: h.t_start)
    assert [(h.id, h.t_start, h.t_end, h.score) for h in merged] == [
        ("c1", 0.0, 30.0, 0.5),
        ("c4", 30.0, 40.0, 0.1),
        ("c3", 60.0, 70.0, 0.4),
    ]


def test_fused_scores_stay_in_0_1_and_min_score_cuts() -> None:
    hits = [(_hit(0, "budget", 0.0, 0.0), 1.7), (_hit(1, "other", 0.0, 50.0), -0.5)]
    fused = fuse(hits, TextQuery.parse("budget"), k=5)
    assert [h.score for h in fused] == [1.0, 0.0]
    assert [h.id for h in fuse(hits, TextQuery.parse("budget"), k=5, min_score=0.1)] == ["c0"]
    assert fuse(hits, None, k=0) == []


@pytest.mark.parametrize(
    ("path", "t", "link", "title"),
    [
        ("/videos/talk.mp4", 12.5, "file:///videos/talk.mp4#t=12.5", "talk.mp4"),
        ("/videos/a b#1.mp4", 0.0, "file:///videos/a%20b%231.mp4#t=0", "a b#1.mp4"),
        (
            "https://x.test/v/talk%201.mp4?sig=1",
            3.25,
            "https://x.test/v/talk%201.mp4?sig=1#t=3.25",
            "talk 1.mp4",
        ),
        ("s3://bucket/dir/clip.mov", 61.0, "s3://bucket/dir/clip.mov#t=61", "clip.mov"),
        ("javascript://%0aalert(1)", 1.0, None, "javascript://%0aalert(1)"),
    ],
)
def test_links_open_the_moment(path: str, t: float, link: str | None, title: str) -> None:
    assert moment_link(path, t) == link
    assert file_title(path) == title


def test_a_script_link_is_never_rendered() -> None:
    hit = _hit(0, "x", 0.5, 1.0).model_copy(update={"link": "javascript:alert(1)"})
    assert "href" not in hit._repr_html_()
    hit = hit.model_copy(update={"link": "file:///v/a.mp4#t=1", "title": "a.mp4"})
    assert 'href="file:///v/a.mp4#t=1"' in hit._repr_html_()
    assert "a.mp4" in str(hit)


def test_common_words_leave_the_full_text_candidates_but_not_the_score() -> None:
    q = TextQuery.parse('budget number 768 "office lease" -draft')
    counts = {"budget": 250_000, "number": 300_000, "768": 900}
    rare = rarer(q, counts, limit=50_000)
    assert (rare.words, rare.phrases, rare.excluded) == (("768",), q.phrases, q.excluded)
    # Every word common: the rarest stays.
    assert rarer(TextQuery.parse("budget number"), counts, limit=10).words == ("budget",)


def test_a_hit_names_its_place_in_the_html_report() -> None:
    segment = _hit(0, "x", 0.5, 1.0).model_copy(update={"kind": "segment", "id": "v_segment_012"})
    assert segment.anchor == "segment-012"
    assert _hit(0, "x", 0.5, 1.0).model_copy(update={"id": "v_frame_003_caption"}).anchor == (
        "scene-003"
    )
    assert _hit(0, "x", 0.5, 1.0).anchor is None  # an ID of no stage's making
    assert segment.model_dump()["anchor"] == "segment-012"
