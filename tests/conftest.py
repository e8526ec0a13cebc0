from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from videopipe.providers import _choose

# The S3-compatible server (moto) and a bucket per test, for the object-storage tests.
pytest_plugins = ["tests.s3server"]


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
        "MAX_INPUT_DURATION_SEC",
        "MAX_DECODED_FRAMES",
        "MAX_INPUT_PIXELS",
        "MAX_OUTPUT_BYTES",
        "STAGE_TIMEOUT_SEC",
        "SCRATCH_MAX_MB",
        "STORAGE_OPTIONS",
        "PRESIGN_EXPIRY_SEC",
        "VIDEOPIPE_FFMPEG",
        "VIDEOPIPE_WHISPER_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    # The dev environment has the `local` extra, so `auto` would load the local models in
    # every test that builds a default pipeline; the tests of LocalProvider ask for it.
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "none")
    # Each test's scratch space is its own (and never the machine's shared temp directory).
    monkeypatch.setenv("SCRATCH_DIR", str(tmp_path.parent / f"{tmp_path.name}-scratch"))
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


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A still 320x240 video of 20 minutes (36,000 frames) in a few hundred kB.

    Scene detection decodes every frame of it: minutes of CPU, for the tests
    that stop that work. Made by looping a 10 s clip without re-encoding, so it
    takes a second to make.
    """
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out = tmp_path_factory.mktemp("long")
    short, long = out / "short.mp4", out / "long.mp4"
    quiet = [ffmpeg, "-nostdin", "-y", "-loglevel", "error"]
    subprocess.run(
        [
            *quiet,
            *("-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=30:d=10"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(short)),
        ],
        check=True,
    )
    subprocess.run(
        [*quiet, "-stream_loop", "119", "-i", str(short), "-c", "copy", str(long)], check=True
    )
    return long


@contextlib.contextmanager
def cache_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory`'s cached contents while they are made or checked.

    The suite runs in several pytest-xdist workers at once, and every worker asks for the
    same cached media: the first one makes it, the others wait and then reuse it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
