"""Builds the adapters from the settings, each on first use, once per process (a Lambda environment).

Each function gets the stores of its own settings view (settings.py: `api_deps()` builds from
ApiSettings, ...); it builds only what its use cases read (ports.py: Deps, WriterDeps, ...), and
imports a driver only then.
An adapter whose settings group the function's view lacks cannot be built (TypeError): the
counter cannot build the Elasticsearch client nor read its secret. Each store's calls are one
X-Ray subsegment when tracing is on (the adapters stay unaware of it).
"""

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..domain.errors import Unavailable
from ..domain.numbering import request_life_seconds
from ..usecases import ports
from . import settings
from .observability import logger, traced

if TYPE_CHECKING:
    import redis
    from elasticsearch import Elasticsearch

    from ..adapters.mysql.mysql import MySQL
    from ..domain.live import SocketLimits
    from ..domain.models import Login
    from .clients import Secret


class _Built[T]:
    """An attribute built on first read, once: functools.cached_property no longer locks (3.12),
    and chalice local's threads or the writer's indexing thread may read it at once."""

    def __init__(self, build: Callable[["Stores[Any]"], T]):
        self._build = build
        self._name = build.__name__

    def __get__(self, stores: "Stores[Any]", owner: type | None = None) -> T:
        if self._name not in stores.__dict__:
            with stores._lock:
                if self._name not in stores.__dict__:
                    stores.__dict__[self._name] = self._build(stores)
        value: T = stores.__dict__[self._name]
        return value

    def __set__(self, stores: "Stores[Any]", value: T) -> None:  # a test or a tool puts its own in place
        stores.__dict__[self._name] = value


