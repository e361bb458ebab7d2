"""Redis AUTH from a Secrets Manager secret (AWS): a module of its own, so that importing the
clients never loads redis-py (clients.redis_client imports this where it builds the client)."""

from redis import ConnectionError as RedisConnectionError
from redis.credentials import CredentialProvider

from ..domain.errors import Unavailable
from .clients import Secret


class RedisAuthToken(CredentialProvider):
    """Redis asks for the token on every new connection; Powertools' cache answers most times."""

    def __init__(self, secret: Secret):
        self._secret = secret

    def get_credentials(self) -> tuple[str]:
        try:
            return (self._secret.value(),)
        except Unavailable as exc:
            # The numbering adapters' Unavailable, as any outage.
            raise RedisConnectionError(str(exc)) from exc
