#!/usr/bin/env bash
# The test-suite and the quickstart on every Python that pyproject.toml claims (its
# "Programming Language :: Python :: 3.X" classifiers), each at the newest dependency
# versions, plus one pass on the lowest claimed Python at the lowest versions pyproject.toml
# allows (uv's lowest-direct resolution). `make test` has already covered the default Python
# (.venv); each other version gets a .venv-3.X of its own, and the lowest pass .venv-lowest.
#
# A claimed Python that cannot be found is skipped with a warning, except under CI=true,
# where it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

claimed=$(sed -n 's/.*"Programming Language :: Python :: \(3\.[0-9][0-9]*\)".*/\1/p' pyproject.toml | sort -V)
default=$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || true)
lowest=$(echo "$claimed" | head -n 1)

find_python() {
    if bash scripts/find-python.sh "$1"; then
        return 0
    fi
    if [ "${CI:-}" = "true" ]; then
        echo "test-matrix: Python $1 is claimed by pyproject.toml but not installed; failing (CI=true)" >&2
        exit 1
    fi
    echo "test-matrix: skipping Python $1 (not installed)" >&2
    return 1
}

for version in $claimed; do
    [ "$version" = "$default" ] && continue
    python=$(find_python "$version") || continue
    echo "=== Python $version, newest dependencies ($python) ==="
    make demo pytest typecheck PYTHON="$python" VENV=".venv-$version"
done

if python=$(find_python "$lowest"); then
    echo "=== Python $lowest, lowest allowed dependencies ($python) ==="
    make lowest PYTHON="$python" VENV=.venv-lowest
fi
