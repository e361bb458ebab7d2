"""The HTTP edge: reads and validates requests, and is the one place errors become answers."""

import functools
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode

from aws_lambda_powertools import Logger
from chalice import Response

from ..domain import search_terms, times, user_tokens
from ..domain.changes import Feed
from ..domain.errors import (
    BadRequest,
    ChatError,
    MissingToken,
    OverQuota,
    PayloadTooLarge,
    Unauthorized,
    UnknownToken,
    UnsupportedMediaType,
)
from ..domain.models import MAX_ANSWER_BYTES, Author, SearchAfter, SearchPage, answer_size
from ..domain.request_keys import RequestKey
from ..domain.tokens import MAX_GRACE_SECONDS

log = Logger(service="chat", child=True)

MAX_REQUEST_BYTES = 256 * 1024
MAX_NAME_CHARS = 255
MAX_NUMBER = 2**31 - 1
MAX_KEY_CHARS = 255
DEFAULT_LIMIT, MAX_LIMIT = 50, 100
# A feed position: a JSON-safe integer (clients in JavaScript read it exactly).
MAX_POSITION = 2**53 - 1
# A search's `after`: a score (a sum of a few small constants: search_query.WHOLE, PREFIX,
# INFIX, PHRASE) and a number, as docs/openapi.yaml's pattern has it.
_SEARCH_AFTER = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3})?):([0-9]{1,10})")
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Item(Protocol):
    """What a page holds: numbered records with a public shape."""

    @property
    def number(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


Params = Mapping[str, str] | None


def created(body: dict[str, Any], location: str) -> Response:
    """201 with a Location relative to the collection posted to (stage prefixes stay out of it)."""
    return json_response(body, 201, {"Location": location})


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(exc: ChatError) -> Response:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if isinstance(exc, Unauthorized):  # RFC 6750: the scheme, and why the token sent failed
        failed = (
            ""
            if isinstance(exc, MissingToken)
            else f', error="invalid_token", error_description="{exc.code}"'
        )
        headers["WWW-Authenticate"] = f'Bearer realm="chat"{failed}'
    if isinstance(exc, OverQuota):
        # The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10): the policy's
        # quota and window, and what is left of it (nothing) until it resets.
        headers["RateLimit-Policy"] = f'"{exc.policy}";q={exc.quota};w={exc.window_seconds}'
        headers["RateLimit"] = f'"{exc.policy}";r=0;t={exc.retry_after}'
    return json_response({"message": exc.message, "code": exc.code}, exc.status, headers)


def answers_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Turns our errors into JSON answers, and anything unexpected into a logged, bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except ChatError as exc:
            if exc.status >= 500:
                log.warning("request failed", error=exc.message, code=exc.code, cause=repr(exc.__cause__))
            return error_response(exc)
        except Exception:
            log.exception("unexpected error")
            return error_response(ChatError("internal error"))

    return wrapper


def json_object(raw: bytes | None) -> dict[str, Any]:
    if raw and len(raw) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"request body is over {MAX_REQUEST_BYTES} bytes")
    try:
        value = json.loads(raw.decode("utf-8")) if raw else None
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None
    except RecursionError:  # a few KB of "[[[[" nest deeper than the parser's stack
        raise BadRequest("request body nests too deeply") from None
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object")
    return value


def name_field(body: Mapping[str, Any]) -> str:
    name = _text(body, "name")
    if len(name) > MAX_NAME_CHARS:
        raise BadRequest(f"name is longer than {MAX_NAME_CHARS} characters")
    return name


def grace_seconds(body: Mapping[str, Any]) -> int:
    """How long a rotated token keeps working: 0 (the default) to MAX_GRACE_SECONDS."""
    value = body.get("grace_seconds", 0)
    if type(value) is not int or not 0 <= value <= MAX_GRACE_SECONDS:
        raise BadRequest(f"grace_seconds must be an integer from 0 to {MAX_GRACE_SECONDS}")
    return value


def body_field(body: Mapping[str, Any], max_bytes: int) -> str:
    text = _text(body, "body")
    if len(text.encode("utf-8")) > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes of UTF-8")
    return text


