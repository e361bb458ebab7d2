"""Rows of a query on a connection of its own: the operator tools' and the chaos checks' reads."""

from collections.abc import Callable
from typing import Any


def rows(connect: Callable[[], Any], sql: str, args: Any = None) -> list[Any]:
    """All rows `sql` answers, on a new connection from `connect` (a pymysql-like one), closed after."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()
