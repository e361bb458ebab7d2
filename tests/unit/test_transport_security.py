"""Credentials never travel in clear, and MySQL's TLS verifies the server: no service."""

import ssl

import certifi
import pytest

from chalicelib.adapters.mysql import mysql
from chalicelib.wiring import clients, settings

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chat/{}-AbCdEf"


def test_mysql_tls_verifies_against_certifis_bundle_unless_another_is_given():
    assert settings.from_env({}).mysql_tls_ca is None  # the local stack
    assert settings.from_env({"MYSQL_TLS": "verify"}).mysql_tls_ca == certifi.where()
    assert (
        settings.from_env({"MYSQL_TLS": "verify", "MYSQL_TLS_CA": "/opt/ca.pem"}).mysql_tls_ca
        == "/opt/ca.pem"
    )
    with pytest.raises(settings.SettingsError):
        settings.from_env({"MYSQL_TLS": "prefer"})


def test_the_bundle_holds_the_amazon_roots_rds_proxys_certificates_chain_to():
    # RDS Proxy presents an ACM certificate (Amazon Trust Services): offline, from the layer.
    context = ssl.create_default_context(cafile=certifi.where())
    subjects = {dict(rdn[0] for rdn in cert["subject"]).get("commonName") for cert in context.get_ca_certs()}
    assert {"Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4"} <= subjects


def test_the_connection_requires_tls_and_checks_the_certificate_and_the_name(monkeypatch):
    seen = {}
    monkeypatch.setattr(mysql.pymysql, "connect", lambda **kwargs: seen.update(kwargs))
    s = settings.from_env({"MYSQL_TLS": "verify", "MYSQL_HOST": "chat.proxy-x.eu-west-1.rds.amazonaws.com"})
    clients.mysql_connect(s)()
    assert seen["ssl_ca"] == certifi.where()
    assert seen["ssl_verify_cert"] is True and seen["ssl_verify_identity"] is True
    seen.clear()
    clients.mysql_connect(settings.from_env({}))()
    assert not {k for k in seen if k.startswith("ssl")}


@pytest.mark.parametrize(
    "env",
    [
        {"MYSQL_SECRET_ARN": ARN.format("mysql")},  # MYSQL_TLS off
        {
            "ELASTICSEARCH_API_KEY_SECRET_ARN": ARN.format("es"),
            "ELASTICSEARCH_URL": "http://es.example.com:9200",
        },
        {"REDIS_AUTH_SECRET_ARN": ARN.format("redis"), "REDIS_URL": "redis://cache.example.com:6379/0"},
    ],
    ids=["mysql", "elasticsearch", "redis"],
)
def test_a_credential_from_a_secret_is_refused_over_a_plain_connection(env):
    with pytest.raises(settings.SettingsError):
        settings.from_env(env)


def test_the_same_credentials_are_taken_over_tls():
    s = settings.from_env(
        {
            "MYSQL_SECRET_ARN": ARN.format("mysql"),
            "MYSQL_TLS": "verify",
            "ELASTICSEARCH_API_KEY_SECRET_ARN": ARN.format("es"),
            "ELASTICSEARCH_URL": "https://es.example.com",
            "REDIS_AUTH_SECRET_ARN": ARN.format("redis"),
            "REDIS_URL": "rediss://cache.example.com:6379/0",
        }
    )
    assert s.mysql_secret_arn and s.elasticsearch_api_key_secret_arn and s.redis_auth_secret_arn


def test_the_api_login_is_granted_only_where_a_user_is_named():
    assert clients.api_login(settings.from_env({})) is None
    login = clients.api_login(settings.from_env({"MYSQL_API_USER": "chat_api", "MYSQL_PASSWORD": "pw"}))
    assert (login.user, login.password) == ("chat_api", "pw")
    assert "pw" not in repr(login)
    with pytest.raises(settings.SettingsError):
        settings.from_env({"MYSQL_API_USER": "x'@'%"})
