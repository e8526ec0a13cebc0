"""Records as DataFrames: `to_pandas` and `to_polars` (extras `videopipe[pandas]`, `[polars]`).

Scenes, transcript segments, frame captions, search hits (any list of one kind
of videopipe record) become one row per record and one column per field, in
the order the record declares them. pandas and polars are imported only when
called, so `import videopipe` never needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ._imports import require

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = ["to_pandas", "to_polars"]


def _columns(rows: Iterable[BaseModel], *, feature: str) -> dict[str, list[Any]]:
    """One list per field of the records' type, in field order, then its computed fields.

    No columns for no rows.
    """
    records = list(rows)
    if not records:
        return {}
    kind = type(records[0])
    for record in records:
        if type(record) is not kind:
            raise TypeError(
                f"{feature} takes records of one kind, such as the list "
                f"store.list_scenes() returns: got a {kind.__name__} and a "
                f"{type(record).__name__}; convert each kind on its own"
            )
    if not isinstance(records[0], BaseModel):
        raise TypeError(
            f"{feature} takes videopipe records (Scene, TranscriptSegment, FrameCaption, "
            f"SearchHit, ...), not {kind.__name__!r}"
        )
    # Computed fields too (a search hit's `anchor`): what `model_dump()` gives.
    fields = [*kind.model_fields, *kind.model_computed_fields]
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    for record in records:
        for name in fields:
            columns[name].append(getattr(record, name))
    return columns


def to_pandas(rows: Iterable[BaseModel]) -> pandas.DataFrame:
    """Records as a pandas DataFrame: one row per record, one column per field.

    Args:
        rows: Records of one kind, such as what `store.list_scenes(video_id)`,
            `list_segments`, `list_captions` or `videopipe.search` return.

    Returns:
        The DataFrame; its columns are the record's fields in declaration order
        (none for no rows). Enums stay enums (`StrEnum`, so they compare equal
        to their values), lists (a caption's `entities`) stay lists.

    Raises:
        MissingDependency: pandas is not installed (`pip install 'videopipe[pandas]'`).
        TypeError: The rows are not videopipe records, or not all of one kind.

    Examples:
        ```python
        scenes = vp.to_pandas(await store.list_scenes(video_id))
        scenes["length"] = scenes.t_end - scenes.t_start
        ```

    Note:
        Added in 0.2.0.
    """
    columns = _columns(rows, feature="to_pandas()")
    pd = require("pandas", package="pandas", extra="pandas", feature="to_pandas()")
    frame: pandas.DataFrame = pd.DataFrame(columns)
    return frame


def to_polars(rows: Iterable[BaseModel]) -> polars.DataFrame:
    """Records as a polars DataFrame: one row per record, one column per field.

    Args:
        rows: Records of one kind, such as what `store.list_scenes(video_id)`,
            `list_segments`, `list_captions` or `videopipe.search` return.

    Returns:
        The DataFrame; its columns are the record's fields in declaration order
        (none for no rows). Enums become their string values, lists (a
        caption's `entities`) list columns.

    Raises:
        MissingDependency: polars is not installed (`pip install 'videopipe[polars]'`).
        TypeError: The rows are not videopipe records, or not all of one kind.

    Examples:
        ```python
        hits = vp.to_polars(await vp.search(store, "budget", provider=provider))
        ```

    Note:
        Added in 0.2.0.
    """
    columns = _columns(rows, feature="to_polars()")
    pl = require("polars", package="polars", extra="polars", feature="to_polars()")
    # Strings, as pandas shows them: polars would make each StrEnum column an Enum dtype.
    plain = {
        name: [v.value if isinstance(v, Enum) else v for v in values]
        for name, values in columns.items()
    }
    frame: polars.DataFrame = pl.DataFrame(plain)
    return frame