def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} is required and must be a non-empty string")
    if "\x00" in value:
        raise BadRequest(f"{field} must not contain NUL characters")
    return _encodable(value, field)


def _encodable(value: str, field: str) -> str:
    """JSON may carry lone UTF-16 surrogates ("\\ud800"): no store can hold them as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{field} is not valid Unicode text (a lone surrogate?)") from None
    return value


def token(raw: str) -> str:
    value = unquote(raw)
    # A token that cannot exist is simply unknown.
    if not 0 < len(value) <= 64 or not _TOKEN_CHARS.issuperset(value):
        raise UnknownToken()
    return value


def bearer(headers: Mapping[str, str]) -> str:
    """The `Authorization: Bearer` token of a route whose path names no application: a user
    token, or the application token (RFC 6750: 401 when missing or not one we could have made)."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise MissingToken("send Authorization: Bearer <token> (a user token or the application token)")
    if len(value) > user_tokens.MAX_TOKEN_CHARS:
        raise Unauthorized(f"a token is at most {user_tokens.MAX_TOKEN_CHARS} characters")
    if not user_tokens.looks_like_user_token(value) and not _TOKEN_CHARS.issuperset(value):
        raise Unauthorized("not a token of this API")
    return value


def user_grant(body: Mapping[str, Any]) -> user_tokens.Grant:
    """What a user token is asked for: `user_id`, `name`, `chats` (left out: all), `access`
    (`read` or `read_write`, the default) and `expires_in` seconds."""
    user_id, name = body.get("user_id"), body.get("name")
    if not isinstance(user_id, str) or not isinstance(name, str):
        raise BadRequest("user_id and name are required strings")
    # Only a missing `chats` means every chat: a null (a backend's unset list, say) is refused,
    # never read as the widest grant.
    chats = body.get("chats")
    if "chats" in body and (
        not isinstance(chats, list) or not all(type(n) is int for n in chats) or len(chats) > 1000
    ):
        raise BadRequest("chats must be a list of chat numbers, or be left out for every chat")
    access = body.get("access", "read_write")
    if access not in ("read", "read_write"):
        raise BadRequest("access must be read or read_write")
    expires_in = body.get("expires_in", user_tokens.DEFAULT_LIFETIME_SECONDS)
    if type(expires_in) is not int:
        raise BadRequest("expires_in must be an integer number of seconds")
    author = Author(_encodable(user_id, "user_id"), _encodable(name, "name"))
    grant = user_tokens.Grant(
        author, None if chats is None else frozenset(chats), access == "read", expires_in
    )
    return user_tokens.validated(grant)


def up_to_field(body: Mapping[str, Any]) -> int:
    """The message number read up to: 0 (nothing read) to the largest number."""
    value = body.get("up_to")
    if type(value) is not int or not 0 <= value <= MAX_NUMBER:
        raise BadRequest(f"up_to must be a message number from 0 to {MAX_NUMBER}")
    return value


def enabled_field(body: Mapping[str, Any]) -> bool:
    value = body.get("enabled")
    if type(value) is not bool:
        raise BadRequest("enabled must be true or false")
    return value


def issued_user_token(token: str, expires_at: int, grant: user_tokens.Grant) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "token": token,
        "expires_at": times.rfc3339(expires_at * 1000),
        "user": {"id": grant.user.id, "name": grant.user.name},
        "access": "read" if grant.read_only else "read_write",
    }
    if grant.chats is not None:
        answer["chats"] = sorted(grant.chats)
    return answer


def chat_number(raw: str) -> int:
    return number(raw, "chat number")


def message_number(raw: str) -> int:
    return number(raw, "message number")


def number(raw: str, what: str) -> int:
    return _bounded(unquote(raw), what, 1, MAX_NUMBER)


def page(params: Params) -> tuple[int, int]:
    """`?after=` and `?limit=` as (after, limit)."""
    return _bounded((params or {}).get("after", "0"), "after", 0, MAX_NUMBER), limit(params)


