from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

import videopipe as vp
from videopipe._cli import main
from videopipe._settings import redact_url

SECRET = "sk-test-9f8e7d6c5b4a"


def test_defaults_follow_the_worker_deployment_table() -> None:
    s = vp.Settings(_env_file=None)
    assert s.database_url == "sqlite:///videopipe.db"
    assert s.openai_api_key is None
    assert s.data_dir == Path("data")
    assert s.worker_poll_ms == 1500
    assert s.worker_max_attempts == 3
    assert s.log_level == "INFO"
    assert s.worker_dev_http is False
    assert s.worker_http_port == 8000
    assert s.vision_max_concurrent == 5


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("DATA_DIR", "/srv/videos")
    monkeypatch.setenv("WORKER_POLL_MS", "250")
    monkeypatch.setenv("WORKER_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("WORKER_DEV_HTTP", "true")
    monkeypatch.setenv("WORKER_HTTP_PORT", "9100")
    monkeypatch.setenv("VISION_MAX_CONCURRENT", "2")
    monkeypatch.setenv("VIDEOPIPE_FFMPEG", "/opt/ffmpeg")
    s = vp.Settings(_env_file=None)
    assert s.database_url.startswith("postgresql://")
    assert s.data_dir == Path("/srv/videos")
    assert (s.worker_poll_ms, s.worker_max_attempts, s.worker_http_port) == (250, 5, 9100)
    assert s.log_level == "DEBUG"
    assert s.log_level_number == logging.DEBUG
    assert s.worker_dev_http is True
    assert s.vision_max_concurrent == 2
    assert s.ffmpeg == "/opt/ffmpeg"


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WORKER_POLL_MS=42\n")
    assert vp.Settings().worker_poll_ms == 42


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_MAX_ATTEMPTS", "0")
    with pytest.raises(ValidationError, match="worker_max_attempts"):
        vp.Settings(_env_file=None)


def test_api_key_never_shows_in_repr_str_logs_or_errors(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The key is a SecretStr: no repr, str, log line, error or CLI output can leak it."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    s = vp.Settings(_env_file=None)
    assert s.openai_api_key is not None
    assert s.openai_api_key.get_secret_value() == SECRET
    assert SECRET not in repr(s)
    assert SECRET not in str(s)
    assert SECRET not in repr(s.model_dump())
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("videopipe.test").info("settings: %s / %r", s, s)
    assert SECRET not in caplog.text
    monkeypatch.setenv("WORKER_HTTP_PORT", "not-a-port")
    with pytest.raises(ValidationError) as info:
        vp.Settings(_env_file=None)
    assert SECRET not in str(info.value)
    monkeypatch.delenv("WORKER_HTTP_PORT")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert "OPENAI_API_KEY" in out
    assert "**********" in out


def test_database_password_is_redacted_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db.internal:5432/videos")
    s = vp.Settings(_env_file=None)
    assert "hunter2" not in repr(s)
    assert "app:***@db.internal:5432" in repr(s)
    assert s.database_url.endswith("hunter2@db.internal:5432/videos")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://a:b@h/d", "postgresql://a:***@h/d"),
        ("postgresql://a@h:5/d", "postgresql://a@h:5/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
