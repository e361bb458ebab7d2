"""How the schema adapter tells a deploy why a migration did not apply: a refusal of the server
names the migration; the connection's or the moment's trouble reads as a database unavailable or
busy. Driver errors are raised by a stand-in connection; the real server's refusal is covered in
tests/integration/test_migrations.py."""

import contextlib

import pymysql
import pytest

from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.mysql.schema import MIGRATIONS, Schema
from chalicelib.domain.errors import Refused, Unavailable


class _Connection:
    """Answers the migrations table empty and fails the first migration with `error`."""

    open = True

    def __init__(self, error: Exception):
        self._error = error

    @contextlib.contextmanager
    def cursor(self):
        yield self

    def execute(self, sql, args=None):
        if sql == MIGRATIONS[0][1]:
            raise self._error

    def fetchall(self):
        return []

    def close(self):
        self.open = False


def migrate_failing_with(error):
    Schema(MySQL(lambda: _Connection(error))).migrate()


@pytest.mark.parametrize(
    "error",
    [
        pymysql.err.OperationalError(1061, "Duplicate key name 'ix'"),
        pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"),
        pymysql.err.IntegrityError(1062, "Duplicate entry '1' for key 'uq'"),
    ],
)
def test_a_migration_the_server_refuses_is_named_with_the_servers_words(error):
    name, code, words = MIGRATIONS[0][0], error.args[0], error.args[1]
    with pytest.raises(Refused, match=f"^migration {name} failed: MySQL error {code}: ") as raised:
        migrate_failing_with(error)
    assert words in str(raised.value)


@pytest.mark.parametrize(
    "error",
    [
        pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
        pymysql.err.InterfaceError(0, ""),
        pymysql.err.OperationalError(1053, "Server shutdown in progress"),
        pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
    ],
)
def test_the_connections_or_the_moments_trouble_reads_as_the_database_unavailable_or_busy(error):
    with pytest.raises(Unavailable):
        migrate_failing_with(error)
