"""Every setting the functions read, from the environment, validated once per process."""
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional


class SettingsError(ValueError):
    """An environment variable is missing or malformed: the function cannot start."""


@dataclass(frozen=True)
class Settings:
    mysql_host: str
    mysql_port: int
    mysql_user: str
    mysql_password: str
    mysql_database: str
    redis_url: str
    elasticsearch_url: str
    messages_index: str
    queue_url: Optional[str]
    max_body_bytes: int
    api_timeout_seconds: int


def _int(env: dict, name: str, default: int, low: int = 1, high: int = 2**31) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is outside {low}..{high}")
    return value


def from_env(env: Optional[dict] = None) -> Settings:
    env = os.environ if env is None else env
    # Defaults are the services `make up` starts.
    return Settings(
        mysql_host=env.get("MYSQL_HOST", "127.0.0.1"),
        mysql_port=_int(env, "MYSQL_PORT", 3306, high=65535),
        mysql_user=env.get("MYSQL_USER", "chat"),
        mysql_password=env.get("MYSQL_PASSWORD", "chat"),
        mysql_database=env.get("MYSQL_DATABASE", "chat"),
        redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        elasticsearch_url=env.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
        messages_index=env.get("MESSAGES_INDEX", "messages"),
        queue_url=env.get("CREATIONS_QUEUE_URL") or None,
        # messages.body is a TEXT column: 65,535 bytes at the most.
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 65535, high=65535),
        api_timeout_seconds=_int(env, "API_TIMEOUT_SECONDS", 10, high=900),
    )


@lru_cache(maxsize=1)
def get() -> Settings:
    return from_env()
