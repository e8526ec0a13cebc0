"""Without a Ray cluster the Ray tests fail under CI=true (locally they skip, with the reason).

Only the CI side runs here: each case is a pytest session of its own, which costs
about 25 s on the loaded 2-core machine; the local skip is the other branch of the
conftest's `unavailable()`, built as PostgreSQL's, whose two sides
tests/integration/test_ci_policy.py runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = (
    "tests/ray_cluster/test_process.py::"
    "test_process_writes_what_a_local_run_writes_and_a_second_run_pays_nothing"
)


def _run_without_ray(ci: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["VIDEOPIPE_TEST_RAY_BIN"] = "/bin/false"  # every node fails to start
    env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(150)
def test_ray_tests_fail_without_a_cluster_under_ci() -> None:
    result = _run_without_ray(ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true: the Ray tests need a Ray cluster" in result.stdout