class Stores[S]:
    """The adapters of one environment built from the settings `S` (a function's view, or every
    setting for tools and tests), on one MySQL connection per thread and one Redis pool; `sqs`: a
    client of the caller's (a load generator's, with a bigger pool), else the standard one.
    Satisfies every function's dependency set of ports.py, as far as its settings go."""

    def __init__(self, s: S, sqs: Any = None):
        self.settings = s
        self._sqs = sqs
        self._lock = threading.RLock()  # re-entrant: an adapter's build reads its client's

    def replace(self, **adapters: Any) -> "Stores[S]":
        """A copy sharing what is built so far, with `adapters` in place (a test's or a tool's)."""
        copy = Stores(self.settings, self._sqs)
        copy.__dict__.update({k: v for k, v in self.__dict__.items() if k in BUILT} | adapters)
        return copy

    def _view[G](self, group: type[G]) -> G:
        """The settings of `group`, if this function's view holds them."""
        if not isinstance(self.settings, group):
            raise TypeError(
                f"{type(self.settings).__name__} lacks {group.__name__}: not this function's to build"
            )
        return self.settings

    @property
    def request_timeout_seconds(self) -> int:
        return self._view(settings.RequestSettings).api_timeout_seconds

    # -- the clients, shared by the adapters of their store (tests and tools read them too) --

    @_Built
    def mysql(self) -> "MySQL":
        from ..adapters.mysql.mysql import MySQL
        from .clients import mysql_connect

        return MySQL(mysql_connect(self._view(settings.MySQLSettings)))

    @_Built
    def redis(self) -> "redis.Redis":
        from .clients import redis_client

        return redis_client(self._view(settings.RedisSettings))

    @_Built
    def elasticsearch(self) -> "Elasticsearch":
        from .clients import elasticsearch_client

        return elasticsearch_client(self._view(settings.ElasticsearchSettings))

    @_Built
    def _user_token_secret(self) -> "Secret | None":
        from .clients import Secret

        s = self._view(settings.UserTokenSettings)
        return Secret(s.user_token_secret_arn, s.secrets_max_age_seconds) if s.user_token_secret_arn else None

    @property
    def user_token_secret(self) -> bytes:
        """Read through Powertools' cache (`secrets_max_age_seconds`): a changed secret retires
        every user token within that long."""
        secret, s = self._user_token_secret, self._view(settings.UserTokenSettings)
        on_aws = self._view(settings.MySQLSettings).mysql_secret_arn
        if secret is None and on_aws and s.user_token_secret == settings.LOCAL_USER_TOKEN_SECRET:
            # A deploy reading its logins from secrets (AWS) never signs with the well-known one.
            logger.error("USER_TOKEN_SECRET_ARN is not set: user tokens are refused")
            raise Unavailable("user tokens are not configured on this deploy")
        return (secret.value() if secret else s.user_token_secret).encode()

    # -- the adapters (imported where built: a function loads only the drivers it uses) --

    @_Built
    def db(self) -> ports.Database:
        from ..adapters.mysql.db import Database

        return traced(Database(self.mysql), "MySQL")

    @_Built
    def read_positions(self) -> ports.ReadPositions:
        from ..adapters.mysql.read_positions import ReadPositions

        return traced(ReadPositions(self.mysql), "MySQL")

    @_Built
    def webhook_endpoints(self) -> ports.WebhookEndpoints:
        from ..adapters.mysql.webhook_endpoints import WebhookEndpoints

        return traced(WebhookEndpoints(self.mysql), "MySQL")

    @_Built
    def cursors(self) -> ports.DeliveryCursors:
        from ..adapters.mysql.webhook_cursors import DeliveryCursors

        return traced(DeliveryCursors(self.mysql), "MySQL")

    @_Built
    def feed(self) -> ports.ChangeFeed:
        from ..adapters.mysql.change_feed import ChangeFeed

        return traced(ChangeFeed(self.mysql), "MySQL")

    @_Built
    def dead_letters(self) -> ports.DeadLetters:
        from ..adapters.mysql.webhook_dead_letters import WebhookDeadLetters

        return traced(WebhookDeadLetters(self.mysql), "MySQL")

    @_Built
    def sender(self) -> ports.WebhookSender:
        from ..adapters.http.webhook_sender import WebhookSender

        return traced(WebhookSender(self._view(settings.WebhookSettings).webhook_allow_loopback), "HTTP")

    @_Built
    def work(self) -> ports.WebhookWork:
        from ..adapters.sqs import queue
        from ..adapters.sqs.webhook_work import WebhookWork

        view = self._view(settings.WebhookDeliverySettings)
        urls = view.webhook_work_queue_url or "", view.webhook_slow_work_queue_url
        return traced(WebhookWork(self._sqs or queue.client(), *urls), "SQS")

    @_Built
    def slots(self) -> ports.DeliverySlots:
        from ..adapters.redis.delivery_slots import DeliverySlots

        most = self._view(settings.WebhookDeliverySettings).webhook_slots_per_application
        return traced(DeliverySlots(self.redis, most), "Redis")

    @_Built
    def lanes(self) -> ports.DeliveryLanes:
        from ..adapters.redis.delivery_lanes import DeliveryLanes

        return traced(DeliveryLanes(self.redis), "Redis")

    @_Built
    def delivery_rate(self) -> ports.RateLimits:
        from .clients import delivery_rate

        return traced(delivery_rate(self._view(settings.WebhookDeliverySettings), self.redis), "Redis")

    @_Built
    def batches(self) -> ports.Batches:
        from ..adapters.mysql.batch_store import BatchStore
        from ..adapters.mysql.mysql import MySQL
        from .clients import mysql_connect

        # Connections of its own, which send a transaction's statements together (one round trip).
        connect = mysql_connect(self._view(settings.MySQLSettings), several_statements=True)
        return traced(BatchStore(MySQL(connect)), "MySQL")

    @_Built
    def counts(self) -> ports.Counts:
        from ..adapters.mysql.count_store import CountStore

        return traced(CountStore(self.mysql), "MySQL")

    @_Built
    def schema(self) -> ports.Schema:
        from ..adapters.mysql.schema import Schema

        return traced(Schema(self.mysql), "MySQL")

    @_Built
    def reservations(self) -> ports.Reservations:
        from ..adapters.redis.reservations import Reservations

        s = self._view(settings.NumberingSettings)
        return traced(Reservations(self.redis, s.redis_wait_replicas, s.redis_wait_timeout_ms), "Redis")

    @_Built
    def pending(self) -> ports.PendingBodies:
        from ..adapters.redis.pending import PendingBodies

        return traced(PendingBodies(self.redis), "Redis")

    @_Built
    def changes(self) -> ports.ChangeMarks:
        from ..adapters.redis.changes import ChangeMarks

        return traced(ChangeMarks(self.redis), "Redis")

    @_Built
    def sweep(self) -> ports.IdleCounters:
        from ..adapters.redis.sweep import IdleCounters

        return traced(IdleCounters(self.redis), "Redis")

    @_Built
    def epoch(self) -> ports.NumberingEpoch:
        from ..adapters.redis.epoch import Epoch

        return traced(Epoch(self.redis), "Redis")

    @_Built
    def tokens(self) -> ports.Tokens:
        from ..adapters.redis.tokens import TokenCache

        return traced(TokenCache(self.redis), "Redis")

    @_Built
    def keys(self) -> ports.Keys:
        from ..adapters.redis.idempotency import Records

        s = self._view(settings.IdempotencySettings)
        records = Records(
            self.redis,
            in_flight_seconds=request_life_seconds(s.api_timeout_seconds),
            budget_bytes=s.idempotency_budget_bytes,
            safe_age_seconds=s.idempotency_safe_age_seconds,
            total_bytes=s.idempotency_total_bytes,
        )
        return traced(records, "Redis")

    @_Built
    def limits(self) -> ports.RateLimits | None:
        from .clients import rate_limits

        return traced(rate_limits(self._view(settings.RateLimitSettings), self.redis), "Redis")

    @_Built
    def queue(self) -> ports.Queue:
        from ..adapters.sqs import queue

        s = self._view(settings.QueueSettings)
        sqs_queue = queue.Queue(
            self._sqs or queue.client(),
            s.queue_url or "",
            logger.get_correlation_id,
            dead_letter_url=s.dead_letter_queue_url or "",
        )
        return traced(sqs_queue, "SQS")

    @_Built
    def announcer(self) -> ports.Announcer:
        s = self._view(settings.AnnounceSettings)
        if s.announce_topic_arn:
            from ..adapters.announce import topic

            return traced(topic.TopicAnnouncer(topic.client(), s.announce_topic_arn, logger), "SNS")
        from ..adapters.announce.null import NullAnnouncer

        return NullAnnouncer()

    @_Built
    def accept_push(self) -> ports.AcceptPush:
        name = self._view(settings.AcceptPushSettings).accept_push_function_name
        if name:
            from ..adapters.announce import accepted, fan_out

            return traced(accepted.AcceptPush(fan_out.client(), name, logger), "Lambda")
        from ..adapters.announce.null import NullAcceptPush

        return NullAcceptPush()

    @_Built
    def indexer(self) -> ports.Indexer:
        from ..adapters.search.indexer import Indexer

        s, writer = self._view(settings.ElasticsearchSettings), self._view(settings.IndexerSettings)
        indexer = Indexer(
            self.elasticsearch,
            s.messages_index,
            request_timeout=s.elasticsearch_timeout_seconds,
            bulk_budget=writer.writer_timeout_seconds / 2,
        )
        return traced(indexer, "Elasticsearch")

    @_Built
    def finder(self) -> ports.Finder:
        from ..adapters.search.finder import Finder

        index = self._view(settings.ElasticsearchSettings).messages_index
        timeout_ms = self._view(settings.FinderSettings).search_timeout_ms
        return traced(Finder(self.elasticsearch, index, timeout_ms), "Elasticsearch")

    @_Built
    def index_schema(self) -> ports.IndexSchema:
        from ..adapters.search.index_schema import IndexSchema

        index = self._view(settings.ElasticsearchSettings).messages_index
        shards = self._view(settings.IndexSettings).search_shards
        return traced(IndexSchema(self.elasticsearch, index, shards), "Elasticsearch")

    # -- live delivery --

    @_Built
    def connections(self) -> ports.Connections:
        from ..adapters.mysql.connections import Connections

        return traced(Connections(self.mysql), "MySQL")

    @_Built
    def sockets(self) -> ports.Sockets:
        from ..adapters.websocket import sockets

        s = self._view(settings.SocketSettings)
        client = sockets.client(s.websocket_endpoint, s.push_concurrency)
        return traced(sockets.Sockets(client, s.push_concurrency), "WebSocket")

    @_Built
    def fan_out(self) -> ports.FanOut:
        from ..adapters.announce import fan_out

        return traced(
            fan_out.FanOut(fan_out.client(), self._view(settings.SocketSettings).push_function_name, logger),
            "Lambda",
        )

    @property
    def push_slice(self) -> int:
        return self._view(settings.SocketSettings).push_slice

    @_Built
    def socket_limits(self) -> "SocketLimits":
        from ..domain.live import SocketLimits  # the socket function's alone

        s = self._view(settings.SocketSettings)
        return SocketLimits(
            subscriptions_per_connection=s.socket_subscriptions,
            connections_per_application=s.socket_connections_per_application,
            frame_bytes=s.socket_frame_bytes,
            lifetime_seconds=s.socket_lifetime_seconds,
        )


