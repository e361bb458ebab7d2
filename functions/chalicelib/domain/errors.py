"""The errors the product raises; `http.py` is the one place that turns them into answers."""


class ChatError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ChatError):
    status = 400
    code = "bad_request"


class NotFound(ChatError):
    status = 404
    code = "not_found"


class Unauthorized(ChatError):
    """A user token that cannot be trusted: malformed, forged, or signed with a key we never used."""

    status = 401
    code = "invalid_token"


class MissingToken(Unauthorized):
    code = "missing_token"


class TokenExpired(Unauthorized):
    code = "token_expired"


class TokenRevoked(Unauthorized):
    """Signed with a key the application has rotated away (a rotation of its token)."""

    code = "token_revoked"


class Forbidden(ChatError):
    """A known caller asking for what its token does not allow."""

    status = 403
    code = "forbidden"


class ChatNotAllowed(Forbidden):
    code = "chat_not_allowed"


class ReadOnlyToken(Forbidden):
    code = "read_only_token"


class NotAuthor(Forbidden):
    code = "not_author"


class UserTokenRequired(Forbidden):
    """Only a user has this (a read position): the application token has no user."""

    code = "user_token_required"


class UnknownToken(NotFound):
    """No application has that token (404 in a path; a bearer token's route answers 401)."""

    def __init__(self, message: str = "no application has that token"):
        super().__init__(message)


class Gone(ChatError):
    """The message was deleted: its tombstone reads back, but it cannot be edited."""

    status = 410
    code = "message_deleted"

    def __init__(self, message: str = "this message was deleted"):
        super().__init__(message)


class PayloadTooLarge(ChatError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ChatError):
    """A request body that is not said to be JSON: pages elsewhere cannot send one unasked."""

    status = 415
    code = "unsupported_media_type"


class InFlight(ChatError):
    """A request with the same Idempotency-Key is still running; retry the same request later."""

    status = 409
    code = "request_in_flight"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class TokenRotated(ChatError):
    """The token was replaced by a rotation: only the newest may rotate again."""

    status = 409
    code = "token_rotated"


class KeyReused(ChatError):
    """The Idempotency-Key was used before for another request."""

    status = 422
    code = "idempotency_key_reused"

    def __init__(self, message: str = "this Idempotency-Key was used for another request"):
        super().__init__(message)


class OverQuota(ChatError):
    """A quota is used up: `quota` requests of `policy` in `window_seconds`; the edge answers
    every one alike (Retry-After, RateLimit-Policy, RateLimit)."""

    status = 429

    def __init__(self, message: str, policy: str, quota: int, window_seconds: int, retry_after: int):
        super().__init__(message)
        self.policy, self.quota, self.window_seconds = policy, quota, window_seconds
        self.retry_after = retry_after


class KeyBudgetSpent(OverQuota):
    """The application holds as many Idempotency-Key records as its budget allows, all recent:
    `quota` keyed requests within `window_seconds` (the safe age)."""

    code = "idempotency_budget_spent"

    def __init__(self, message: str, quota: int, window_seconds: int, retry_after: int):
        super().__init__(message, "idempotency-keys", quota, window_seconds, retry_after)


class Unavailable(ChatError):
    """A backing service is down or recovering; retrying the same request is safe."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


class NotQueued(Unavailable):
    """A creation event certainly not queued: refused before it was sent, or SQS answered its one
    attempt with an error. Any other failed send may have queued it."""

    def __init__(self, message: str = "the request ran out of time before its creation was queued"):
        super().__init__(message)


class RateLimited(OverQuota):
    """A subject (application, client address, everyone) used its quota of this kind of request
    for the current window."""

    code = "rate_limited"


class Refused(ChatError):
    """The database refused the data for good (a constraint or a size); retrying cannot help."""

    status = 422
    code = "refused"


class InvalidEvent(Refused):
    """A queued event that can never be persisted: malformed, or its parent is gone."""


class TooManyConnections(ChatError):
    """The application holds as many open sockets as it may: a socket closes before another opens."""

    status = 429
    code = "too_many_connections"


class LimitReached(ChatError):
    """The application holds as many of something as it may (webhook endpoints): remove one first."""

    status = 409
    code = "limit_reached"
