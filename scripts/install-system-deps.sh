#!/usr/bin/env bash
# Install the Debian packages the test-suite needs; idempotent, skips what is present.
#
#   espeak-ng               real speech for the generated test media
#   chromium                headless rendering of the HTML report (tests/media/test_report.py)
#   postgresql-15-pgvector  the pgvector path of PostgresStore, where a PostgreSQL 15 server is installed
#                           and the configured apt sources carry it (Debian bookworm's main archive does not;
#                           PostgresStore then falls back to exact search over real[] columns)
#
# FFmpeg itself is not needed here: the `imageio-ffmpeg` wheel ships a binary.
set -euo pipefail

want=()
command -v espeak-ng >/dev/null 2>&1 || want+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
if [ -d /usr/lib/postgresql/15 ] && [ ! -f /usr/share/postgresql/15/extension/vector.control ] \
    && [ -n "$(apt-cache policy postgresql-15-pgvector 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)')" ]; then
    want+=(postgresql-15-pgvector)
fi

if [ ${#want[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "system packages: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}"
