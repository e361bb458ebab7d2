"""Cross-origin answers: which pages may call the API from a browser, and the headers that say so.

Every answer of the function carries them, preflights included; API Gateway's own errors (403 for
an unknown route, 429 when throttled) get theirs from the template's GatewayResponses.
"""

# What a page may send beyond the CORS-safelisted headers: JSON bodies, retry keys, user tokens.
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
# What a page may read beyond the safelisted headers: paging, where a creation went, when to retry.
EXPOSED_HEADERS = "Link, Location, Retry-After, RateLimit, RateLimit-Policy"
# Chromium keeps a preflight at most 2 hours (Firefox 24): one preflight per URL and method per session.
MAX_AGE_SECONDS = 7200


def granted_origin(origin: str | None, allowed: tuple[str, ...]) -> str | None:
    """The Access-Control-Allow-Origin value for a request from `origin`, or None to refuse it."""
    if not origin:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


def response_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    # The answer depends on Origin unless every origin is allowed: caches must key on it.
    headers: dict[str, str] = {} if "*" in allowed else {"Vary": "Origin"}
    granted = granted_origin(origin, allowed)
    if granted:
        headers["Access-Control-Allow-Origin"] = granted
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return headers


def preflight_headers(origin: str | None, allowed: tuple[str, ...], methods: list[str]) -> dict[str, str]:
    """A preflight's own headers; a refused origin gets none, and the browser stops there."""
    headers = {"Allow": ", ".join(methods)}
    if granted_origin(origin, allowed):
        headers["Access-Control-Allow-Methods"] = ", ".join(m for m in methods if m != "OPTIONS")
        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
    return headers
