"""pgvector: the extension's part of the schema, HNSW index names and limits, vector adapters."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._exceptions import StorageError
from ._values import _Q, logger

if TYPE_CHECKING:
    import numpy.typing as npt
    from psycopg import AsyncCursor
    from psycopg.rows import DictRow

    from ._values import Conn

__all__ = ["ANN_MIN_ROWS", "HNSW_MAX_DIM", "hnsw_index_name"]

#: The most dimensions a pgvector HNSW index can hold; longer vectors are searched exactly.
HNSW_MAX_DIM = 2000

#: Searches of a model with fewer vectors than this are exact (numpy is as quick there).
ANN_MIN_ROWS = 1000


#: The approximate search takes this many times `k` nearest neighbours (at least
#: `_ANN_MIN_FETCH`) and ranks them exactly: the true top `k` is then among them.
_ANN_OVERFETCH = 4
_ANN_MIN_FETCH = 40
#: How widely an HNSW scan looks (`hnsw.ef_search`, pgvector's default is 40). On
#: 2,600 clustered 384-d vectors, 400 finds the exact top 10 even for queries far
#: from every stored vector (80 missed 40% of those), at no cost measurable there.
_HNSW_MIN_EF_SEARCH = 400
#: pgvector's limit on `hnsw.ef_search`, which bounds how many neighbours one scan returns.
_HNSW_MAX_EF_SEARCH = 1000
_ANN_MAX_K = _HNSW_MAX_EF_SEARCH // (2 * _ANN_OVERFETCH)


def hnsw_index_name(model: str, dim: int) -> str:
    """The name of the HNSW index of `model`'s `dim`-dimension vectors (any model name fits)."""
    digest = hashlib.sha256(model.encode()).hexdigest()[:16]
    return f"embeddings_hnsw_{digest}_{dim}"


async def _enable_pgvector(conn: Conn, url: str) -> str | None:
    """Set up pgvector's part of the schema when the server has it; the extension's schema.

    Runs at every open, so a database whose server gains pgvector later gets the
    `vec` column then (filled for the rows already stored). Without the
    extension files on the server, or the right to create the extension,
    nothing changes and search stays exact.
    """
    import psycopg
    from psycopg import sql as pgsql

    row = await (await conn.execute(_Q["pgvector_available"])).fetchone()
    if not (row and row["available"]):
        return None
    async with conn.transaction():
        await conn.execute(_Q["schema_lock"])
        row = await (await conn.execute(_Q["pgvector_schema"])).fetchone()
        if row is None:
            try:
                async with conn.transaction():
                    await conn.execute(_Q["create_pgvector"])
            except psycopg.Error as exc:
                logger.warning(
                    "pgvector is available in %s but not installed in this database, and "
                    "videopipe could not install it (%s): searching exactly. Run "
                    "`CREATE EXTENSION vector` in the database as a superuser to use it.",
                    url,
                    str(exc).strip(),
                )
                return None
            row = await (await conn.execute(_Q["pgvector_schema"])).fetchone()
            assert row is not None  # just created
        schema: str = row["schema"]
        if _version(row["version"]) < (0, 5):
            logger.warning(
                "pgvector %s in %s has no HNSW index (0.5.0 added it): searching exactly. "
                "Upgrade it with `ALTER EXTENSION vector UPDATE` to use it.",
                row["version"],
                url,
            )
            return None
        present = await (await conn.execute(_Q["has_vec_column"])).fetchone()
        if not (present and present["present"]):
            # Checked first: ALTER TABLE would lock the table even when there is nothing to do.
            logger.info("adding pgvector's column to the embeddings in %s", url)
            add = pgsql.SQL(_Q["add_vec_column"]).format(vector=pgsql.Identifier(schema, "vector"))
            await conn.execute(add)
    return schema


def _version(text: str) -> tuple[int, ...]:
    """`0.6.2` as `(0, 6, 2)`; a part that is not a number ends it."""
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


# --- vectors ----------------------------------------------------------------------------------
# A 1,536-dimension vector as a Python list costs ~1,500 float objects each way. These
# adapters move `real[]` in PostgreSQL's binary array format straight to and from numpy:
# a header, then each element as a 4-byte length and a big-endian float4.

_FLOAT4_ARRAY_OID = 1021
_FLOAT4_OID = 700
_ELEMENTS = np.dtype([("length", ">i4"), ("value", ">f4")])


def _adapt_vectors(cursor: AsyncCursor[DictRow]) -> None:
    """Send float32 numpy arrays, and read `real[]` results, as packed binary on `cursor`."""
    cursor.adapters.register_dumper(np.ndarray, _vector_dumper())
    cursor.adapters.register_loader(_FLOAT4_ARRAY_OID, _vector_loader())


@cache
def _vector_dumper() -> type[Any]:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class Float4ArrayDumper(Dumper):
        format = Format.BINARY
        oid = _FLOAT4_ARRAY_OID

        def dump(self, obj: Any) -> bytes:
            return _pack_vector(obj)

    return Float4ArrayDumper


@cache
def _vector_loader() -> type[Any]:
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class Float4ArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> npt.NDArray[np.float32]:
            return _unpack_vector(data)

    return Float4ArrayLoader


def _pack_vector(vector: npt.NDArray[np.float32]) -> bytes:
    elements = np.empty(len(vector), dtype=_ELEMENTS)
    elements["length"] = 4
    elements["value"] = vector
    # ndim, has-nulls, element type, then (size, lower bound) of the one dimension.
    header = np.array([1, 0, _FLOAT4_OID, len(vector), 1], dtype=">i4").tobytes()
    return header + elements.tobytes()


def _unpack_vector(data: Any) -> npt.NDArray[np.float32]:
    ndim, has_nulls, _ = np.frombuffer(data, dtype=">i4", count=3)
    if ndim == 0:
        return np.empty(0, dtype=np.float32)
    if ndim != 1 or has_nulls:
        raise StorageError("an embedding vector is not a one-dimensional real[] without NULLs")
    elements = np.frombuffer(data, dtype=_ELEMENTS, offset=20)
    return elements["value"].astype(np.float32)
