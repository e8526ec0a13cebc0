"""PostgreSQL for tests: a template database with the schema, and a fresh copy per test.

The server is `VIDEOPIPE_TEST_POSTGRES` (default `postgresql://postgres@127.0.0.1:5432/test`).
When it does not answer, tests that need it skip, except when `CI=true`: there
they fail, so CI cannot pass without a database.

Two kinds of fresh database:

- `pg_url`: a database of its own, `CREATE DATABASE … TEMPLATE …` from a template
  built once per schema by the store's own first-use migration (procrastinate's
  pattern); for tests that kill sessions, race processes or need a whole database.
- `pg_schema_url`: a fresh, empty PostgreSQL schema in one shared database, chosen
  with `?options=-csearch_path=…`; the store migrates it on first use. About ten
  times cheaper (~40 ms), so the conformance suite uses it for every test.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def server_dsn() -> str:
    return os.environ.get("VIDEOPIPE_TEST_POSTGRES", DEFAULT_DSN)


def with_database(dsn: str, name: str) -> str:
    """`dsn` pointing at database `name`."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: the integration tests need PostgreSQL)", pytrace=False)
    pytest.skip(reason)


def admin_connection():
    """An autocommit connection to the server, or skip/fail when it does not answer."""
    import psycopg

    from videopipe._secrets import redact as redact_url

    dsn = server_dsn()
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        unavailable(f"PostgreSQL at {redact_url(dsn)} is unreachable: {first_line}")
        raise  # not reached: unavailable() raises


def schema_hash() -> str:
    from videopipe.storage import sql

    digest = hashlib.sha256()
    for migration in sql.migrations("postgres"):
        digest.update(migration.sql.encode())
    return digest.hexdigest()[:12]


def create_database(admin, name: str, *, template: str | None = None) -> None:
    from psycopg import sql

    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("{} TEMPLATE {} STRATEGY FILE_COPY").format(query, sql.Identifier(template))
    admin.execute(query)


def drop_database(admin, name: str) -> None:
    from psycopg import sql

    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def _migrate(url: str) -> None:
    from videopipe.storage import PostgresStore

    async with PostgresStore(url, min_size=1, max_size=1):
        pass


def _ensure_template(admin, name: str) -> None:
    """Create the template database `name` with the current schema, unless it exists."""
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists is not None:
        return
    try:
        create_database(admin, name)
        # In a thread of its own: this may be called from inside a running event loop
        # (an async fixture asking for it).
        with ThreadPoolExecutor(1) as thread:
            thread.submit(anyio.run, _migrate, with_database(server_dsn(), name)).result()
    except BaseException:
        drop_database(admin, name)
        raise


@pytest.fixture(scope="session")
def pg_template() -> str:
    """The name of a template database holding the current schema (built once per schema)."""
    with admin_connection() as admin:
        name = f"videopipe_tpl_{schema_hash()}"
        # Another test session may be building it right now.
        admin.execute("SELECT pg_advisory_lock(7436823462)")
        try:
            _ensure_template(admin, name)
            stale = admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'videopipe\\_tpl\\_%%' "
                "AND datname <> %s",
                [name],
            ).fetchall()
            for (old,) in stale:
                drop_database(admin, old)
        finally:
            admin.execute("SELECT pg_advisory_unlock(7436823462)")
    return name


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """The URL of a fresh database with the schema, dropped after the test."""
    from psycopg.errors import InvalidCatalogName

    name = f"videopipe_test_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        try:
            create_database(admin, name, template=pg_template)
        except InvalidCatalogName:
            # A concurrent test session of another schema version dropped our template
            # as stale (it drops every template but its own): build it again.
            admin.execute("SELECT pg_advisory_lock(7436823462)")
            try:
                _ensure_template(admin, pg_template)
            finally:
                admin.execute("SELECT pg_advisory_unlock(7436823462)")
            create_database(admin, name, template=pg_template)
    yield with_database(server_dsn(), name)
    with admin_connection() as admin:
        drop_database(admin, name)


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """The URL of a fresh, empty database (no schema), dropped after the test."""
    name = f"videopipe_test_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        create_database(admin, name)
    yield with_database(server_dsn(), name)
    with admin_connection() as admin:
        drop_database(admin, name)


@pytest.fixture(scope="session")
def pg_schemas_database() -> Iterator[str]:
    """A database for this session's per-test schemas, dropped at the end."""
    name = f"videopipe_test_schemas_{uuid.uuid4().hex[:8]}"
    with admin_connection() as admin:
        create_database(admin, name)
    yield with_database(server_dsn(), name)
    with admin_connection() as admin:
        drop_database(admin, name)


@pytest.fixture
def pg_schema_url(pg_schemas_database: str) -> Iterator[str]:
    """The URL of a fresh, empty schema (videopipe creates its tables on first use)."""
    import psycopg
    from psycopg import sql

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_schemas_database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"{pg_schemas_database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_schemas_database, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
