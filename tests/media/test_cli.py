"""The `videopipe` command, run in-process against SQLite and the generated videos."""

from __future__ import annotations

import argparse
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import videopipe as vp
from videopipe._cli import build_parser, main
from videopipe._cli._output import colour
from videopipe._cli._parser import EXAMPLES, SETTING_OPTIONS, env_name
from videopipe.providers import register_provider
from videopipe.testing import FakeProvider

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = f"sqlite:///{tmp_path / 'videos.db'}"

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args[:1], "--db", db, "--data-dir", str(tmp_path / "data"), *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.timeout(240)
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


# --- #18: CLI habits --------------------------------------------------------------------

COMMANDS = {
    "process", "enqueue", "worker", "status", "videos", "jobs", "search", "report", "stats",
    "settings", "ray",
}  # fmt: skip


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, Any]:
    """Every command and sub-command parser, by its full name (`jobs peek`)."""
    found: dict[str, Any] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                found[full] = sub
                found.update(_subcommands(sub, f"{full} "))
    return found


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_every_command_has_help_with_examples_and_the_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parsers = _subcommands(build_parser())
    assert {name for name in parsers if " " not in name} == COMMANDS
    assert {"jobs peek", "jobs dead", "jobs replay", "jobs cancel"} <= set(parsers)
    for name, sub in parsers.items():
        text = _help([*name.split(), "--help"], capsys)
        assert text.startswith(f"usage: videopipe {name} "), name
        examples = text.split("\nexamples:\n", 1)[1]
        assert f"  $ videopipe {name}" in examples, name
        for action in sub._actions:
            if not action.option_strings:  # positional: each says what it is
                assert action.help, f"{name} {action.dest}"
        words = " ".join(text.split())  # as wrapped for the terminal's width
        for option, field in SETTING_OPTIONS.items():
            variable = env_name(field)
            assert option in words, (name, option)
            assert f"[env: {variable}]" in words, (name, option)


