"""Every setting the functions read, each defined once here: its variable, default and check.

Settings come in groups, one per client or adapter that reads them (MySQLSettings, ...); each
function's view (ApiSettings, WriterSettings, CounterSettings, MigrateSettings,
SocketFunctionSettings, PushSettings, DeliverySettings) is the groups it uses, read from the
environment and validated once per process, so a function reads no variable it does not use
(the counter never reads Elasticsearch's) and the wiring cannot build an adapter whose settings
the function lacks (stores.py). `Settings` holds every group: tools and tests. A new setting: a
field in its group, a reader in _READERS, and the group in each view that uses it.

Each class becomes a frozen dataclass when a view that holds it is first loaded (`ready`), not at
import: making the 30 of them took ~30 ms of every cold start, and a function uses one view
(docs/performance.md, "Each function reads its own settings").
"""

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from functools import lru_cache
from typing import Any, dataclass_transform

# What the template passes for a credential: the ARN of a Secrets Manager secret, never the value.
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")


class SettingsError(ValueError):
    """An environment variable is missing or malformed: the function cannot start."""


# The classes below not yet made dataclasses; `ready` makes them, bases first.
_PENDING: set[type] = set()
_READY_LOCK = threading.Lock()


@dataclass_transform(frozen_default=True)
def _settings[C: type](cls: C) -> C:
    """A frozen dataclass, made on first use: `ready(view)` (load does it) processes the view and
    its groups. Until then the class exists, and isinstance works, but it has no fields."""
    _PENDING.add(cls)
    return cls


def ready[C: type](view: C) -> C:
    """`view` as a frozen dataclass, with every group it holds."""
    if _PENDING:
        with _READY_LOCK:
            for cls in reversed(view.__mro__):  # a dataclass's bases must be dataclasses first
                if cls in _PENDING:
                    dataclass(frozen=True)(cls)
                    _PENDING.discard(cls)
    return view


def fields_of(view: type) -> tuple[Field[Any], ...]:
    """The fields of `view` (a group or a view)."""
    return fields(ready(view))


# -- the groups ------------------------------------------------------------------------------


@_settings
class SecretSettings:
    # How long a secret read from Secrets Manager is reused before it is read again.
    secrets_max_age_seconds: int


@_settings
class MySQLSettings(SecretSettings):
    mysql_host: str
    mysql_port: int
    mysql_user: str
    # Used only when mysql_secret_arn is unset: the local stack's password, never AWS's.
    mysql_password: str
    mysql_database: str
    # A secret holding {"username", "password"} (the form RDS writes); read at (re)connect.
    mysql_secret_arn: str | None
    # TLS to MySQL, the server's certificate and name verified against this CA bundle (a PEM
    # file); None: no TLS (the local stack only: a credential from a secret requires TLS).
    mysql_tls_ca: str | None


@_settings
class ApiLoginSettings(MySQLSettings):
    # The schema function only: the DML-only login it creates (or re-passwords) and grants for
    # the API, the writer and the counter; its password from this secret, else the local one.
    mysql_api_user: str | None
    mysql_api_secret_arn: str | None


@_settings
class RedisSettings(SecretSettings):
    redis_url: str
    # A secret holding the Redis AUTH token as plain text.
    redis_auth_secret_arn: str | None


@_settings
class NumberingSettings:
    # After each reservation, WAIT for this many Redis replicas (0: don't wait) up to the timeout.
    redis_wait_replicas: int
    redis_wait_timeout_ms: int


@_settings
class ElasticsearchSettings(SecretSettings):
    elasticsearch_url: str
    # A secret holding an Elasticsearch API key (the encoded form Elastic Cloud shows).
    elasticsearch_api_key_secret_arn: str | None
    # One Elasticsearch request's limit: searches, and each _bulk chunk within the writer's half.
    elasticsearch_timeout_seconds: int
    messages_index: str


@_settings
class FinderSettings:
    # How long Elasticsearch may spend on one search before it answers with what it found.
    search_timeout_ms: int


