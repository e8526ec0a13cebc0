"""`vp.to_pandas` / `vp.to_polars`: scenes, segments, captions and search hits as DataFrames."""

from __future__ import annotations

import sys

import pandas as pd
import polars as pl
import pytest

import videopipe as vp
from tests.conformance import records
from videopipe._models import caption_id, frame_id

SCENES = records.scenes("talk", 3, length=2.5)
SEGMENTS = records.segments("talk", ["hello there", "the budget is fine"])
CAPTIONS = [
    vp.FrameCaption(
        id=caption_id(frame_id("talk", 0)),
        video_id="talk",
        frame_id=frame_id("talk", 0),
        t=1.25,
        caption="",
        entities=["Kestrel", "ZX-4471"],
        ocr_text="ORDER CODE ZX-4471",
    )
]
HITS = [
    vp.SearchHit(
        kind="segment", id="talk_segment_001", video_id="talk", text="the budget is fine",
        t_start=2.0, t_end=4.0, score=0.91, matched=["budget"],
    ),
    vp.SearchHit(
        kind="caption", id="talk_frame_000_caption", video_id="talk", text="ORDER CODE ZX-4471",
        t_start=0.0, t_end=2.5, score=0.4, on_screen_text_only=True,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "rows", [SCENES, SEGMENTS, CAPTIONS, HITS], ids=lambda r: type(r[0]).__name__
)
def test_one_row_per_record_one_column_per_field(rows) -> None:
    """Each kind the issue names converts with its fields in order, values unchanged."""
    kind = type(rows[0])
    fields = [*kind.model_fields, *kind.model_computed_fields]
    frame = vp.to_pandas(rows)
    assert list(frame.columns) == fields
    assert len(frame) == len(rows)
    # pandas shows a missing value as NaN where the rest of its column is numbers or None.
    as_records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert as_records == [r.model_dump() for r in rows]
    polars_frame = vp.to_polars(rows)
    assert polars_frame.columns == fields
    assert polars_frame.to_dicts() == [r.model_dump(mode="json") for r in rows]


def test_columns_have_useful_types() -> None:
    scenes = vp.to_pandas(SCENES)
    assert str(scenes.t_start.dtype) == "float64"
    assert (scenes.t_end - scenes.t_start).tolist() == [2.5, 2.5, 2.5]
    hits = vp.to_polars(HITS)
    assert hits.schema["score"] == pl.Float64
    assert hits.schema["matched"] == pl.List(pl.String)
    assert hits.filter(pl.col("kind") == "segment")["id"].to_list() == ["talk_segment_001"]


def test_enums_and_times() -> None:
    videos = [records.video("a"), records.video("b", status=vp.VideoStatus.READY)]
    frame = vp.to_pandas(videos)
    assert frame.status.tolist() == ["pending", "ready"]
    assert isinstance(frame.created_at.dtype, pd.DatetimeTZDtype)
    assert vp.to_polars(videos)["status"].to_list() == ["pending", "ready"]


def test_no_rows_give_an_empty_frame() -> None:
    assert vp.to_pandas([]).empty
    assert vp.to_polars([]).shape == (0, 0)


def test_rows_of_two_kinds_are_refused() -> None:
    with pytest.raises(TypeError, match="records of one kind"):
        vp.to_pandas([*SCENES, *SEGMENTS])
    with pytest.raises(TypeError, match="videopipe records"):
        vp.to_polars([{"id": 1}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("convert", "package"), [(vp.to_pandas, "pandas"), (vp.to_polars, "polars")]
)
def test_a_missing_library_names_the_extra(convert, package: str, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    with pytest.raises(vp.MissingDependency, match=rf"pip install 'videopipe\[{package}\]'"):
        convert(SCENES)
