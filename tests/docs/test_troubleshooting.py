"""The messages quoted on the Troubleshooting page are the ones the library really prints."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import videopipe as vp

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md").read_text()


def quoted(message: str) -> None:
    assert message in PAGE, f"not on the Troubleshooting page:\n{message}"


async def test_video_path_not_found() -> None:
    pipeline = vp.Pipeline.default(store=vp.open_store("memory://"))
    with pytest.raises(vp.InputNotFound) as caught:
        await pipeline.run("/srv/uploads/talk.mp4")
    quoted(f"videopipe: error: {caught.value}")


async def test_empty_input(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(vp.EmptyInput) as caught:
        await vp.video_id_for(tmp_path / "empty.mp4")
    quoted(str(caught.value).removesuffix(f": {tmp_path / 'empty.mp4'}"))


async def test_unknown_store_url() -> None:
    with pytest.raises(vp.ConfigurationError) as caught:
        vp.open_store("mysql://…")
    quoted(f"videopipe: error: {caught.value}")


async def test_database_connection_failed() -> None:
    url = "postgresql://app:s3cret@127.0.0.1:1/videos"
    with pytest.raises(vp.StorageError) as caught:
        async with vp.open_store(url):
            pass
    first_line = str(caught.value).splitlines()[0]
    assert first_line.startswith("cannot connect to postgresql://app:***@127.0.0.1:1/videos: ")
    documented = re.search(r"videopipe: error: (cannot connect to \S+: connection failed: )", PAGE)
    assert documented is not None
    assert documented[1].replace("db:5432", "127.0.0.1:1") in first_line


async def test_postgres_extra_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    with pytest.raises(vp.MissingDependency) as caught:
        async with vp.open_store("postgresql://app@127.0.0.1:1/videos"):
            pass
    quoted(str(caught.value))


def test_no_provider_hint() -> None:
    from videopipe.providers._choose import NO_PROVIDER_HINT

    quoted(NO_PROVIDER_HINT)
