from __future__ import annotations

from tests.integration.pgvector import (  # noqa: F401 (fixtures)
    pgvector_schema_url,
    pgvector_schemas_database,
    pgvector_server,
    pgvector_url,
)
from tests.integration.postgres import pg_empty_url, pg_template, pg_url  # noqa: F401 (fixtures)
