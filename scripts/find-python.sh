#!/usr/bin/env bash
# Print the path of a Python interpreter of the version given (e.g. `3.12`), found without
# fixed paths: `python3.12` on PATH when it runs, else the newest pyenv install of that
# version. Exits 1 with a message when there is none.
set -euo pipefail
version=${1:?usage: find-python.sh 3.12}

if command -v "python$version" >/dev/null 2>&1 \
    && "python$version" -c 'import sys' >/dev/null 2>&1; then
    # A pyenv shim answers to `command -v` even when the version is not active: resolve it.
    # From inside a virtual environment (make puts .venv/bin first), name its base interpreter.
    "python$version" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))'
    exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
    installed=$(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}(\.[0-9]+)?$" | sort -V | tail -n 1 || true)
    if [ -n "$installed" ]; then
        candidate="$(pyenv root)/versions/$installed/bin/python$version"
        if [ -x "$candidate" ]; then
            echo "$candidate"
            exit 0
        fi
    fi
fi
echo "find-python.sh: no Python $version (neither python$version on PATH nor a pyenv install)" >&2
exit 1
