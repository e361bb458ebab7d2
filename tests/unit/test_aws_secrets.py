"""Credentials by reference: secret ARNs in the environment, values read through Powertools' cache."""

import json

import pytest
import redis
from aws_lambda_powertools.utilities import parameters

from chalicelib.domain.errors import Unavailable
from chalicelib.edge import http
from chalicelib.wiring import clients, settings

MYSQL_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chat/mysql-AbCdEf"
REDIS_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chat/redis-AbCdEf"
ES_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chat/es-AbCdEf"
# What an AWS deploy sets beside a secret: credentials never travel in clear.
TLS = {"MYSQL_TLS": "verify", "REDIS_URL": "rediss://cache.example.com:6379/0"}


class FakeSecrets:
    """Stands in for `parameters.get_secret`: answers from a dict and records every call."""

    def __init__(self, values: dict):
        self.values = values
        self.calls: list[dict] = []

    def __call__(self, name, transform=None, force_fetch=False, max_age=None, **_):
        self.calls.append(
            {"name": name, "transform": transform, "force_fetch": force_fetch, "max_age": max_age}
        )
        if name not in self.values:
            from aws_lambda_powertools.utilities.parameters import GetParameterError

            raise GetParameterError("AccessDeniedException")
        value = self.values[name]
        return json.loads(value) if transform == "json" else value


@pytest.fixture
def secrets(monkeypatch):
    fake = FakeSecrets(
        {
            MYSQL_ARN: json.dumps({"username": "app", "password": "s3cret-from-sm"}),
            REDIS_ARN: "redis-token",
            ES_ARN: "ZXNfYXBpX2tleQ==",
        }
    )
    monkeypatch.setattr(parameters, "get_secret", fake)
    return fake


@pytest.fixture
def connects(monkeypatch):
    """Records the logins pymysql would be given, without a server."""
    logins = []

    def connector(host, port, user, password, database, tls_ca=None, several_statements=False):
        def connect():
            logins.append((user, password))
            return "connection"

        return connect

    monkeypatch.setattr(clients.mysql, "connector", connector)
    return logins


def test_without_secret_arns_the_local_defaults_apply_and_no_secret_is_read(secrets, connects):
    s = settings.from_env({})
    assert (s.mysql_secret_arn, s.redis_auth_secret_arn, s.elasticsearch_api_key_secret_arn) == (
        None,
        None,
        None,
    )
    clients.mysql_connect(s)()
    assert connects == [("chat", "chat")]
    assert clients.redis_client(s).connection_pool.connection_kwargs.get("credential_provider") is None
    assert "authorization" not in clients.elasticsearch_client(s)._headers
    assert secrets.calls == []


def test_the_mysql_login_comes_from_the_secret_at_connect_time(secrets, connects):
    s = settings.from_env({**TLS, "MYSQL_SECRET_ARN": MYSQL_ARN, "SECRETS_MAX_AGE_SECONDS": "120"})
    connect = clients.mysql_connect(s)
    assert secrets.calls == []  # nothing is read until a connection is opened
    connect()
    assert connects == [("app", "s3cret-from-sm")]
    assert secrets.calls == [{"name": MYSQL_ARN, "transform": "json", "force_fetch": False, "max_age": 120}]


def test_a_refused_login_makes_the_next_connect_read_the_secret_afresh(secrets, connects, monkeypatch):
    s = settings.from_env({**TLS, "MYSQL_SECRET_ARN": MYSQL_ARN})

    def refused(*_):
        def connect():
            raise ConnectionRefusedError("Access denied")

        return connect

    monkeypatch.setattr(clients.mysql, "connector", refused)
    connect = clients.mysql_connect(s)
    with pytest.raises(ConnectionRefusedError):
        connect()
    with pytest.raises(ConnectionRefusedError):
        connect()
    assert [call["force_fetch"] for call in secrets.calls] == [False, True]


def test_an_unreadable_secret_is_an_outage_whose_answer_names_neither_the_arn_nor_the_value(
    secrets, connects
):
    s = settings.from_env({**TLS, "MYSQL_SECRET_ARN": MYSQL_ARN.replace("mysql", "gone")})
    with pytest.raises(Unavailable, match="could not be read") as raised:
        clients.mysql_connect(s)()
    answer = http.error_response(raised.value).body
    assert "s3cret" not in answer and "arn:" not in answer and "123456789012" not in answer


def test_redis_asks_the_secret_for_its_auth_token(secrets):
    s = settings.from_env({**TLS, "REDIS_AUTH_SECRET_ARN": REDIS_ARN})
    provider = clients.redis_client(s).connection_pool.connection_kwargs["credential_provider"]
    assert provider.get_credentials() == ("redis-token",)


def test_an_unreadable_redis_token_looks_like_a_redis_outage(secrets):
    s = settings.from_env({**TLS, "REDIS_AUTH_SECRET_ARN": REDIS_ARN.replace("redis", "gone")})
    provider = clients.redis_client(s).connection_pool.connection_kwargs["credential_provider"]
    with pytest.raises(redis.ConnectionError):
        provider.get_credentials()


def test_elasticsearch_gets_the_api_key_from_the_secret(secrets):
    s = settings.from_env(
        {
            "ELASTICSEARCH_API_KEY_SECRET_ARN": ES_ARN,
            "ELASTICSEARCH_URL": "https://chat.es.eu-west-1.aws.elastic-cloud.com:443",
        }
    )
    client = clients.elasticsearch_client(s)
    assert client._headers["authorization"] == "ApiKey ZXNfYXBpX2tleQ=="


@pytest.mark.parametrize(
    "name", ["MYSQL_SECRET_ARN", "REDIS_AUTH_SECRET_ARN", "ELASTICSEARCH_API_KEY_SECRET_ARN"]
)
def test_a_secret_value_where_an_arn_belongs_is_refused_without_echoing_it(name):
    with pytest.raises(settings.SettingsError) as raised:
        settings.from_env({name: "hunter2-plain-password"})
    assert name in str(raised.value) and "hunter2" not in str(raised.value)
