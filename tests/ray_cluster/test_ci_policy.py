"""Without a Ray cluster the Ray tests skip locally, but fail under CI=true."""

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


def _run_without_ray(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["VIDEOPIPE_TEST_RAY_BIN"] = "/bin/false"  # every node fails to start
    env.pop("CI", None)
    if ci is not None:
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
def test_ray_tests_skip_without_a_cluster_locally() -> None:
    result = _run_without_ray(ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "the Ray test cluster did not start" in result.stdout


@pytest.mark.timeout(150)
def test_ray_tests_fail_without_a_cluster_under_ci() -> None:
    result = _run_without_ray(ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true: the Ray tests need a Ray cluster" in result.stdout
