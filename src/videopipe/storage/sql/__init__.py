"""The SQL of the SQLite and PostgreSQL stores, kept in `.sql` files next to this module.

Each backend has a directory (`sqlite/`, `postgres/`) holding numbered
migrations (`0001_init.sql`, `0002_….sql`, applied in order, each once, by the
one runner in `storage/_migrate.py`) and
`queries.sql`, whose queries are named by `-- name: claim --` headers:

```sql
-- name: get_job --
-- Any `--` lines right after the header describe the query.
SELECT * FROM jobs WHERE id = :id
```

The text is package data, read with `importlib.resources`, and typed
`LiteralString`: it is as trusted as code, and values only ever travel as
parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, LiteralString, cast

__all__ = ["Migration", "migrations", "queries"]

Backend = Literal["sqlite", "postgres"]

_HEADER = re.compile(r"^-- name: ([a-z0-9_]+) --[ \t]*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema migration: version `version` is reached by running `sql`."""

    version: int
    name: str
    sql: LiteralString


def _trusted(text: Any) -> LiteralString:
    # Package data, vouched for like code: see the module docstring.
    return cast(LiteralString, text)


def _read(backend: Backend, name: str) -> str:
    return (resources.files(__name__) / backend / name).read_text(encoding="utf-8")


@cache
def queries(backend: Backend) -> dict[str, LiteralString]:
    """The named queries of `backend`, by name."""
    parts = _HEADER.split(_read(backend, "queries.sql"))
    # parts = [preamble, name, body, name, body, ...]
    found: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise RuntimeError(f"query {name!r} is defined twice in {backend}/queries.sql")
        found[name] = _trusted(body.strip())
    return found


@cache
def migrations(backend: Backend) -> tuple[Migration, ...]:
    """The migrations of `backend`, in the order they apply."""
    found = []
    for entry in resources.files(__name__).joinpath(backend).iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            sql = _trusted(entry.read_text(encoding="utf-8"))
            found.append(Migration(int(match[1]), match[2], sql))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{backend} migrations must be numbered 1, 2, 3...: got {versions}")
    return tuple(found)