@_settings
class IndexSettings:
    # Shards of the messages index when it is created (each chat's messages live on one of them).
    search_shards: int


@_settings
class IndexerSettings:
    # Seconds the writer function may run (the template's WriterTimeout): its bulk indexing
    # gets half, so a slow Elasticsearch fails records for redelivery instead of the invocation.
    writer_timeout_seconds: int


@_settings
class QueueSettings:
    queue_url: str | None
    # Read when numbering reopens: the numbers its events hold were handed out.
    dead_letter_queue_url: str | None


@_settings
class RequestSettings:
    api_timeout_seconds: int


@_settings
class IdempotencySettings(RequestSettings):
    # Bytes of Idempotency-Key records each application may hold in Redis (about 340 a record);
    # over it, its records older than the safe age make room (a retry then looks in MySQL), and
    # while none is that old a keyed request answers 429.
    idempotency_budget_bytes: int
    idempotency_safe_age_seconds: int
    # Bytes of records all applications together may hold: well under Redis's maxmemory, so that
    # records (never evicted) leave numbering its memory however many applications appear.
    idempotency_total_bytes: int


@_settings
class RateWindowSettings:
    # The window every per-application quota counts in (ratelimit.py).
    rate_limit_window_seconds: int


@_settings
class RateLimitSettings(RateWindowSettings):
    # Per-application quotas: requests of each kind in each window (ratelimit.py).
    rate_limit_creates: int
    rate_limit_edits: int
    rate_limit_searches: int
    rate_limit_reads: int
    # Applications created per client address, and by everyone together, in their own window.
    rate_limit_applications_window_seconds: int
    rate_limit_applications_per_address: int
    rate_limit_applications: int
    # Each user's own quotas (a user token), taken before the application's: one user's loop
    # leaves the rest of the application's quota to its other users.
    rate_limit_user_creates: int
    rate_limit_user_edits: int
    rate_limit_user_searches: int
    rate_limit_user_reads: int


@_settings
class UserTokenSettings(SecretSettings):
    # The secret every application's user-token keys are derived from: a Secrets Manager secret
    # (the template makes one), else `user_token_secret` (the local stack's and the tests' only).
    user_token_secret_arn: str | None
    user_token_secret: str


@_settings
class HttpSettings:
    max_body_bytes: int
    # The API's public URL, stage included, that next-page links start with (`{apiId}` is filled
    # in from API Gateway's request context); empty: links relative to the request's URL.
    api_base_url: str
    # Origins whose pages may call the API from a browser: ("*",) for any, () for none.
    cors_allowed_origins: tuple[str, ...]


@_settings
class SweepSettings:
    # Counters of chats (applications) no request touched for this long leave Redis at the
    # counter's next sweep (counter.sweep_idle_counters). At least an hour: a seed read from
    # MySQL is used within one request, and the sweep relies on no request lasting that long.
    counter_idle_seconds: int
    # Keys the sweep looks at per run (SCAN), going on from there the next run.
    counter_sweep_keys: int


@_settings
class AnnounceSettings:
    # The SNS topic committed changes are announced on (the push function and any other follower
    # subscribe to it); empty: nowhere.
    announce_topic_arn: str


@_settings
class AcceptPushSettings:
    # The push function the API tells of each message it accepts, so that followers see it
    # before the writer stores it (docs/architecture.md, "Live delivery"); empty: none.
    accept_push_function_name: str


@_settings
class SocketSettings:
    # The @connections endpoint sockets are sent to (`https://{api}.execute-api.{region}.
    # amazonaws.com/{stage}` on AWS, the local gateway's URL locally); empty where nothing sends.
    websocket_endpoint: str
    # Live delivery's limits (domain/live.py SocketLimits) and sends in flight during a fan-out.
    socket_subscriptions: int
    socket_connections_per_application: int
    socket_frame_bytes: int
    socket_lifetime_seconds: int
    push_concurrency: int
    # Sockets of one chat a push invocation sends to itself; the rest go to other invocations of
    # the push function (PUSH_FUNCTION_NAME: its own name), this many each.
    push_slice: int
    push_function_name: str


