"""Webhook endpoints (usecases/webhooks.py, domain/webhooks.py) against the fakes: no service."""

import datetime

import pytest

from chalicelib.domain.errors import BadRequest, LimitReached, NotFound, RateLimited
from chalicelib.domain.webhooks import MAX_ENDPOINTS, MAX_URL_CHARS, EndpointChange, events_field, url_field
from chalicelib.usecases import service, webhooks
from tests import fakes, fakes_webhooks

CREATED = ("message.created",)


@pytest.fixture
def deps() -> fakes_webhooks.FakeWebhookDeps:
    return fakes_webhooks.deps()


@pytest.fixture
def token(deps) -> str:
    return service.create_application(deps, "app").token


def test_a_registered_endpoint_gets_a_standard_webhooks_secret_and_is_listed_without_it(deps, token):
    endpoint = webhooks.register(deps, token, "https://hooks.example.com/in", CREATED, "bot")
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    assert endpoint.to_json(with_secret=True)["secret"] == endpoint.secret
    listed = [e.to_json() for e in webhooks.endpoints(deps, token)]
    assert listed == [endpoint.to_json()] and "secret" not in listed[0]


def test_another_applications_token_neither_sees_nor_changes_an_endpoint(deps, token):
    endpoint = webhooks.register(deps, token, "https://hooks.example.com/in", CREATED)
    other = service.create_application(deps, "other").token
    assert webhooks.endpoints(deps, other) == []
    for call in (
        lambda: webhooks.endpoint(deps, other, endpoint.number),
        lambda: webhooks.update(deps, other, endpoint.number, EndpointChange(enabled=False)),
        lambda: webhooks.rotate_secret(deps, other, endpoint.number, 0),
        lambda: webhooks.remove(deps, other, endpoint.number),
    ):
        with pytest.raises(NotFound):
            call()
    assert webhooks.endpoint(deps, token, endpoint.number) == endpoint


def test_an_application_holds_at_most_the_limit_of_endpoints(deps, token):
    for i in range(MAX_ENDPOINTS):
        webhooks.register(deps, token, f"https://hooks.example.com/{i}", CREATED)
    with pytest.raises(LimitReached):
        webhooks.register(deps, token, "https://hooks.example.com/one-more", CREATED)
    webhooks.remove(deps, token, webhooks.endpoints(deps, token)[0].number)
    webhooks.register(deps, token, "https://hooks.example.com/one-more", CREATED)


def test_a_rotated_secret_signs_beside_the_old_one_during_its_grace_only(deps, token):
    old = webhooks.register(deps, token, "https://hooks.example.com/in", CREATED)
    rotated = webhooks.rotate_secret(deps, token, old.number, 3600)
    assert rotated.secret != old.secret
    now = deps.webhook_endpoints.now
    assert rotated.signing_secrets(now) == [rotated.secret, old.secret]
    assert rotated.signing_secrets(now + datetime.timedelta(seconds=3601)) == [rotated.secret]
    again = webhooks.rotate_secret(deps, token, old.number, 0)
    assert again.signing_secrets(now) == [again.secret]


def test_a_disabled_endpoint_wants_no_event_and_a_change_keeps_what_it_does_not_name(deps, token):
    endpoint = webhooks.register(deps, token, "https://hooks.example.com/in", CREATED, "keep me")
    assert endpoint.wants("message.created") and not endpoint.wants("chat.created")
    updated = webhooks.update(deps, token, endpoint.number, EndpointChange(enabled=False))
    assert not updated.wants("message.created") and updated.description == "keep me"


def test_endpoint_writes_count_against_the_applications_edits_quota(deps, token):
    deps.limits = fakes.FakeRateLimits({"edits": 1})
    webhooks.register(deps, token, "https://hooks.example.com/in", CREATED)
    with pytest.raises(RateLimited):
        webhooks.register(deps, token, "https://hooks.example.com/in", CREATED)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",  # not TLS
        "ftp://hooks.example.com/in",
        "https:///in",
        "https://user:pw@hooks.example.com/in",
        "https://hooks.example.com/in#frag",
        "https://127.0.0.1/in",
        "https://10.0.0.8/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://[fd00::1]/in",
        "https://localhost/in",
        "https://a.localhost/in",
        # What getaddrinfo reads as an address or localhost too: a trailing dot, IPv4's old forms
        "https://localhost./in",
        "https://a.localhost./in",
        "https://2130706433/in",
        "https://0x7f.1/in",
        "https://0177.0.0.1/in",
        "https://10.1/in",
        "https://[::ffff:a9fe:a9fe]/in",
        "https://[64:ff9b::a00:1]/in",
        "https://hooks.example.com:99999/in",
        "https://hooks.example.com/ in",
        "https://héllo.example.com/in",
        "https://hooks.example.com/" + "a" * MAX_URL_CHARS,
        "",
        None,
        42,
    ],
)
def test_urls_that_are_not_public_https_are_refused_at_registration(url):
    with pytest.raises(BadRequest):
        url_field(url)


def test_loopback_http_is_accepted_only_where_allowed():
    assert url_field("http://127.0.0.1:8123/hook", allow_loopback_http=True) == "http://127.0.0.1:8123/hook"
    for url in ("http://10.1.2.3/hook", "https://169.254.169.254/latest", "https://[fd00:ec2::254]/"):
        with pytest.raises(BadRequest):
            url_field(url, allow_loopback_http=True)
    assert url_field("https://hooks.example.com:8443/in?x=1") == "https://hooks.example.com:8443/in?x=1"


@pytest.mark.parametrize("events", [[], ["message.sent"], "message.created", [1], None])
def test_events_must_be_a_non_empty_list_of_known_types(events):
    with pytest.raises(BadRequest):
        events_field(events)


def test_events_are_kept_once_each_in_canonical_order():
    assert events_field(["chat.created", "message.created", "chat.created"]) == (
        "message.created",
        "chat.created",
    )


def test_dead_letters_are_listed_and_replayed_by_their_own_application_only(deps, token):
    from chalicelib.domain.deliveries import chat_created_event

    endpoint = webhooks.register(deps, token, "https://hooks.example.com/in", ("chat.created",))
    deps.dead_letters.add(
        endpoint,
        chat_created_event(endpoint.application_id, 3, deps.webhook_endpoints.now),
        20,
        "answered 500",
    )
    [letter] = webhooks.dead_letters(deps, token, 0, 10)
    assert letter.to_json()["payload"]["type"] == "chat.created" and letter.to_json()["endpoint_number"] == 1
    other = service.create_application(deps, "other").token
    assert webhooks.dead_letters(deps, other, 0, 10) == []
    with pytest.raises(NotFound):
        webhooks.replay_dead_letter(deps, other, letter.number)
    webhooks.replay_dead_letter(deps, token, letter.number)
    assert webhooks.dead_letters(deps, token, 0, 10)[0].replay_requested_at is not None
