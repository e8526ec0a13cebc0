"""Without PostgreSQL the integration tests skip locally, but fail under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = (
    "tests/integration/test_postgres_backend.py::test_a_database_newer_than_the_code_is_refused"
)


def _run_without_postgres(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["VIDEOPIPE_TEST_POSTGRES"] = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(240)
def test_integration_tests_skip_without_postgres_locally() -> None:
    result = _run_without_postgres(ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "is unreachable" in result.stdout


@pytest.mark.timeout(240)
def test_integration_tests_fail_without_postgres_in_ci() -> None:
    result = _run_without_postgres(ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout
    assert "CI=true: the integration tests need PostgreSQL" in result.stdout
