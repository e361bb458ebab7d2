"""Cross-origin rules at the HTTP edge: who gets the headers, on which answers, and what is exposed."""

import pytest
from chalice.test import Client

import app
from chalicelib.edge import cors
from chalicelib.wiring import settings
from chalicelib.wiring.settings import SettingsError

PAGE = "https://chat.example.com"
PATHS = sorted(app.app.routes)


@pytest.fixture
def allow(monkeypatch):
    """Deploys the app in-process with CORS_ALLOWED_ORIGINS set to the given value."""

    def configure(value: str) -> Client:
        monkeypatch.setenv("CORS_ALLOWED_ORIGINS", value)
        settings.api.cache_clear()
        return Client(app.app)

    yield configure
    settings.api.cache_clear()


def _preflight(client: Client, path: str, origin: str, method: str = "PATCH"):
    concrete = path.replace("{token}", "T0ken").replace("{number}", "1").replace("{message_number}", "2")
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    return client.http.request("OPTIONS", concrete, headers=headers)


@pytest.mark.parametrize("path", PATHS)
def test_every_path_answers_a_preflight_from_an_allowed_origin_with_its_own_methods(allow, path):
    answer = _preflight(allow(f"{PAGE},http://localhost:8080"), path, PAGE)
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == PAGE
    methods = set(answer.headers["Access-Control-Allow-Methods"].split(", "))
    assert methods == set(app.app.routes[path]) - {"OPTIONS"}
    assert answer.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, Idempotency-Key"
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert answer.headers["Vary"] == "Origin"


def test_a_preflight_from_another_origin_gets_no_grant(allow):
    answer = _preflight(allow(PAGE), "/applications/{token}", "https://evil.example")
    assert answer.status_code == 204
    assert not {h for h in answer.headers if h.lower().startswith("access-control-")}
    assert answer.headers["Allow"] == "GET, OPTIONS, PATCH, PUT"


def test_no_origin_is_allowed_unless_configured(allow):
    client = allow("")
    answer = _preflight(client, "/applications", PAGE, "POST")
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_answers_and_errors_expose_paging_location_and_retry_headers_to_an_allowed_origin(allow):
    client = allow(PAGE)
    refused = client.http.post(
        "/applications", headers={"Origin": PAGE, "Content-Type": "application/json"}, body=b"not json"
    )
    assert refused.status_code == 400
    assert refused.headers["Access-Control-Allow-Origin"] == PAGE
    exposed = set(refused.headers["Access-Control-Expose-Headers"].split(", "))
    assert exposed == {"Link", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"}

    elsewhere = client.http.post("/applications", headers={"Origin": "http://evil.example"}, body=b"{}")
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    assert elsewhere.headers["Vary"] == "Origin"


def test_a_star_allows_every_origin_and_needs_no_vary(allow):
    answer = _preflight(allow("*"), "/applications/{token}/chats", "http://anything.example", "POST")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in answer.headers


def test_a_request_without_origin_gets_no_cors_headers():
    headers = cors.response_headers(None, (PAGE,))
    assert headers == {"Vary": "Origin"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        ("*", ("*",)),
        ("https://d1.cloudfront.net,", ("https://d1.cloudfront.net",)),  # the template's join, no extra
        ("https://A.example.com/, http://127.0.0.1:8080", ("https://a.example.com", "http://127.0.0.1:8080")),
    ],
)
def test_allowed_origins_are_read_as_browsers_send_them(raw, expected):
    assert settings.from_env({"CORS_ALLOWED_ORIGINS": raw}).cors_allowed_origins == expected


@pytest.mark.parametrize("raw", ["example.com", "https://example.com/app", "https://a.com,*", "ftp://x.com"])
def test_a_malformed_origin_stops_the_function_from_starting(raw):
    with pytest.raises(SettingsError, match="CORS_ALLOWED_ORIGINS"):
        settings.from_env({"CORS_ALLOWED_ORIGINS": raw})
