"""The PostgreSQL test server the second-dialect tests rely on really runs and answers SQL."""

from __future__ import annotations

import psycopg2
import pytest

from tests.pg_server import PgServer

pytestmark = pytest.mark.postgres


def test_server_answers(pg_server: PgServer) -> None:
    with psycopg2.connect(pg_server.dsn) as conn, conn.cursor() as cur:
        cur.execute("select 1 + 1")
        assert cur.fetchone() == (2,)