def before(params: Params) -> int | None:
    """`?before=`: a page of older messages (any number past the newest: the newest page)."""
    raw = (params or {}).get("before")
    return None if raw is None else _bounded(raw, "before", 1, MAX_NUMBER)


def older_page_response(items: Sequence[Item], more: bool, limit: int, url: str | None = None) -> Response:
    """A page read backwards: `Link: rel="prev"` names the page before its first item. Big
    bodies cut it short from the oldest end, as a forward page is cut from its newest."""
    headers = {}
    kept = list(reversed(_within_budget(list(reversed(items)))))
    more, items = more or len(kept) < len(items), kept
    if more and items:
        headers["Link"] = (
            f'<{url or ""}?{urlencode({"before": items[0].number, "limit": limit})}>; rel="prev"'
        )
    return json_response([item.to_json() for item in items], headers=headers)


def limit(params: Params) -> int:
    return _bounded((params or {}).get("limit", str(DEFAULT_LIMIT)), "limit", 1, MAX_LIMIT)


def since(params: Params) -> int:
    """A feed's `?since=`: the position of the last change the client has (0: from the start)."""
    return _bounded((params or {}).get("since", "0"), "since", 0, MAX_POSITION)


def feed_response(feed: Feed, since: int, limit: int, url: str | None = None) -> Response:
    """A page of a chat's feed from `limit + 1` changes fetched: `next_since` is where the next
    read starts (the last position answered), linked when more changes follow. A page of big
    bodies is cut short, as a list's is."""
    changes = feed.changes[:limit]
    kept = _within_budget([c.message for c in changes])
    changes = changes[: len(kept)]
    next_since = changes[-1].position if changes else since
    headers = {}
    if len(feed.changes) > len(changes):
        headers["Link"] = f'<{url or ""}?{urlencode({"since": next_since, "limit": limit})}>; rel="next"'
    return json_response(
        {"changes": [c.to_json() for c in changes], "next_since": next_since, "last": feed.last},
        headers=headers,
    )


def search_query(params: Params) -> list[str]:
    """`?q=` as the words to search for (search_terms.words: 400 for what cannot be served)."""
    return search_terms.words(_encodable((params or {}).get("q", ""), "q"))


def search_after(params: Params) -> SearchAfter | None:
    """A search's `?after=`, as its `Link` wrote it: the score and number of the last message."""
    raw = (params or {}).get("after")
    if raw is None:
        return None
    found = _SEARCH_AFTER.fullmatch(raw)
    if found is None:
        raise BadRequest("after must be the value the previous page's Link gave")
    return SearchAfter(float(found[1]), _bounded(found[2], "after's number", 1, MAX_NUMBER))


def search_page_response(page: SearchPage, params: Params, url: str | None = None) -> Response:
    """A search page, linking the next if any (with the same `q` and `limit`): a page may hold
    fewer than `limit` messages when their bodies are big (search_pages)."""
    headers = {}
    if page.next is not None:
        after = f"{page.next.score:g}:{page.next.number}"
        next_query = urlencode(
            {"q": (params or {})["q"], "limit": limit(params), "after": after}, safe=":", quote_via=quote
        )
        headers["Link"] = f'<{url or ""}?{next_query}>; rel="next"'
    return json_response([message.to_json() for message in page.messages], headers=headers)


def _bounded(raw: str, name: str, low: int, high: int) -> int:
    digits = raw.lstrip("0") or "0"  # leading zeros cost nothing to skip
    # Digits are counted before int(): Python refuses strings of over 4,300 digits with a
    # ValueError, and even below that converting thousands of digits costs for nothing.
    too_long = len(digits) > len(str(high))
    if not raw.isascii() or not raw.isdigit() or too_long or not low <= int(digits) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(digits)


