"""Ctrl-C on `videopipe process`: a real process, a real SIGINT, while a stage is known to run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import videopipe as vp

# The command, with two providers registered: `fake`, and `stuck`, whose vision call for a
# second video writes a marker file and then never returns, so the test knows that a stage
# is running when it sends SIGINT.
SCRIPT = """
import sys
from pathlib import Path

import anyio

from videopipe._cli import main
from videopipe.providers import register_provider
from videopipe.testing import FakeProvider

marker = Path(sys.argv[1])


class Stuck(FakeProvider):
    first_video = None

    async def caption(self, image_path, **kwargs):
        video = Path(image_path).parent.name
        if Stuck.first_video is None:
            Stuck.first_video = video
        if video != Stuck.first_video:
            marker.write_text(video)
            await anyio.sleep_forever()
        return await super().caption(image_path, **kwargs)


register_provider("stuck", lambda settings: Stuck())
register_provider("fake", lambda settings: FakeProvider())
sys.exit(main(sys.argv[2:]))
"""


def _statuses(db: Path) -> dict[str, int]:
    async def count() -> dict[str, int]:
        async with vp.open_store(f"sqlite:///{db}") as store:
            return await store.count_videos()

    return vp.run_blocking(count)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    """Until `path` exists; the process ending first is a failure, not a hang."""
    deadline = time.monotonic() + 120  # a bound on a hang only: the test waits on the file
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the command ended before the stage started:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the stuck stage never started")
        time.sleep(0.05)


@pytest.mark.timeout(240)
def test_ctrl_c_says_what_happened_and_leaves_nothing_processing(tmp_path: Path, media) -> None:
    script = tmp_path / "cli.py"
    script.write_text(SCRIPT)
    marker = tmp_path / "stage-running"
    db = tmp_path / "videos.db"
    inputs = [str(media[name]) for name in ("cuts.mp4", "slides.mp4", "fades.mp4")]
    argv = [
        sys.executable, str(script), str(marker), "process", "--db", f"sqlite:///{db}",
        "--data-dir", str(tmp_path / "data"), "--concurrency", "1", *inputs,
    ]  # fmt: skip
    env = {**os.environ, "VIDEOPIPE_PROVIDER": "stuck"}
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(marker, process)
    assert _statuses(db)["processing"] == 1  # the second video, in its vision stage
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: 1 done, 2 not finished; run the same command again to resume" in err
    assert "Traceback" not in err
    assert out.count("ready ") == 1

    counts = _statuses(db)
    assert counts["processing"] == 0
    assert counts["ready"] == 1
    assert counts["pending"] == 1  # the interrupted video, which a re-run resumes

    env["VIDEOPIPE_PROVIDER"] = "fake"
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[-1] == "Done: 3 succeeded, 0 failed"
    assert _statuses(db)["ready"] == 3
