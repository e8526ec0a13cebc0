from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_hash_files_example_reports_every_file_and_isolates_the_bad_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00" * 4096)
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "hash_files.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = run.stdout.splitlines()
    # sha256("hello")
    assert "2cf24dba5fb0a30e  a.txt" in lines
    assert any(line.endswith("sub/b.bin") for line in lines)
    assert any(line.startswith("FAILED") and "no-such-file.bin" in line for line in lines)
    assert lines[-1] == "Done: 2 succeeded, 1 failed"
