"""The API's database login, granted by the schema function: data rights only; and a client that
requires TLS never talks to a server it cannot verify. Against the real MariaDB."""

import uuid

import certifi
import pymysql
import pytest

from chalicelib.adapters.mysql import mysql
from chalicelib.domain.models import Login
from chalicelib.wiring import settings


def _connect(user: str, password: str, tls_ca: str | None = None):
    s = settings.get()
    return mysql.connector(s.mysql_host, s.mysql_port, user, password, s.mysql_database, tls_ca)()


@pytest.fixture
def api_login(deps):
    login = Login(f"it_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex)
    deps.schema.grant_api_user(login)
    yield login
    s = settings.get()
    with _connect(s.mysql_user, s.mysql_password) as admin, admin.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (login.user,))


def test_the_api_login_reads_and_writes_data(api_login, application):
    with _connect(api_login.user, api_login.password) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM applications WHERE token = %s", (application["token"],))
        assert cur.fetchone() == (application["name"],)
        cur.execute("UPDATE applications SET name = name WHERE token = %s", (application["token"],))


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE it_intruder (id INT)",
        "DROP TABLE messages",
        "ALTER TABLE applications ADD COLUMN intruder INT",
        "TRUNCATE TABLE messages",
        "CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'",
        "GRANT ALL ON chat.* TO CURRENT_USER()",
    ],
)
def test_the_api_login_cannot_change_the_schema_or_the_logins(api_login, statement):
    with (
        _connect(api_login.user, api_login.password) as conn,
        conn.cursor() as cur,
        pytest.raises(pymysql.err.MySQLError) as refused,
    ):
        cur.execute(statement)
    assert refused.value.args[0] in (1044, 1045, 1142, 1227, 1410), refused.value


def test_granting_again_sets_the_rotated_password(deps, api_login):
    rotated = Login(api_login.user, uuid.uuid4().hex)
    deps.schema.grant_api_user(rotated)
    with _connect(rotated.user, rotated.password) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    with pytest.raises(pymysql.err.OperationalError):
        _connect(api_login.user, api_login.password)


def test_a_client_that_requires_tls_refuses_a_server_it_cannot_verify(chat_app):
    # The local MariaDB offers no certificate from Amazon's roots (or no TLS at all): no login
    # is sent, where an unverified client would have sent it to whoever answered.
    s = settings.get()
    with pytest.raises((pymysql.err.OperationalError, OSError)):
        _connect(s.mysql_user, s.mysql_password, certifi.where())