def page_url(base_url: str, context: Mapping[str, Any], uri_params: Mapping[str, str] | None) -> str | None:
    """This route's URL under the API's configured base URL; None when none is configured.

    Never from the request's `Host` or `X-Forwarded-*`: a client (or a cache keyed without them)
    could point the links another answer carries at a host of its choosing. `{apiId}` in the base
    URL is API Gateway's id of the API, from its request context, which no client sets.
    """
    resource = context.get("resourcePath")
    if not base_url or not resource:
        return None
    if "{apiId}" in base_url:
        if not context.get("apiId"):
            return None
        base_url = base_url.replace("{apiId}", str(context["apiId"]))
    # Path values arrive percent-encoded from API Gateway: decoded once, encoded once.
    values = {k: quote(unquote(v), safe="") for k, v in (uri_params or {}).items()}
    if not set(_PATH_PARAM.findall(resource)) <= set(values):
        return None
    return base_url.rstrip("/") + _PATH_PARAM.sub(lambda m: values[m[1]], resource)


def client_address(context: Mapping[str, Any]) -> str:
    """Who sent the request, as API Gateway saw the connection (never X-Forwarded-For, which the
    client writes): an IPv4 address, or the /64 network of an IPv6 one, since one subscriber
    commonly holds a whole /64 and could otherwise take a fresh quota per address."""
    raw = str((context.get("identity") or {}).get("sourceIp") or "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)  # else every IPv4 client so written would share ::/64
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


_JSON_TYPE = "application/json"


def require_json(headers: Mapping[str, str], raw: bytes | str | None) -> None:
    """A request that carries a body must say it is JSON (UTF-8): a `text/plain` POST is one a
    page of any origin may send without a preflight, and it would otherwise be served."""
    if not raw:
        return
    media_type, *params = (headers.get("content-type") or "").split(";")
    charsets = {
        value.strip().strip('"').lower()
        for name, _, value in (p.partition("=") for p in params)
        if name.strip().lower() == "charset"
    }
    if media_type.strip().lower() != _JSON_TYPE or not charsets <= {"utf-8"}:
        raise UnsupportedMediaType(f"a request body must be sent as Content-Type: {_JSON_TYPE}")


def paged(params: Params, fetch: Callable[[int, int], Sequence[Item]], url: str | None = None) -> Response:
    """A page of `fetch(after, limit)`'s items for `?after=&limit=`, linking the next if any."""
    after, size = page(params)
    return page_response(fetch(after, size + 1), size, url)


def page_response(items: Sequence[Item], limit: int, url: str | None = None) -> Response:
    """A page of at most `limit` items from `limit + 1` fetched; links the next page if any.

    The link is absolute when the request's `url` is known (as GitHub's and GitLab's are, so that
    clients follow it without a join), else relative to the request URL.
    """
    headers = {}
    kept = _within_budget(items[:limit])
    if len(items) > len(kept):
        items = kept
        next_query = urlencode({"after": items[-1].number, "limit": limit})
        headers["Link"] = f'<{url or ""}?{next_query}>; rel="next"'
    return json_response([item.to_json() for item in items], headers=headers)


def _within_budget(items: Sequence[Item]) -> Sequence[Item]:
    """The first items whose bodies fit one answer (always at least one): a page of big bodies
    is cut short and links on from its last item, instead of failing as too large."""
    size = 0
    for count, item in enumerate(items):
        size += answer_size(str(item.to_json().get("body", "")))
        if size > MAX_ANSWER_BYTES and count > 0:
            return items[:count]
    return items


def request_key(request: Any, payload: dict[str, Any] | None) -> RequestKey | None:
    """The request's `Idempotency-Key` (IETF httpapi draft: a structured-field string, quoted;
    a bare value is taken too), with a digest of the method, the route, the path values but the
    token (the key's scope is the application, whichever of its tokens is used) and the fields
    read from the body: the same request retried has the same digest."""
    raw = (request.headers or {}).get("idempotency-key")
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not 0 < len(value) <= MAX_KEY_CHARS or not value.isascii() or not value.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters")
    params = {k: unquote(v) for k, v in (request.uri_params or {}).items() if k != "token"}
    request_id = json.dumps(
        [request.method, request.path, params, payload], sort_keys=True, ensure_ascii=False
    )
    return RequestKey(value, hashlib.sha256(request_id.encode()).hexdigest())
