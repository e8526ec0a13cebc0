"""A PostgreSQL server with pgvector for tests, started from the `pgserver` wheel.

The `pgserver` wheel (a dev dependency) ships PostgreSQL 16 built with pgvector.
`pgvector_server` runs it once per session on a free port, with its data in a
temporary directory, and stops it at the end. PostgreSQL refuses to run as root,
so as root the server runs as the `postgres` user.

When it cannot start, the tests that need it skip, except when `CI=true`:
there they fail (see `postgres.unavailable`).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.postgres import unavailable, with_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], *, as_user: list[str]) -> None:
    result = subprocess.run(
        [*as_user, *command], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}: {output}")


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str]:
    """The URL of the `postgres` database of a PostgreSQL 16 server with pgvector."""
    # Found, not imported: importing pgserver starts its own machinery, which warns.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        unavailable("pgserver is not installed: pip install -e '.[dev]'")
        raise AssertionError  # not reached: unavailable() raises
    bin_dir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="videopipe-pgvector-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            unavailable("running as root, and there is no `postgres` user to run PostgreSQL as")
            raise  # not reached
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = _free_port()
    initdb = ["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", *initdb],
            as_user=as_user,
        )
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = ["-w", "-t", "30", "-o", options, "start"]
        _run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), *start],
            as_user=as_user,
        )
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        log = base / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        unavailable(f"cannot start pgserver's PostgreSQL with pgvector: {exc}\n{tail}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


def _admin(server: str):
    import psycopg

    return psycopg.connect(server, autocommit=True, connect_timeout=5)


def create_database(server: str, *, extension: bool) -> str:
    """A fresh database on `server`, with pgvector installed in `public` if `extension`."""
    from psycopg import sql

    name = f"videopipe_test_{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server, name)
    if extension:
        with _admin(url) as conn:
            conn.execute("CREATE EXTENSION vector SCHEMA public")
    return url


def drop_database(server: str, url: str) -> None:
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with _admin(server) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def pgvector_schemas_database(pgvector_server: str) -> Iterator[str]:
    """A database for per-test schemas, with pgvector installed in `public` as an admin would."""
    url = create_database(pgvector_server, extension=True)
    yield url
    drop_database(pgvector_server, url)


@pytest.fixture
def pgvector_schema_url(pgvector_schemas_database: str) -> Iterator[str]:
    """The URL of a fresh, empty schema on the pgvector server (`public` not on its path)."""
    from psycopg import sql

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with _admin(pgvector_schemas_database) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"{pgvector_schemas_database}?options=-csearch_path%3D{schema}"
    with _admin(pgvector_schemas_database) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pgvector_url(pgvector_server: str) -> Iterator[str]:
    """The URL of a fresh, empty database on the pgvector server, without the extension."""
    url = create_database(pgvector_server, extension=False)
    yield url
    drop_database(pgvector_server, url)
