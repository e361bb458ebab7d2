"""The webhook endpoints port: the fake (tests/fakes_webhooks.py) and MySQL behave alike."""

import dataclasses
import uuid

import pytest

from chalicelib.domain.webhooks import EndpointChange
from tests import fakes_webhooks

EVENTS = ("message.created", "chat.created")


@pytest.fixture(params=["fake", "real"])
def ports(request):
    """(deps, a new application's id) in one world."""
    deps = fakes_webhooks.deps() if request.param == "fake" else request.getfixturevalue("deps")
    return deps, deps.db.insert_application(f"c-{uuid.uuid4().hex}", "contract").id


def test_an_inserted_endpoint_reads_back_as_inserted(ports):
    deps, app_id = ports
    made = deps.webhook_endpoints.insert(app_id, "https://a.example/x", EVENTS, "d", "whsec_AAAA", 5)
    assert (made.application_id, made.url, made.events, made.description, made.enabled, made.secret) == (
        app_id,
        "https://a.example/x",
        EVENTS,
        "d",
        True,
        "whsec_AAAA",
    )
    assert deps.webhook_endpoints.get(app_id, made.number) == made
    assert deps.webhook_endpoints.of_application(app_id) == [made]
    assert deps.webhook_endpoints.get(app_id + 10**9, made.number) is None


def test_insert_stops_at_the_limit(ports):
    deps, app_id = ports
    for _ in range(2):
        assert deps.webhook_endpoints.insert(app_id, "https://a.example/x", EVENTS, "", "whsec_AAAA", 2)
    assert deps.webhook_endpoints.insert(app_id, "https://a.example/x", EVENTS, "", "whsec_AAAA", 2) is None


def test_update_changes_only_what_it_names_and_rotation_keeps_the_old_secret(ports):
    deps, app_id = ports
    made = deps.webhook_endpoints.insert(app_id, "https://a.example/x", EVENTS, "d", "whsec_AAAA", 5)
    changed = deps.webhook_endpoints.update(
        app_id, made.number, EndpointChange(enabled=False, events=EVENTS[:1])
    )
    assert changed == dataclasses.replace(made, enabled=False, events=EVENTS[:1])
    rotated = deps.webhook_endpoints.rotate_secret(app_id, made.number, "whsec_BBBB", 60)
    assert (rotated.secret, rotated.previous_secret) == ("whsec_BBBB", "whsec_AAAA")
    assert rotated.previous_secret_expires_at > made.created_at
    assert deps.webhook_endpoints.update(app_id + 10**9, made.number, EndpointChange(enabled=True)) is None
    assert deps.webhook_endpoints.delete(app_id, made.number) and not deps.webhook_endpoints.delete(
        app_id, made.number
    )
