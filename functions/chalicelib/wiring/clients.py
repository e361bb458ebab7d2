"""The stores' clients, from the settings.

Credentials come from Secrets Manager when the settings name a secret ARN (on AWS), read through
Powertools Parameters' cache; without one (the local stack) the plain local defaults apply.
Each driver is imported where its client is built: the schema function and the push function,
which use no Redis, never load redis-py (docs/performance.md, "Each function loads what it uses").
"""

from typing import TYPE_CHECKING, Any

from ..adapters.mysql import mysql
from ..domain.errors import Unavailable
from ..domain.models import Login
from ..domain.quotas import Quota
from . import settings
from .observability import logger

if TYPE_CHECKING:
    import redis
    from elasticsearch import Elasticsearch

    from ..adapters.redis.ratelimit import RateLimits


class Secret:
    """One secret, read through Powertools' cache and read afresh after a refused login."""

    def __init__(self, arn: str, max_age: int, json: bool = False):
        self._arn = arn
        self._max_age = max_age
        self._json = json
        self._stale = False

    def value(self) -> Any:  # the secret's text, or its JSON when read with transform="json"
        from aws_lambda_powertools.utilities import parameters  # boto3: only where a secret is read

        try:
            if self._json:
                value: Any = parameters.get_secret(
                    self._arn, transform="json", max_age=self._max_age, force_fetch=self._stale
                )
            else:
                value = parameters.get_secret(self._arn, max_age=self._max_age, force_fetch=self._stale)
        except (parameters.GetParameterError, parameters.TransformParameterError) as exc:
            # The log names the secret (never its value); the answer names neither: an ARN shows
            # the account, the region and the secret's name to whoever asks.
            logger.error("secret could not be read", secret_arn=self._arn, error=repr(exc))
            raise Unavailable("a credential of a backing service could not be read") from exc
        self._stale = False
        return value

    def mark_stale(self) -> None:
        self._stale = True


def mysql_connect(s: settings.MySQLSettings, several_statements: bool = False) -> mysql.Connect:
    """Opens a connection with the current login: a rotated password is picked up on reconnect.
    `several_statements`: a query may hold several (the writer's batches, mysql.together)."""
    if s.mysql_secret_arn is None:
        return mysql.connector(
            s.mysql_host,
            s.mysql_port,
            s.mysql_user,
            s.mysql_password,
            s.mysql_database,
            s.mysql_tls_ca,
            several_statements,
        )
    secret = Secret(s.mysql_secret_arn, s.secrets_max_age_seconds, json=True)

    def connect() -> Any:
        login = secret.value()
        try:
            return mysql.connector(
                s.mysql_host,
                s.mysql_port,
                login.get("username", s.mysql_user),
                login["password"],
                s.mysql_database,
                s.mysql_tls_ca,
                several_statements,
            )()
        except Exception:
            secret.mark_stale()  # a refused login may mean the password was rotated
            raise

    return connect


def api_login(s: settings.ApiLoginSettings) -> Login | None:
    """The DML-only login the schema function grants, if its settings name one."""
    if s.mysql_api_user is None:
        return None
    if s.mysql_api_secret_arn is None:
        return Login(s.mysql_api_user, s.mysql_password)  # the local stack's one password
    secret = Secret(s.mysql_api_secret_arn, s.secrets_max_age_seconds, json=True).value()
    return Login(secret.get("username", s.mysql_api_user), secret["password"])


def redis_client(s: settings.RedisSettings) -> "redis.Redis":
    import redis

    from ..adapters.redis import redis_server

    auth: dict[str, Any] = {}
    if s.redis_auth_secret_arn is not None:
        from .redis_auth import RedisAuthToken

        auth["credential_provider"] = RedisAuthToken(
            Secret(s.redis_auth_secret_arn, s.secrets_max_age_seconds)
        )
    return redis.Redis.from_url(
        s.redis_url,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        redis_connect_func=redis_server.identify,
        **auth,
    )


def elasticsearch_client(s: settings.ElasticsearchSettings) -> "Elasticsearch":
    # Dear to import: only the functions that search do (docs/performance.md, "Each function loads
    # what it uses").
    from elasticsearch import Elasticsearch

    api_key = None
    if s.elasticsearch_api_key_secret_arn is not None:
        # Read once per environment: rotate by adding a key before invalidating the old one.
        api_key = Secret(s.elasticsearch_api_key_secret_arn, s.secrets_max_age_seconds).value()
    # One retry, and the writer's _bulk chunks set their own timeouts within its budget.
    return Elasticsearch(
        s.elasticsearch_url,
        request_timeout=s.elasticsearch_timeout_seconds,
        max_retries=1,
        retry_on_timeout=True,
        api_key=api_key,
    )


def rate_limits(s: settings.RateLimitSettings, client: "redis.Redis") -> "RateLimits":
    from ..adapters.redis.ratelimit import RateLimits

    per_application = s.rate_limit_window_seconds
    new_applications = s.rate_limit_applications_window_seconds
    quotas = [
        Quota("creates", s.rate_limit_creates, per_application),
        Quota("edits", s.rate_limit_edits, per_application),
        Quota("searches", s.rate_limit_searches, per_application),
        Quota("reads", s.rate_limit_reads, per_application),
        Quota("user-creates", s.rate_limit_user_creates, per_application),
        Quota("user-edits", s.rate_limit_user_edits, per_application),
        Quota("user-searches", s.rate_limit_user_searches, per_application),
        Quota("user-reads", s.rate_limit_user_reads, per_application),
        Quota("applications-per-address", s.rate_limit_applications_per_address, new_applications),
        Quota("applications", s.rate_limit_applications, new_applications),
    ]
    return RateLimits(client, {quota.kind: quota for quota in quotas})


def delivery_rate(s: settings.WebhookDeliverySettings, client: "redis.Redis") -> "RateLimits":
    """The webhook delivery function's one quota: deliveries per application per window."""
    from ..adapters.redis.ratelimit import RateLimits

    quota = Quota("webhook-deliveries", s.rate_limit_webhook_deliveries, s.rate_limit_window_seconds)
    return RateLimits(client, {quota.kind: quota})
