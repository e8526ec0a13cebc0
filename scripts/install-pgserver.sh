#!/usr/bin/env bash
# Give a virtual environment the `pgserver` wheel's PostgreSQL 16 + pgvector binaries, which
# the pgvector tests start (tests/integration/pgvector.py finds the package, never imports it).
#
# `pgserver` is a dev dependency where it has wheels (CPython up to 3.12). The server does not
# care which Python its client runs, so on a newer Python this installs the CPython 3.12 wheel's
# files into the environment's site-packages without its Python dependencies.
#
#   usage: install-pgserver.sh VENV/bin/python
set -euo pipefail
python=${1:?usage: install-pgserver.sh VENV/bin/python}

if "$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pgserver") is None)'; then
    exit 0
fi
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "pgserver: no wheel for $("$python" -V); installing the CPython 3.12 wheel's binaries into $site"
"$python" -m pip install --quiet --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --abi cp312 \
    --platform "manylinux2014_$(uname -m)" --target "$site" pgserver
