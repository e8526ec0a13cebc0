"""A database password and an API key never show: repr, `videopipe settings`, logs, errors.

Every DSN form libpq and SQLAlchemy users write is tried: a password in the
URL's userinfo, in its query (`?password=`), in a key=value string, and URLs
malformed enough that a parser gives up on them.
"""

from __future__ import annotations

import io
import logging

import pytest

import videopipe as vp
from videopipe._cli import main
from videopipe._observability import configure_logging

PASSWORD = "Sentinel-PW-93f1"
KEY = "sentinel-key-5c2e77a1"  # no `sk-` prefix: only knowing the value can hide it


DSNS = [
    f"postgresql://app:{PASSWORD}@127.0.0.1:1/videos",
    f"postgresql://app@127.0.0.1:1/videos?password={PASSWORD}",
    f"postgresql://app@127.0.0.1:1/videos?sslmode=disable&password={PASSWORD}&connect_timeout=3",
    f"host=127.0.0.1 port=1 user=app password={PASSWORD} dbname=videos",
    f"host=127.0.0.1 port=1 user=app password='{PASSWORD}' dbname=videos",
    f"dbname=videos password = {PASSWORD} host=127.0.0.1 port=1",
    f"postgresql://app:{PASSWORD}@127.0.0.1:notaport/videos",
    f"postgresql://app:{PASSWORD}@[127.0.0.1/videos",
    # Malformed enough that a driver would read another host name: never connected to.
    f"postgresql://app:{PASSWORD}/x@127.0.0.1:1/videos",
    f"postgresql://app:{PASSWORD}@127.0.0.1@x/videos",
]
CONNECTABLE = DSNS[:8]  # the store is only opened with these: every host in them is loopback


@pytest.fixture(params=DSNS, ids=[f"dsn{i}" for i in range(len(DSNS))])
def dsn(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", request.param)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return str(request.param)


def _clean(text: str) -> bool:
    return PASSWORD not in text and KEY not in text


def test_settings_repr_and_str_hide_the_password_and_key(dsn: str) -> None:
    settings = vp.Settings(_env_file=None)
    assert settings.database_url == dsn  # the real value is there for the store to use
    assert _clean(repr(settings))
    assert _clean(str(settings))


def test_the_settings_command_hides_the_password_and_key(
    dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["settings"]) == 0
    out, err = capsys.readouterr()
    assert "DATABASE_URL" in out
    assert _clean(out + err)


@pytest.mark.parametrize("url", CONNECTABLE, ids=[f"dsn{i}" for i in range(len(CONNECTABLE))])
def test_a_cli_error_naming_the_store_hides_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store cannot be opened: the error the command prints names it without the secret."""
    monkeypatch.setenv("DATABASE_URL", url)
    code = main(["status"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "videopipe: error:" in err
    assert _clean(out + err)


def test_log_lines_hide_passwords_and_the_configured_key(dsn: str) -> None:
    """Whatever a message carries (a DSN in a driver error, a header), the log shows no secret."""
    settings = vp.Settings(_env_file=None)
    stream = io.StringIO()
    configure_logging(settings, to_file=False, stream=stream)
    log = logging.getLogger("videopipe.test")
    log.warning("cannot connect to %s", dsn)
    log.warning("request headers: Authorization: Bearer %s", KEY)
    log.warning("settings: %r", settings)
    try:
        raise RuntimeError(f"driver said: {dsn}")
    except RuntimeError:
        log.exception("store failed")
    text = stream.getvalue()
    assert "cannot connect to" in text
    assert "driver said" in text
    assert _clean(text)


def test_redaction_keeps_what_is_not_secret() -> None:
    """The user, host, port and database stay readable; only the secret is masked."""
    from videopipe._secrets import redact

    assert redact("postgresql://app:pw@db:5432/videos") == "postgresql://app:***@db:5432/videos"
    assert redact("postgresql://app@db/videos?password=pw&sslmode=require") == (
        "postgresql://app@db/videos?password=***&sslmode=require"
    )
    assert redact("host=db user=app password=pw dbname=videos") == (
        "host=db user=app password=*** dbname=videos"
    )
    assert redact("key sk-proj-abcdefghijklmnop") == "key sk-***"
    assert redact("sqlite:///videos.db") == "sqlite:///videos.db"
    assert redact("postgresql://app@db:5432/videos") == "postgresql://app@db:5432/videos"


@pytest.mark.parametrize("url", DSNS, ids=[f"dsn{i}" for i in range(len(DSNS))])
def test_the_error_or_store_open_store_gives_hides_the_password(url: str) -> None:
    """Not only what the CLI prints: the exception itself, and the store's `url` and repr."""
    shown: list[str] = []
    try:
        store = vp.open_store(url)
    except vp.ConfigurationError as exc:
        shown += [str(exc), str(exc.__cause__ or "")]
    else:
        shown += [store.url, repr(store)]
    assert shown
    assert all(_clean(text) for text in shown)


async def test_a_failed_stage_stores_and_reports_its_error_without_secrets(
    dsn: str, tmp_path
) -> None:
    """The error a stage raised is stored (video, stage run), returned and shown in the report."""
    from videopipe.storage import MemoryStore

    video_file = tmp_path / "talk.mp4"
    video_file.write_bytes(b"the stage below never reads it")

    class Leaky:
        name = "leaky"
        requires = ()

        async def run(self, ctx: vp.StageContext) -> None:
            raise RuntimeError(f"cannot reach {dsn} with key {KEY}")

    store = MemoryStore()
    pipeline = vp.Pipeline([Leaky()], store=store, data_dir=tmp_path, settings=vp.Settings())
    with pytest.raises(vp.StageError) as caught:
        await pipeline.run(video_file)
    result = caught.value.result
    assert result is not None
    video = await store.get_video(result.video_id)
    runs = await store.get_stage_runs(result.video_id)
    report = await vp.load_report(store, result.video_id)
    from prometheus_client import generate_latest

    from videopipe._observability import METRICS

    metrics = generate_latest(METRICS.registry).decode()
    shown = [
        video.error or "",
        runs["leaky"].error or "",
        result.table(),
        report.to_html(),
        metrics,
    ]
    assert "cannot reach" in shown[1]
    assert all(_clean(text) for text in shown)