@_settings
class WebhookSettings:
    # Webhook URLs may be http://127.0.0.1 or localhost, and delivery may connect to loopback:
    # the local stack's tests receive there. Never on AWS (docs/security.md).
    webhook_allow_loopback: bool


@_settings
class WebhookDeliverySettings(RateWindowSettings, WebhookSettings):
    # The queue of chats to deliver (announcements, retries, the sweep's catch-up).
    webhook_work_queue_url: str | None
    # The slow lane's queue: applications whose receivers answer slowly (usecases/delivery.py).
    webhook_slow_work_queue_url: str | None
    # Deliveries each application may make per RATE_LIMIT_WINDOW_SECONDS, all endpoints together.
    rate_limit_webhook_deliveries: int
    # Deliveries of one application running at once (a slow receiver holds each up to 8 s).
    webhook_slots_per_application: int


# -- each function's view (the groups that read secrets first: one consistent order) ----------


@_settings
class ApiSettings(
    MySQLSettings,
    RedisSettings,
    ElasticsearchSettings,
    UserTokenSettings,
    NumberingSettings,
    FinderSettings,
    QueueSettings,
    IdempotencySettings,
    RateLimitSettings,
    HttpSettings,
    WebhookSettings,
    AnnounceSettings,
    AcceptPushSettings,
):
    """The API function's."""


@_settings
class WriterSettings(MySQLSettings, RedisSettings, ElasticsearchSettings, IndexerSettings, AnnounceSettings):
    """The writer's: MySQL, Redis's change marks, the indexer."""


@_settings
class CounterSettings(MySQLSettings, RedisSettings, IdempotencySettings, SweepSettings):
    """The counter's: MySQL and Redis only."""


@_settings
class MigrateSettings(ApiLoginSettings, ElasticsearchSettings, IndexSettings):
    """The schema function's: MySQL's master login, the index."""


@_settings
class SocketFunctionSettings(MySQLSettings, RedisSettings, UserTokenSettings, SocketSettings):
    """The socket function's: a credential identified as the API does (MySQL, Redis's token
    cache, the user-token secret), the sockets' rows and the @connections endpoint."""


@_settings
class PushSettings(MySQLSettings, SocketSettings):
    """The push function's: followers and the feed (MySQL), @connections, its own fan-out."""


@_settings
class DeliverySettings(MySQLSettings, RedisSettings, WebhookDeliverySettings):
    """The webhook delivery function's: MySQL (the feed, the cursors), Redis (slots, the rate), SQS."""


@_settings
class Settings(
    ApiSettings,
    SocketFunctionSettings,
    PushSettings,
    WriterSettings,
    CounterSettings,
    MigrateSettings,
    DeliverySettings,
):
    """Every setting: the tools' (`make audit`, `make reindex`) and the tests'."""


# -- reading and checking them ---------------------------------------------------------------


def _int(env: Mapping[str, str], name: str, default: int, low: int = 1, high: int = 2**31) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low}..{high}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "false").strip().lower()
    if raw not in ("true", "false"):
        raise SettingsError(f"{name}={raw!r} is neither 'true' nor 'false'")
    return raw == "true"


def _secret_arn(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "")
    if not value:
        return None
    if not _SECRET_ARN.fullmatch(value):
        # Say which variable, not what it holds: it may be a secret pasted in by mistake.
        raise SettingsError(f"{name} is not a Secrets Manager secret ARN")
    return value


# An origin as browsers send it: scheme, host and an optional port; no path, no trailing slash.
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?")


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("CORS_ALLOWED_ORIGINS", "").strip()
    if raw == "*":
        return ("*",)
    origins = tuple(o.strip().lower().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin such as https://example.com"
            )
    return origins


# An absolute http(s) URL without query or fragment; `{apiId}` may stand for the API's id.
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.{}:-]+(/[A-Za-z0-9._~{}-]+)*/?")


