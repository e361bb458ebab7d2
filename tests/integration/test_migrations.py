"""Migrations against the real database: what a deploy is told when one cannot apply."""

import pytest

from chalicelib.adapters.mysql.schema import MIGRATIONS
from chalicelib.domain.errors import Refused


def test_a_migration_the_server_refuses_fails_with_its_name_and_the_servers_words(deps):
    """As after a run whose record was lost: the key it adds is there already."""
    name = "0029_chats_updated_minute_key"
    assert name in dict(MIGRATIONS)
    with deps.mysql.cursor() as cur:
        cur.execute("DELETE FROM schema_migrations WHERE name = %s", (name,))
    try:
        with pytest.raises(Refused, match=f"migration {name} failed: MySQL error 1061: Duplicate key name"):
            deps.schema.migrate()
    finally:
        with deps.mysql.cursor() as cur:
            cur.execute("INSERT IGNORE INTO schema_migrations (name) VALUES (%s)", (name,))
    assert deps.schema.migrate() == []
