"""Our signatures, verified by the Standard Webhooks reference library as a receiver would."""

import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chalicelib.domain import signing
from chalicelib.domain.webhooks import new_secret

BODY = json.dumps({"type": "message.created", "data": {"body": "héllo"}}, ensure_ascii=False).encode()


def test_the_reference_library_verifies_our_signature():
    secret = new_secret()
    headers = signing.headers([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["data"]["body"] == "héllo"


def test_either_secret_of_a_rotation_verifies_and_a_third_does_not():
    new, old = new_secret(), new_secret()
    headers = signing.headers([new, old], "msg_1", int(time.time()), BODY)
    assert Webhook(new).verify(BODY, headers) and Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp"])
def test_a_changed_body_id_or_timestamp_fails_verification(tamper):
    secret, now = new_secret(), int(time.time())
    headers = signing.headers([secret], "msg_1", now, BODY)
    body = BODY
    if tamper == "body":
        body = BODY.replace(b"llo", b"lp!")
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    else:
        headers["webhook-timestamp"] = str(now + 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_a_signature_from_an_old_attempt_is_refused_as_a_replay():
    secret = new_secret()
    headers = signing.headers([secret], "msg_1", int(time.time()) - 600, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)