def _base_url(env: Mapping[str, str]) -> str:
    value = env.get("API_BASE_URL", "").strip()
    if value and not _BASE_URL.fullmatch(value):
        raise SettingsError(f"API_BASE_URL={value!r} is not a URL such as https://api.example.com/v1")
    return value


def _tls_ca(env: Mapping[str, str]) -> str | None:
    """MYSQL_TLS: `verify` (the CA bundle in MYSQL_TLS_CA, else certifi's, which holds the Amazon
    roots RDS Proxy's certificates chain to) or `off`."""
    mode = env.get("MYSQL_TLS", "off")
    if mode == "off":
        return None
    if mode != "verify":
        raise SettingsError(f"MYSQL_TLS={mode!r} is neither 'verify' nor 'off'")
    if env.get("MYSQL_TLS_CA"):
        return env["MYSQL_TLS_CA"]
    import certifi  # only here: its import is dear (docs/performance.md, "What `import app` costs")

    return certifi.where()


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


def _identifier(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "")
    if value and not _IDENTIFIER.fullmatch(value):
        raise SettingsError(f"{name}={value!r} is not a MySQL user name (letters, digits, _)")
    return value or None


# Known to all, as the local MySQL password is: a deploy that reads its credentials from secrets
# (AWS) never signs with it (stores.Stores.user_token_secret).
LOCAL_USER_TOKEN_SECRET = "local-stack-user-token-secret-never-used-on-aws"

type _Env = Mapping[str, str]