def test_the_variables_in_the_help_are_the_ones_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names come from `Settings`: setting each one changes that field."""
    values = {"database_url": "memory://", "data_dir": "/srv/v", "log_level": "DEBUG"}
    for field, value in values.items():
        monkeypatch.setenv(env_name(field), value)
    settings = vp.Settings(_env_file=None)
    assert {field: str(getattr(settings, field)) for field in values} == values
    assert env_name("provider") == "VIDEOPIPE_PROVIDER"  # an alias is followed


def test_jobs_peek_help_is_its_own_through_the_real_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "videopipe", "jobs", "peek", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: videopipe jobs peek")
    assert "--status" in run.stdout
    assert "$ videopipe jobs peek --status processing" in run.stdout
    assert "replay" not in run.stdout.split("examples:")[0]


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert colour("FAILED", "red", Terminal()) == "\x1b[31mFAILED\x1b[0m"
    assert colour("FAILED", "red", io.StringIO()) == "FAILED"  # a pipe or a file
    monkeypatch.setenv("NO_COLOR", "1")
    assert colour("FAILED", "red", Terminal()) == "FAILED"


@pytest.mark.timeout(120)
def test_a_failure_is_printed_once(cli, media) -> None:
    """One bad input: its error once, in the summary; no raw log lines about it."""
    code, out, err = cli("process", str(media["cuts.mp4"]), str(media["text.mp4"]))
    assert code == 1
    both = out + err
    assert both.count("text.mp4 is not a video file") == 1, both
    assert "\x1b" not in both  # plain text when not on a terminal
    assert err.splitlines()[0].startswith("provider: none: AI stages")
    code, out, err = cli("process", "-v", str(media["text.mp4"]))  # asked for: the log lines
    assert "videopipe: warning: stage normalize failed for video" in err
    assert "videopipe: error: FAILED: video" in err


# --- #18: which provider ------------------------------------------------------------------


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """`VIDEOPIPE_PROVIDER=fake`: the offline fake of `videopipe.testing` (registry reset after)."""
    register_provider("fake", lambda settings: FakeProvider())
    monkeypatch.setenv("VIDEOPIPE_PROVIDER", "fake")


FAKE_MODELS = (
    "fake (transcription: fake-whisper, vision: fake-vision, embedding: fake-embedding-64)"
)


def test_settings_shows_the_provider_and_models_chosen(
    fake_provider: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["settings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "VIDEOPIPE_PROVIDER           fake" in lines
    assert f"provider chosen              {FAKE_MODELS}" in lines


# --- #21 points 5 and 6: videos by their files, JSON lines ------------------------------------


def _guide_fields(section: str) -> list[str]:
    """The field names the CLI guide's table under `section` documents."""
    text = (ROOT / "docs" / "guides" / "cli.md").read_text()
    table = text.split(f"<!-- json: {section} -->", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.timeout(180)
def test_videos_by_file_and_json_lines(cli, media, fake_provider: None, tmp_path: Path) -> None:
    cuts, text = str(media["cuts.mp4"]), str(media["text.mp4"])
    code, out, _ = cli("process", "--json", cuts, text)
    assert code == 1
    processed = _json_lines(out)
    assert [set(r) for r in processed] == [set(_guide_fields("process"))] * 2
    assert [(r["input"], r["status"]) for r in processed] == [(cuts, "ready"), (text, "failed")]
    assert processed[0]["duration_sec"] == pytest.approx(8.0, abs=0.2)
    assert "not a video file" in processed[1]["error"]
    video_id = processed[0]["video_id"]

    code, out, _ = cli("videos")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["id", "status", "duration", "added", "(UTC)", "file"]
    failed = next(r for r in rows if r.endswith(text))
    assert failed.split()[1:3] == ["failed", "-"]
    ready = next(r for r in rows if r.startswith(video_id))
    assert ready.split()[1:3] == ["ready", "00:08.00"]
    assert ready.endswith(cuts)
    code, out, _ = cli("videos", "--json", "--status", "ready")
    listed = _json_lines(out)
    assert [v["id"] for v in listed] == [video_id]
    assert set(listed[0]) == set(_guide_fields("videos"))
    assert (listed[0]["file"], listed[0]["status"]) == (cuts, "ready")

    # A copy elsewhere is the same video: found by its content.
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(Path(cuts).read_bytes())
    for ref in (cuts, str(copy), video_id):
        code, out, err = cli("status", "--json", ref)
        assert code == 0, err
        (status,) = _json_lines(out)
        assert set(status) == set(_guide_fields("status-video"))
        assert (status["id"], status["status"]) == (video_id, "ready")
        assert status["stages"]["normalize"]["status"] == "done"
    code, out, _ = cli("status", cuts)
    first, *stages = out.splitlines()
    assert first == f"video {video_id}: ready, 8.0s, {cuts}"
    assert [line.split()[0] for line in stages] == [
        "normalize", "transcribe", "scenes", "frames", "vision", "embeddings",
    ]  # fmt: skip
    code, out, _ = cli("status", "--json")
    (queue,) = _json_lines(out)
    assert set(queue) == set(_guide_fields("status"))
    assert queue["videos"]["ready"] == 1

    code, out, err = cli("search", "--json", "--video", cuts, "welcome")
    assert code == 0, err
    hits = _json_lines(out)
    assert hits
    assert all(h["video_id"] == video_id for h in hits)
    for hit in hits:
        assert set(_guide_fields("search")) <= set(hit)
    code, out, _ = cli("search", "--video", str(media["silent.mp4"]), "welcome")
    assert code == 1  # never processed here

    code, out, err = cli("report", str(copy), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    assert out.startswith(f"report:     {tmp_path / 'reports' / video_id}.html")
    code, _, err = cli("report", str(media["silent.mp4"]))
    assert code == 1
    assert "was never processed in this store (its video ID would be v" in err


def test_reading_commands_never_create_a_missing_database(tmp_path: Path, capsys) -> None:
    db = tmp_path / "typo.db"
    for argv in (
        ["status"], ["status", "--json"], ["videos"], ["search", "budget"], ["stats"],
        ["jobs", "peek"], ["report", "v0123"],
    ):  # fmt: skip
        assert main([*argv, "--db", f"sqlite:///{db}"]) == 1, argv
        err = capsys.readouterr().err
        assert err == (
            f"videopipe: error: there is no store at sqlite:///{db}: the file {db} does not "
            "exist (check --db or DATABASE_URL; `videopipe process` or `videopipe enqueue` "
            "creates it)\n"
        ), argv
        assert not db.exists()


def test_the_help_examples_are_commands_the_parser_takes() -> None:
    """Each example of every `--help` parses as the command it illustrates."""
    parser = build_parser()
    for name, examples in EXAMPLES.items():
        for line, _ in examples:
            argv = shlex.split(line.split(" | ", 1)[0])
            argv = argv[argv.index("videopipe") + 1 :]  # past `VAR=value` prefixes
            args = parser.parse_args(argv)
            command, _, action = name.partition(" ")
            assert args.command == command, line
            assert not action or args.action == action, line


@pytest.mark.timeout(120)
def test_a_deleted_file_is_found_by_the_path_it_was_processed_from(
    cli, media, tmp_path: Path
) -> None:
    gone = tmp_path / "clips" / "gone.mp4"
    gone.parent.mkdir()
    gone.write_bytes(media["short.mp4"].read_bytes())
    code, out, _ = cli("process", "--json", str(gone))
    assert code == 0
    video_id = json.loads(out)["video_id"]
    gone.unlink()
    for ref in (str(gone), "clips/gone.mp4"):  # absolute, or from the working directory
        code, out, err = cli("status", ref)
        assert code == 0, err
        assert out.startswith(f"video {video_id}: ready, ")
    code, _, err = cli("status", "clips/never.mp4")
    assert code == 1
    assert "no video with id 'clips/never.mp4', nor processed from a file of that name" in err
    code, _, err = cli("status", "never.mp4")
    assert code == 1
    assert "no video with id 'never.mp4', nor processed from a file of that name" in err


def test_batch_status_json_has_the_documented_fields(cli, media) -> None:
    code, out, _ = cli("enqueue", "--batch", str(media["cuts.mp4"]))
    batch_id = out.split()[1].rstrip(":")
    code, out, _ = cli("status", "--json", batch_id)
    assert code == 0
    (status,) = _json_lines(out)
    documented = (ROOT / "docs" / "guides" / "cli.md").read_text()
    section = documented.split("`status --json BATCH`", 1)[1].split("\n\n", 1)[0]
    assert set(status) == set(re.findall(r"`([a-z_]+)`", section)) - {
        "video_id", "original_path", "error",  # the fields of each failure
    }  # fmt: skip
    assert (status["id"], status["state"], status["total"]) == (batch_id, "created", 1)


@pytest.mark.timeout(120)
def test_process_title_names_the_video_in_the_store_and_its_report(
    cli, media, tmp_path: Path
) -> None:
    short = str(media["short.mp4"])
    code, _, err = cli("process", "--title", "Q3", short, str(media["cuts.mp4"]))
    assert code == 1
    assert "--title names one video, but 2 files were given" in err
    code, out, _ = cli("process", "--json", "--title", "  Q3 all-hands ", short)
    assert code == 0
    video_id = json.loads(out)["video_id"]
    with vp.BlockingStore(f"sqlite:///{tmp_path / 'videos.db'}") as store:
        assert store.get_video(video_id).title == "Q3 all-hands"
    code, out, _ = cli("report", video_id, "--out", str(tmp_path / "reports"))
    assert code == 0
    page = (tmp_path / "reports" / f"{video_id}.html").read_text()
    assert "<title>videopipe report: Q3 all-hands</title>" in page
    assert f'<p class="vp-meta">id: {video_id}</p>' in page