# What a Stores builds on first read, once: what prepare() may build at init (tests read it too).
BUILT = {name for name, value in vars(Stores).items() if isinstance(value, _Built)}


def build[S](s: S, sqs: Any = None) -> Stores[S]:
    """The adapters of `s` (tools and tests: the functions use theirs below)."""
    return Stores(s, sqs)


def api_login_from_settings() -> "Login | None":
    from .clients import api_login

    return api_login(settings.migrate())


@lru_cache(maxsize=1)
def deps() -> Stores[settings.Settings]:
    """Every adapter, from every setting: the tools' and the tests'."""
    return build(settings.get())


# -- each function's, from its own settings ----------------------------------------------------


@lru_cache(maxsize=1)
def api_deps() -> Stores[settings.ApiSettings]:
    return build(settings.api())


@lru_cache(maxsize=1)
def writer_deps() -> Stores[settings.WriterSettings]:
    return build(settings.writer())


@lru_cache(maxsize=1)
def counter_deps() -> Stores[settings.CounterSettings]:
    return build(settings.counter())


@lru_cache(maxsize=1)
def migrate_deps() -> Stores[settings.MigrateSettings]:
    return build(settings.migrate())


@lru_cache(maxsize=1)
def socket_deps() -> Stores[settings.SocketFunctionSettings]:
    return build(settings.socket())


