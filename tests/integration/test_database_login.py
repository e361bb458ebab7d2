"""The API's database login, granted by the schema function: data rights only; and a client that
requires TLS never talks to a server it cannot verify. Against the real MariaDB."""

import uuid

import certifi
import pymysql
import pytest

from chalicelib.adapters.mysql import mysql
from chalicelib.domain.models import Login
from chalicelib.domain.tokens import token_hash
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
        stored = token_hash(application["token"])  # MySQL keeps tokens' hashes
        cur.execute("SELECT name FROM applications WHERE token = %s", (stored,))
        assert cur.fetchone() == (application["name"],)
        cur.execute("UPDATE applications SET name = name WHERE token = %s", (stored,))


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


def test_a_login_that_held_more_rights_keeps_only_data_rights(deps, api_login):
    # Made by hand earlier, or left from a setup where it did more: the grant is exact, not added.
    s = settings.get()
    with _connect(s.mysql_user, s.mysql_password) as admin, admin.cursor() as cur:
        cur.execute(f"GRANT CREATE, DROP ON `{s.mysql_database}`.* TO %s@'%%'", (api_login.user,))
    deps.schema.grant_api_user(api_login)
    with _connect(api_login.user, api_login.password) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM applications")
        with pytest.raises(pymysql.err.MySQLError) as refused:
            cur.execute("CREATE TABLE it_intruder_rights (id INT)")
    assert refused.value.args[0] in (1044, 1142), refused.value


def test_the_schema_functions_own_login_is_never_made_the_api_login(deps):
    # A secret naming the admin (MysqlSecretArn left on the master secret) would otherwise give
    # the API the master's rights, silently, or change the master's password.
    s = settings.get()
    with pytest.raises(ValueError, match="own login"):
        deps.schema.grant_api_user(Login(s.mysql_user, s.mysql_password))
    with _connect(s.mysql_user, s.mysql_password) as admin, admin.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS it_admin_still_may (id INT)")
        cur.execute("DROP TABLE it_admin_still_may")


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
