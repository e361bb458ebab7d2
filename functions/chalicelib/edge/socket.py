"""The WebSocket edge: reads the gateway's route events, and is the one place where the socket
use cases' errors become a refused handshake or an error frame (a socket never sees a crash)."""

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from ..domain.errors import ChatError, Unavailable
from ..domain.live import error_frame

log = Logger(service="chat", child=True)

Answer = dict[str, Any]


def connection_id(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["connectionId"])


def credential(event: dict[str, Any]) -> str | None:
    """The `token` query parameter: browsers cannot set headers on a WebSocket."""
    query = event.get("queryStringParameters") or {}
    value = query.get("token")
    return value if isinstance(value, str) else None


def admitting(connect: Callable[[], None]) -> Answer:
    """$connect's answer: 200 admits; any other status refuses the handshake with that status."""
    try:
        connect()
    except ChatError as exc:
        if exc.status >= 500:
            log.warning("connect failed", error=exc.message, code=exc.code, cause=repr(exc.__cause__))
        return {"statusCode": exc.status, "body": json.dumps({"message": exc.message, "code": exc.code})}
    except Exception:
        log.exception("unexpected error on connect")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "internal error", "code": "internal_error"}),
        }
    return {"statusCode": 200}


def answering(work: Callable[[], Answer | None]) -> Answer:
    """A message route's answer: the frame the gateway sends back on the same socket (none
    without a body)."""
    frame: Answer | None
    try:
        frame = work()
    except Unavailable as exc:
        log.warning("frame failed", error=exc.message, cause=repr(exc.__cause__))
        frame = {**error_frame(exc.code, exc.message), "retry_after": exc.retry_after}
    except ChatError as exc:
        frame = error_frame(exc.code, exc.message)
    except Exception:
        log.exception("unexpected error on a frame")
        frame = error_frame("internal_error", "internal error")
    if frame is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": json.dumps(frame)}
