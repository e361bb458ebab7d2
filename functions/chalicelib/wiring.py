"""Builds the adapters from the settings, once per process (a Lambda environment)."""
from functools import lru_cache

import redis
from elasticsearch import Elasticsearch

from . import db, queue, settings
from .numbers import Numbers
from .search import Search
from .service import Deps


@lru_cache(maxsize=1)
def deps() -> Deps:
    s = settings.get()
    database = db.Database(db.connector(s.mysql_host, s.mysql_port, s.mysql_user,
                                        s.mysql_password, s.mysql_database))
    numbers = Numbers(redis.Redis.from_url(s.redis_url, socket_timeout=2, socket_connect_timeout=2,
                                           health_check_interval=30))
    search = Search(Elasticsearch(s.elasticsearch_url, request_timeout=10, max_retries=2,
                                  retry_on_timeout=True), s.messages_index)
    return Deps(db=database, numbers=numbers, queue=queue.Queue(queue.client(), s.queue_url or ""),
                search=search, request_timeout_seconds=s.api_timeout_seconds)
