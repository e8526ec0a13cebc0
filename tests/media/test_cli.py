"""The `videopipe` command, run in-process against SQLite and the generated videos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from videopipe._cli import build_parser, main


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = f"sqlite:///{tmp_path / 'videos.db'}"

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args[:1], "--db", db, "--data-dir", str(tmp_path / "data"), *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.timeout(60)
def test_process_prints_a_summary_and_fails_only_the_bad_file(cli, media) -> None:
    code, out, _ = cli("process", "--quiet", str(media["cuts.mp4"]), str(media["text.mp4"]))
    assert code == 1
    lines = out.splitlines()
    assert lines[-1] == "Done: 1 succeeded, 1 failed"
    assert any(
        line.startswith("ready ") and line.endswith(str(media["cuts.mp4"])) for line in lines
    )
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "text.mp4" in failed[0]
    assert "no video stream" in failed[0] or "not a video" in failed[0].lower()
    code, out, _ = cli("stats")
    stats = json.loads(out)
    assert stats["videos"]["ready"] == 1
    assert stats["videos"]["failed"] == 1


def test_enqueue_a_batch_and_follow_it(cli, media) -> None:
    code, out, _ = cli("enqueue", "--batch", str(media["cuts.mp4"]), str(media["silent.mp4"]))
    assert code == 0
    batch_id = out.split()[1].rstrip(":")
    assert batch_id.startswith("batch_")
    code, out, _ = cli("status", batch_id)
    assert code == 0
    assert out.startswith(f"batch {batch_id}: created, 0.0% (0 done, 0 failed")
    code, out, _ = cli("jobs", "peek")
    assert code == 0
    assert len(out.splitlines()) == 2
    code, out, _ = cli("status")
    assert "pending=2" in out
    code, out, _ = cli("enqueue", str(media["cuts.mp4"]))  # already queued: the same job
    assert code == 0
    assert cli("jobs", "peek")[1].count("\n") == 2


def test_errors_are_one_clear_line_without_a_traceback(cli, tmp_path: Path) -> None:
    code, _, err = cli("jobs", "replay")
    assert code == 1
    assert err == "videopipe: error: say which dead job to replay, or --all\n"
    code, _, err = cli("enqueue", str(tmp_path / "nope.mp4"))
    assert code == 1
    assert err.startswith("videopipe: error: video file not found: ")
    assert "Traceback" not in err
    code, _, err = cli("search", "budget")
    assert code == 1
    assert "OPENAI_API_KEY" in err
    code, _, err = cli("status", "batch_nope")
    assert code == 1
    assert "batch_nope" in err


def test_every_command_has_help() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == {
        "process", "enqueue", "worker", "status", "jobs", "search", "report", "stats", "settings",
    }  # fmt: skip
    for name in commands:
        run = subprocess.run(
            [sys.executable, "-m", "videopipe", name, "--help"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert f"usage: videopipe {name}" in run.stdout


def test_options_work_before_and_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`videopipe --db X status` and `videopipe status --db X` both use X."""
    unreachable = "postgresql://postgres@127.0.0.1:9/nowhere"
    for argv in (["--db", unreachable, "status"], ["status", "--db", unreachable]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(
            "videopipe: error: cannot connect to postgresql://postgres@127.0.0.1:9"
        )
        assert err.count("\n") == 1
