from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from videopipe.providers import _choose


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Tests never read the developer's real configuration or write into the checkout."""
    for name in (
        "DATABASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "DATA_DIR",
        "WORKER_POLL_MS",
        "WORKER_MAX_ATTEMPTS",
        "LOG_LEVEL",
        "WORKER_DEV_HTTP",
        "WORKER_HTTP_PORT",
        "VISION_MAX_CONCURRENT",
        "TRANSCRIBE_MAX_CONCURRENT",
        "EMBED_MAX_CONCURRENT",
        "PROVIDER_RETRY_BUDGET_SEC",
        "VIDEOPIPE_FFMPEG",
        "VIDEOPIPE_WHISPER_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    # The dev environment has the `local` extra, so `auto` would load the local models in
    # every test that builds a default pipeline; the tests of LocalProvider ask for it.
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "none")
    monkeypatch.chdir(tmp_path)
    logging.getLogger("videopipe").setLevel(logging.NOTSET)
    # Providers a test (or a docs page) registers are forgotten after it.
    monkeypatch.setattr(_choose, "_REGISTRY", dict(_choose._REGISTRY))


@pytest.fixture(autouse=True)
def _videopipe_logger_restored() -> Iterator[None]:
    """A test that calls `configure_logging` (handlers, `propagate = False`) leaks it to none.

    Left in place, the next test's `caplog` would see none of videopipe's records.
    """
    logger = logging.getLogger("videopipe")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = propagate
