from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.postgres import pg_template, pg_url  # noqa: F401 (fixtures)
from tests.media.conftest import media  # noqa: F401 (fixture)

# The files the pages may name, in the working directory each page runs in.
SAMPLES = {
    "sample.mp4": "cuts.mp4",  # 8 s, four scenes, four spoken sentences
    "silent.mp4": "silent.mp4",  # 3 s, no audio track
    "broken.mp4": "truncated.mp4",  # the first half of sample.mp4: corrupt
}


@pytest.fixture
def docs_cwd(tmp_path: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """A fresh working directory holding the sample videos, with a fake OpenAI key."""
    for name, source in SAMPLES.items():
        shutil.copyfile(media[source], tmp_path / name)
    monkeypatch.chdir(tmp_path)
    # A reader with an OpenAI key: `Pipeline.default()` picks OpenAIProvider, served by respx.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-docs")
    monkeypatch.delenv("VIDEOPIPE_PROVIDER", raising=False)
    return tmp_path