# One reader per setting. Defaults are the services `make up` starts; on AWS the template sets
# every one the function uses.
_READERS: dict[str, Callable[[_Env], Any]] = {
    "secrets_max_age_seconds": lambda env: _int(env, "SECRETS_MAX_AGE_SECONDS", 300, high=86400),
    "mysql_host": lambda env: env.get("MYSQL_HOST", "127.0.0.1"),
    "mysql_port": lambda env: _int(env, "MYSQL_PORT", 3306, high=65535),
    "mysql_user": lambda env: env.get("MYSQL_USER", "chat"),
    "mysql_password": lambda env: env.get("MYSQL_PASSWORD", "chat"),
    "mysql_database": lambda env: env.get("MYSQL_DATABASE", "chat"),
    "mysql_secret_arn": lambda env: _secret_arn(env, "MYSQL_SECRET_ARN"),
    "mysql_tls_ca": lambda env: _tls_ca(env),
    "mysql_api_user": lambda env: _identifier(env, "MYSQL_API_USER"),
    "mysql_api_secret_arn": lambda env: _secret_arn(env, "MYSQL_API_SECRET_ARN"),
    "redis_url": lambda env: env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "redis_auth_secret_arn": lambda env: _secret_arn(env, "REDIS_AUTH_SECRET_ARN"),
    "redis_wait_replicas": lambda env: _int(env, "REDIS_WAIT_REPLICAS", 0, low=0, high=5),
    "redis_wait_timeout_ms": lambda env: _int(env, "REDIS_WAIT_TIMEOUT_MS", 100, high=5000),
    "elasticsearch_url": lambda env: env.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
    "elasticsearch_api_key_secret_arn": lambda env: _secret_arn(env, "ELASTICSEARCH_API_KEY_SECRET_ARN"),
    "elasticsearch_timeout_seconds": lambda env: _int(env, "ELASTICSEARCH_TIMEOUT_SECONDS", 3, high=60),
    "messages_index": lambda env: env.get("MESSAGES_INDEX", "messages"),
    "search_timeout_ms": lambda env: _int(env, "SEARCH_TIMEOUT_MS", 500, low=10, high=10_000),
    "search_shards": lambda env: _int(env, "SEARCH_SHARDS", 1, high=64),
    "writer_timeout_seconds": lambda env: _int(env, "WRITER_TIMEOUT_SECONDS", 30, low=2, high=900),
    "queue_url": lambda env: env.get("CREATIONS_QUEUE_URL") or None,
    "dead_letter_queue_url": lambda env: env.get("DEAD_LETTER_QUEUE_URL") or None,
    "api_timeout_seconds": lambda env: _int(env, "API_TIMEOUT_SECONDS", 10, high=900),
    "idempotency_budget_bytes": lambda env: _int(env, "IDEMPOTENCY_BUDGET_BYTES", 8 * 2**20, low=4096),
    # Long enough for the writer to have stored every create of that age, or dead-lettered it.
    "idempotency_safe_age_seconds": lambda env: _int(
        env, "IDEMPOTENCY_SAFE_AGE_SECONDS", 600, low=60, high=86400
    ),
    # A fifth of a cache.t4g.small's 1.37 GiB.
    "idempotency_total_bytes": lambda env: _int(env, "IDEMPOTENCY_TOTAL_BYTES", 256 * 2**20, low=4096),
    # Well below the stage throttle (100 requests/s for everyone): one application gets at most
    # a fifth of it of any kind, so one client in a loop leaves the rest to the others.
    "rate_limit_window_seconds": lambda env: _int(env, "RATE_LIMIT_WINDOW_SECONDS", 10, high=3600),
    "rate_limit_creates": lambda env: _int(env, "RATE_LIMIT_CREATES", 200),
    "rate_limit_edits": lambda env: _int(env, "RATE_LIMIT_EDITS", 50),
    "rate_limit_searches": lambda env: _int(env, "RATE_LIMIT_SEARCHES", 50),
    "rate_limit_reads": lambda env: _int(env, "RATE_LIMIT_READS", 200),
    # Each new application brings fresh quotas: how many may appear is bounded too.
    "rate_limit_applications_window_seconds": lambda env: _int(
        env, "RATE_LIMIT_APPLICATIONS_WINDOW_SECONDS", 3600, high=86400
    ),
    "rate_limit_applications_per_address": lambda env: _int(env, "RATE_LIMIT_APPLICATIONS_PER_ADDRESS", 20),
    "rate_limit_applications": lambda env: _int(env, "RATE_LIMIT_APPLICATIONS", 1000),
    "rate_limit_user_creates": lambda env: _int(env, "RATE_LIMIT_USER_CREATES", 20),
    "rate_limit_user_edits": lambda env: _int(env, "RATE_LIMIT_USER_EDITS", 10),
    "rate_limit_user_searches": lambda env: _int(env, "RATE_LIMIT_USER_SEARCHES", 10),
    "rate_limit_user_reads": lambda env: _int(env, "RATE_LIMIT_USER_READS", 60),
    "user_token_secret_arn": lambda env: _secret_arn(env, "USER_TOKEN_SECRET_ARN"),
    "user_token_secret": lambda env: env.get("USER_TOKEN_SECRET", LOCAL_USER_TOKEN_SECRET),
    # messages.body is a TEXT column: 65,535 bytes at the most.
    "max_body_bytes": lambda env: _int(env, "MAX_BODY_BYTES", 65535, high=65535),
    "api_base_url": _base_url,
    "cors_allowed_origins": _origins,
    "counter_idle_seconds": lambda env: _int(env, "COUNTER_IDLE_SECONDS", 7 * 86400, low=3600),
    "counter_sweep_keys": lambda env: _int(env, "COUNTER_SWEEP_KEYS", 1_000_000),
    "announce_topic_arn": lambda env: env.get("ANNOUNCE_TOPIC_ARN", ""),
    "websocket_endpoint": lambda env: env.get("WEBSOCKET_ENDPOINT", ""),
    "socket_subscriptions": lambda env: _int(env, "SOCKET_SUBSCRIPTIONS", 100, high=10_000),
    "socket_connections_per_application": lambda env: _int(env, "SOCKET_CONNECTIONS_PER_APPLICATION", 10_000),
    "socket_frame_bytes": lambda env: _int(env, "SOCKET_FRAME_BYTES", 4096, low=256, high=128 * 1024),
    # AWS closes a socket after 2 hours; a row is kept a minute longer than that.
    "socket_lifetime_seconds": lambda env: _int(env, "SOCKET_LIFETIME_SECONDS", 2 * 3600 + 60, low=60),
    "push_concurrency": lambda env: _int(env, "PUSH_CONCURRENCY", 64, high=512),
    "push_slice": lambda env: _int(env, "PUSH_SLICE", 250, high=10_000),
    "push_function_name": lambda env: env.get("PUSH_FUNCTION_NAME", ""),
    "accept_push_function_name": lambda env: env.get("ACCEPT_PUSH_FUNCTION_NAME", ""),
    "webhook_allow_loopback": lambda env: _flag(env, "WEBHOOK_ALLOW_LOOPBACK"),
    "webhook_work_queue_url": lambda env: env.get("WEBHOOK_WORK_QUEUE_URL") or None,
    "webhook_slow_work_queue_url": lambda env: env.get("WEBHOOK_SLOW_WORK_QUEUE_URL") or None,
    "rate_limit_webhook_deliveries": lambda env: _int(env, "RATE_LIMIT_WEBHOOK_DELIVERIES", 500),
    "webhook_slots_per_application": lambda env: _int(env, "WEBHOOK_SLOTS_PER_APPLICATION", 4, high=1000),
}


