"""Token rotation and revocation (service.rotate_token, revoke_previous_token), against the fakes."""

import json
import secrets

import pytest

from chalicelib.domain.errors import BadRequest, NotFound, TokenRotated
from chalicelib.domain.request_keys import RequestKey
from chalicelib.domain.tokens import token_hash
from chalicelib.usecases import identity, service


def test_a_rotated_token_works_for_its_grace_then_is_unknown(deps, token):
    new = service.rotate_token(deps, token, grace_seconds=60).token
    assert new != token and service.create_chat(deps, new) == 2
    assert service.get_application(deps, token).previous  # still works: its grace runs
    assert service.create_chat(deps, token) == 3
    deps.db.tables.now = 60
    identity.forget_everything()  # what KNOWN_SECONDS does to this process's entry
    deps.tokens.ids.clear()  # what the Redis entry's TTL does
    with pytest.raises(NotFound):
        service.create_chat(deps, token)
    assert service.create_chat(deps, new) == 4


def test_without_grace_the_old_token_is_unknown_at_once_in_this_process(deps, token):
    new = service.rotate_token(deps, token, grace_seconds=0).token
    with pytest.raises(NotFound):
        service.create_chat(deps, token)
    assert service.create_chat(deps, new) == 2


def test_a_warm_process_refuses_a_token_revoked_elsewhere_within_its_bound(deps, token, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(identity.time, "monotonic", lambda: clock[0])
    identity.forget_everything()
    service.create_chat(deps, token)  # this process knows the token from now
    app_id = deps.db.application(token).id
    deps.db.rotate_token(app_id, token, "the new token", 0)  # another function rotates it,
    deps.tokens.forget(token)  # and drops it from the shared cache
    clock[0] += identity.KNOWN_SECONDS - 0.1
    assert service.create_chat(deps, token) == 3  # still in this process's memory
    clock[0] += 0.1
    with pytest.raises(NotFound):
        service.create_chat(deps, token)


def test_only_the_current_token_rotates_and_a_revoked_previous_token_is_unknown(deps, token):
    new = service.rotate_token(deps, token, grace_seconds=3600).token
    with pytest.raises(TokenRotated) as refused:
        service.rotate_token(deps, token, grace_seconds=0)
    assert refused.value.status == 409
    service.revoke_previous_token(deps, new)
    identity.forget_everything()
    with pytest.raises(NotFound):
        service.get_application(deps, token)


def test_each_rotation_counts_up_the_version_a_signing_key_rotates_with(deps, token):
    assert service.get_application(deps, token).token_version == 1
    second = service.rotate_token(deps, token, grace_seconds=0)
    third = service.rotate_token(deps, second.token, grace_seconds=0)
    assert (second.token_version, third.token_version) == (2, 3)
    assert service.get_application(deps, third.token).token_version == 3


def test_a_retried_rotation_with_its_key_answers_the_same_new_token_from_the_old_one(deps, token):
    key = RequestKey(secrets.token_urlsafe(16), "rotate 60")
    new = service.rotate_token(deps, token, 60, key).token
    assert service.rotate_token(deps, token, 60, key).token == new  # the answer was lost: retried
    with pytest.raises(BadRequest):
        service.rotate_token(deps, new, 60, RequestKey("short", "rotate 60"))


def test_stores_keep_tokens_only_as_hashes(deps, token):
    key = RequestKey(secrets.token_urlsafe(16), "rotate 0")
    new = service.rotate_token(deps, token, 0, key).token
    keyed = service.create_application(deps, "keyed", RequestKey(secrets.token_urlsafe(16), "d")).token
    kept = json.dumps([list(deps.db.tables.applications), deps.tokens.ids, deps.keys.records], default=str)
    kept += json.dumps(deps.db.tables.sealed_tokens)
    assert all(t not in kept for t in (token, new, keyed))
    assert token_hash(new) in kept and token_hash(keyed) in kept


def test_a_keyed_rotation_without_grace_whose_answer_was_lost_is_replayed_from_the_old_token(deps, token):
    # The default grace is 0: the old token is refused at once, and the retry of a rotation
    # whose answer was lost comes with the old token; else the application is lost to its owner.
    key = RequestKey(secrets.token_urlsafe(16), "rotate 0")
    new = service.rotate_token(deps, token, 0, key).token
    assert service.rotate_token(deps, token, 0, key).token == new
    with pytest.raises(NotFound):
        service.get_application(deps, token)  # the old token still opens nothing else
    with pytest.raises(NotFound):  # nor does another key
        service.rotate_token(deps, token, 0, RequestKey(secrets.token_urlsafe(16), "rotate 0"))
    service.revoke_previous_token(deps, new)
    with pytest.raises(NotFound):  # a revocation ends the replay too
        service.rotate_token(deps, token, 0, key)
    assert service.create_chat(deps, new) == 2
