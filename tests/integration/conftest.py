from __future__ import annotations

from tests.integration.postgres import pg_empty_url, pg_template, pg_url  # noqa: F401 (fixtures)
