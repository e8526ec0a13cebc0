"""Every example runs, against the generated videos, with no AI key (AI stages skipped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.postgres import pg_template, pg_url  # noqa: F401 (fixtures)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, media: dict[str, Path], tmp_path: Path, **env: str) -> str:
    environment = {
        **os.environ,
        "VIDEOPIPE_SAMPLES": str(media["cuts.mp4"].parent),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        **env,
    }
    environment.pop("OPENAI_API_KEY", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_quickstart(media, tmp_path: Path) -> None:
    out = run_example("quickstart.py", media, tmp_path)
    assert "4 scenes, 4 frames, 0 transcript segments" in out
    assert "note: transcribe, vision, embeddings skipped: no AI provider is configured" in out
    assert "OPENAI_BASE_URL" in out
    assert (tmp_path / "demo.db").is_file()


@pytest.mark.timeout(120)
def test_batch_reports_each_bad_file_alone(media, tmp_path: Path) -> None:
    out = run_example("batch.py", media, tmp_path)
    assert "Done: 3 succeeded, 3 failed" in out
    assert "empty.mp4: EmptyInput" in out
    assert "text.mp4: StageError" in out
    assert "truncated.mp4: StageError" in out


@pytest.mark.timeout(120)
def test_custom_stage(media, tmp_path: Path) -> None:
    out = run_example("custom_stage.py", media, tmp_path)
    assert "scene_stats: {'scenes': 4, 'mean_scene_sec': 2.0, 'words': 0}" in out
    assert "re-run resumed every stage: True" in out


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_worker_postgres(media, tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    out = run_example("worker_postgres.py", media, tmp_path, DATABASE_URL=pg_url)
    assert "Total: 4, successful: 3, failed: 1" in out
    assert "FAILED " in out
    assert "text.mp4" in out
