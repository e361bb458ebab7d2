"""Builds the adapters from the settings, once per process (a Lambda environment).

Credentials come from Secrets Manager when the settings name a secret ARN (on AWS), read through
Powertools Parameters' cache; without one (the local stack) the plain local defaults apply.
"""

from collections.abc import Callable
from functools import lru_cache

import redis
from aws_lambda_powertools.utilities import parameters
from elasticsearch import Elasticsearch
from redis.credentials import CredentialProvider

from . import db, queue, settings
from .errors import Unavailable
from .numbers import Numbers
from .search import Search
from .service import Deps


class Secret:
    """One secret, read through Powertools' cache and read afresh after a refused login."""

    def __init__(self, arn: str, max_age: int, transform: str | None = None):
        self._arn = arn
        self._max_age = max_age
        self._transform = transform
        self._stale = False

    def value(self):
        try:
            value = parameters.get_secret(
                self._arn, transform=self._transform, max_age=self._max_age, force_fetch=self._stale
            )
        except (parameters.GetParameterError, parameters.TransformParameterError) as exc:
            # The message names the secret, never its value.
            raise Unavailable(f"the secret {self._arn} could not be read") from exc
        self._stale = False
        return value

    def mark_stale(self) -> None:
        self._stale = True


def mysql_connect(s: settings.Settings) -> Callable:
    """Opens a connection with the current login: a rotated password is picked up on reconnect."""
    if s.mysql_secret_arn is None:
        return db.connector(s.mysql_host, s.mysql_port, s.mysql_user, s.mysql_password, s.mysql_database)
    secret = Secret(s.mysql_secret_arn, s.secrets_max_age_seconds, transform="json")

    def connect():
        login = secret.value()
        try:
            return db.connector(
                s.mysql_host,
                s.mysql_port,
                login.get("username", s.mysql_user),
                login["password"],
                s.mysql_database,
            )()
        except Exception:
            secret.mark_stale()  # a refused login may mean the password was rotated
            raise

    return connect


class RedisAuthToken(CredentialProvider):
    """Redis asks for the token on every new connection; Powertools' cache answers most times."""

    def __init__(self, secret: Secret):
        self._secret = secret

    def get_credentials(self):
        try:
            return (self._secret.value(),)
        except Unavailable as exc:
            raise redis.ConnectionError(str(exc)) from exc  # numbers.py's Unavailable, as any outage


def redis_client(s: settings.Settings) -> redis.Redis:
    auth = {}
    if s.redis_auth_secret_arn is not None:
        auth["credential_provider"] = RedisAuthToken(
            Secret(s.redis_auth_secret_arn, s.secrets_max_age_seconds)
        )
    return redis.Redis.from_url(
        s.redis_url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30, **auth
    )


def elasticsearch_client(s: settings.Settings) -> Elasticsearch:
    auth = {}
    if s.elasticsearch_api_key_secret_arn is not None:
        # Read once per environment: rotate by adding a key before invalidating the old one.
        auth["api_key"] = Secret(s.elasticsearch_api_key_secret_arn, s.secrets_max_age_seconds).value()
    return Elasticsearch(
        s.elasticsearch_url, request_timeout=10, max_retries=2, retry_on_timeout=True, **auth
    )


def build(s: settings.Settings) -> Deps:
    return Deps(
        db=db.Database(mysql_connect(s)),
        numbers=Numbers(redis_client(s)),
        queue=queue.Queue(queue.client(), s.queue_url or ""),
        search=Search(elasticsearch_client(s), s.messages_index, s.search_shards, s.search_timeout_ms),
        request_timeout_seconds=s.api_timeout_seconds,
    )


@lru_cache(maxsize=1)
def deps() -> Deps:
    return build(settings.get())