def _no_credential_in_clear[S](s: S) -> S:
    """A credential read from a secret (on AWS) never travels unencrypted."""
    if isinstance(s, MySQLSettings) and s.mysql_secret_arn and s.mysql_tls_ca is None:
        raise SettingsError("MYSQL_SECRET_ARN is set but MYSQL_TLS is off: the login would travel in clear")
    if (
        isinstance(s, ElasticsearchSettings)
        and s.elasticsearch_api_key_secret_arn
        and not s.elasticsearch_url.startswith("https://")
    ):
        raise SettingsError("ELASTICSEARCH_API_KEY_SECRET_ARN needs an https:// ELASTICSEARCH_URL")
    if isinstance(s, RedisSettings) and s.redis_auth_secret_arn and not s.redis_url.startswith("rediss://"):
        raise SettingsError("REDIS_AUTH_SECRET_ARN needs a rediss:// (TLS) REDIS_URL")
    return s


def load[S](view: type[S], given: _Env | None = None) -> S:
    """`view`'s settings from the environment (or `given`), checked: only the variables it reads."""
    env = os.environ if given is None else given
    values = {f.name: _READERS[f.name](env) for f in fields_of(view)}
    return _no_credential_in_clear(view(**values))


def readable() -> frozenset[str]:
    """The settings that have a reader: every field of every group must (a test checks)."""
    return frozenset(_READERS)


def from_env(given: _Env | None = None) -> Settings:
    """Every setting (tools and tests)."""
    return load(Settings, given)


@lru_cache(maxsize=1)
def get() -> Settings:
    return from_env()


@lru_cache(maxsize=1)
def api() -> ApiSettings:
    return load(ApiSettings)


@lru_cache(maxsize=1)
def writer() -> WriterSettings:
    return load(WriterSettings)


@lru_cache(maxsize=1)
def counter() -> CounterSettings:
    return load(CounterSettings)


@lru_cache(maxsize=1)
def migrate() -> MigrateSettings:
    return load(MigrateSettings)


@lru_cache(maxsize=1)
def socket() -> SocketFunctionSettings:
    return load(SocketFunctionSettings)


@lru_cache(maxsize=1)
def push() -> PushSettings:
    return load(PushSettings)


@lru_cache(maxsize=1)
def delivery() -> DeliverySettings:
    return load(DeliverySettings)


def lambda_handler() -> str | None:
    """The entry point this Lambda environment serves (Lambda's reserved `_HANDLER`, e.g. "app.app");
    None outside Lambda (chalice local, tests, tools)."""
    return os.environ.get("_HANDLER") or None