@lru_cache(maxsize=1)
def push_deps() -> Stores[settings.PushSettings]:
    return build(settings.push())


@lru_cache(maxsize=1)
def delivery_deps() -> Stores[settings.DeliverySettings]:
    return build(settings.delivery())


# Each entry point's dependency set (ports.py), built in Lambda's init phase: the drivers' imports
# and the clients then cost the init, which has its own limit, not the first request's timeout.
# An entry point not named here builds on first use.
ENTRY_POINTS: dict[str, tuple[type, Callable[[], Any]]] = {
    "app.app": (ports.Deps, api_deps),
    "handlers.writer.handle_creations": (ports.WriterDeps, writer_deps),
    "handlers.counter.refresh_counts": (ports.CounterDeps, counter_deps),
    "handlers.schema.migrate_schema": (ports.MigrateDeps, migrate_deps),
    "handlers.socket.handle_socket": (ports.SocketDeps, socket_deps),
    "handlers.push.push_changes": (ports.PushDeps, push_deps),
    "handlers.delivery.deliver_webhooks": (ports.DeliveryDeps, delivery_deps),
}
# Left to first use: only the API's search route reads it, and a burst of creates would pay for
# the Elasticsearch client in every new environment (docs/performance.md, "Each function
# loads what it uses").
NOT_AT_INIT = {"finder"}


def prepare() -> list[str]:
    """Builds the adapters of the entry point this Lambda environment serves and returns their
    names; outside Lambda, none. Nothing connects here: a build that fails (a malformed setting, a
    secret that cannot be read) is logged and left to the first request, which answers it as it
    would have."""
    entry_point = ENTRY_POINTS.get(settings.lambda_handler() or "")
    if entry_point is None:
        return []
    reads, function_deps = entry_point
    names = [
        name
        for protocol in reversed(reads.__mro__)
        for name, value in vars(protocol).items()
        if isinstance(value, property) and name in BUILT and name not in NOT_AT_INIT
    ]
    built = []
    for name in dict.fromkeys(names):
        try:
            getattr(function_deps(), name)
        except Exception as exc:
            logger.warning("not built at init: the first request builds it", adapter=name, error=repr(exc))
        else:
            built.append(name)
    return built
