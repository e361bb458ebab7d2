"""User tokens (domain/user_tokens.py, usecases/identity.py, service.issue_user_token) against
the fakes, attacked the ways a stolen, forged or stale token would be."""

import base64
import json
import time

import jwt
import pytest

from chalicelib.domain import user_tokens
from chalicelib.domain.errors import (
    BadRequest,
    ChatNotAllowed,
    NotAuthor,
    NotFound,
    RateLimited,
    ReadOnlyToken,
    TokenExpired,
    TokenRevoked,
    TokenRotated,
    Unauthorized,
)
from chalicelib.domain.models import Author, NewChat
from chalicelib.domain.request_keys import RecordLoss, RequestKey
from chalicelib.domain.user_tokens import Grant, KeyId
from chalicelib.usecases import identity, service, writer
from tests import fakes


def issue(deps, token, user="ana", **grant) -> str:
    return service.issue_user_token(deps, token, Grant(Author(user, user.title()), **grant))[0]


def app_id(deps, token) -> int:
    return deps.db.application(token).id


def test_a_user_token_acts_as_its_user_in_its_application(deps, token):
    caller = identity.identify(deps, issue(deps, token))
    assert caller.application_id == app_id(deps, token)
    assert caller.user == Author("ana", "Ana") and caller.chats is None and not caller.read_only
    assert service.create_message(deps, issue(deps, token), 1, "hi") == 1


def test_verifying_a_user_token_reads_no_store_once_its_application_versions_are_known(deps, token):
    user = issue(deps, token)
    identity.identify(deps, user)  # reads the application's key versions once
    deps.db.tables.down = deps.tokens.down = True
    assert identity.identify(deps, user).user == Author("ana", "Ana")


def test_a_forged_or_tampered_token_is_401_and_costs_no_store_round_trip(deps, token):
    user = issue(deps, token)
    header, claims, signature = user.split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=="))
    body["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    deps.db.tables.down = True  # a store read would raise Unavailable, not Unauthorized
    with pytest.raises(Unauthorized):
        identity.identify(deps, f"{header}.{forged}.{signature}")
    with pytest.raises(Unauthorized):
        identity.identify(deps, f"{header}.{claims}.{signature[:-2]}AA")


def test_alg_none_and_public_key_algorithms_are_refused(deps, token):
    claims = jwt.decode(issue(deps, token), options={"verify_signature": False})
    kid = {"kid": f"{app_id(deps, token)}.1"}
    unsigned = jwt.encode(claims, None, algorithm="none", headers=kid)
    with pytest.raises(Unauthorized):
        identity.identify(deps, unsigned)
    # HS/RS confusion: an RS256 header with an HMAC over the bytes a verifier might take for a key.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", **kid}).encode()).decode().rstrip("=")
    payload = issue(deps, token).split(".")[1]
    with pytest.raises(Unauthorized):
        identity.identify(deps, f"{header}.{payload}.c2lnbmF0dXJl")


def test_a_token_signed_with_another_applications_key_or_another_secret_is_401(deps, token):
    other = service.create_application(deps, "other").token
    mine = app_id(deps, token)
    # Application B's key signing a token that claims application A (and the other way round).
    claims = jwt.decode(issue(deps, other), options={"verify_signature": False})
    key_b = user_tokens.signing_key(deps.user_token_secret, KeyId(app_id(deps, other), 1))
    with pytest.raises(Unauthorized):
        identity.identify(deps, jwt.encode(claims, key_b, algorithm="HS256", headers={"kid": f"{mine}.1"}))
    claims["aud"] = str(mine)
    with pytest.raises(Unauthorized):
        identity.identify(deps, jwt.encode(claims, key_b, algorithm="HS256", headers={"kid": f"{mine}.1"}))
    elsewhere = user_tokens.mint(
        b"another deploy's secret", KeyId(mine, 1), Grant(Author("x", "X")), int(time.time())
    )
    with pytest.raises(Unauthorized):
        identity.identify(deps, elsewhere)


def test_a_user_token_reaches_only_its_own_applications_chats(deps, token):
    other = service.create_application(deps, "other").token
    service.create_chat(deps, other)
    service.create_message(deps, other, 1, "B's secret")
    caller = identity.identify(deps, issue(deps, token))
    assert caller.application_id != app_id(deps, other)
    assert service.get_message(deps, issue(deps, other, "ben"), 1, 1).body == "B's secret"
    with pytest.raises(NotFound):
        service.get_message(deps, issue(deps, token), 1, 1)  # A's chat 1 has no message 1


def test_a_token_issued_before_a_rotation_without_grace_is_revoked_at_once_here(deps, token):
    user = issue(deps, token)
    identity.identify(deps, user)
    new = service.rotate_token(deps, token, grace_seconds=0).token
    with pytest.raises(TokenRevoked) as refused:
        identity.identify(deps, user)
    assert refused.value.status == 401 and refused.value.code == "token_revoked"
    assert identity.identify(deps, issue(deps, new)).user == Author("ana", "Ana")


def test_a_rotation_elsewhere_revokes_old_user_tokens_within_the_bound(deps, token, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(identity.time, "monotonic", lambda: clock[0])
    user = issue(deps, token)
    identity.identify(deps, user)
    deps.db.rotate_token(app_id(deps, token), token, "rotated-elsewhere", 0)  # another function
    clock[0] += identity.REVOCATION_SECONDS - 0.1
    assert identity.identify(deps, user).user is not None  # this process's versions are still fresh
    clock[0] += 0.1
    with pytest.raises(TokenRevoked):
        identity.identify(deps, user)


def test_old_user_tokens_work_in_the_rotations_grace_and_stop_when_it_is_revoked(deps, token):
    user = issue(deps, token)
    new = service.rotate_token(deps, token, grace_seconds=600).token
    assert identity.identify(deps, user).user is not None
    fresh = issue(deps, new)  # version 2, known to this process at once
    assert identity.identify(deps, fresh).user is not None
    service.revoke_previous_token(deps, new)
    with pytest.raises(TokenRevoked):
        identity.identify(deps, user)
    assert identity.identify(deps, fresh).user is not None


def test_only_the_current_application_token_issues_user_tokens(deps, token):
    new = service.rotate_token(deps, token, grace_seconds=600).token
    with pytest.raises(TokenRotated):
        issue(deps, token)
    assert issue(deps, new)


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(-user_tokens.LEEWAY_SECONDS + 1, True), (user_tokens.LEEWAY_SECONDS - 1, True), (120, False)],
)
def test_a_clock_a_little_off_is_tolerated_and_far_off_is_not(deps, token, skew, accepted):
    signer = KeyId(app_id(deps, token), 1)
    minted = user_tokens.mint(
        deps.user_token_secret, signer, Grant(Author("a", "A")), int(time.time()) + skew
    )
    if accepted:
        assert identity.identify(deps, minted).user == Author("a", "A")
    else:
        with pytest.raises(Unauthorized):
            identity.identify(deps, minted)


def test_an_expired_token_is_401_token_expired_after_the_leeway(deps, token):
    signer = KeyId(app_id(deps, token), 1)
    grant = Grant(Author("a", "A"), lifetime_seconds=60)
    now = int(time.time())
    just = user_tokens.mint(deps.user_token_secret, signer, grant, now - 60 - user_tokens.LEEWAY_SECONDS + 5)
    assert identity.identify(deps, just).user is not None
    gone = user_tokens.mint(deps.user_token_secret, signer, grant, now - 60 - user_tokens.LEEWAY_SECONDS - 1)
    with pytest.raises(TokenExpired) as refused:
        identity.identify(deps, gone)
    assert refused.value.code == "token_expired"


def test_a_token_living_longer_than_any_we_mint_is_refused(deps, token):
    signer = KeyId(app_id(deps, token), 1)
    key = user_tokens.signing_key(deps.user_token_secret, signer)
    now = int(time.time())
    claims = {"iss": "chat-api", "aud": str(signer.application_id), "sub": "a", "name": "A"}
    claims |= {"scope": "read write", "iat": now, "exp": now + 10 * 365 * 86400}
    with pytest.raises(Unauthorized):
        identity.identify(
            deps, jwt.encode(claims, key, algorithm="HS256", headers={"kid": f"{signer.application_id}.1"})
        )


def test_a_huge_token_is_refused_before_it_is_parsed(deps, token, monkeypatch):
    monkeypatch.setattr(jwt, "get_unverified_header", lambda _: pytest.fail("parsed"))
    with pytest.raises(Unauthorized):
        identity.identify(deps, "a." + "b" * 1_000_000 + ".c")


def test_a_read_only_token_reads_and_cannot_write(deps, token):
    reader = issue(deps, token, read_only=True)
    service.create_message(deps, token, 1, "for readers")
    assert service.get_message(deps, reader, 1, 1).body == "for readers"
    with pytest.raises(ReadOnlyToken) as refused:
        service.create_message(deps, reader, 1, "nope")
    assert (refused.value.status, refused.value.code) == (403, "read_only_token")
    for write in (
        lambda: service.edit_message(deps, reader, 1, 1, "x"),
        lambda: service.create_chat(deps, reader),
    ):
        with pytest.raises(ReadOnlyToken):
            write()


def test_a_token_for_some_chats_reaches_only_those(deps, token):
    service.create_chat(deps, token)
    service.create_chat(deps, token)  # chats 1, 2, 3
    deps.batches.persist([NewChat(app_id(deps, token), n) for n in (1, 2, 3)], [])  # the writer ran
    limited = issue(deps, token, chats=frozenset({2}))
    assert service.create_message(deps, limited, 2, "in 2") == 1
    assert [c.number for c in service.list_chats(deps, limited, 0, 50)] == [2]
    for chat in (1, 3):
        with pytest.raises(ChatNotAllowed) as refused:
            service.get_chat(deps, limited, chat)
        assert refused.value.code == "chat_not_allowed"
    with pytest.raises(ChatNotAllowed):
        service.create_chat(deps, limited)


def test_one_user_flooding_is_stopped_by_their_own_quota_before_the_applications(deps, token):
    deps.limits = fakes.FakeRateLimits({"user-creates": 3, "creates": 10})
    flooder, other = issue(deps, token, "mallory"), issue(deps, token, "ben")
    for _ in range(3):
        service.create_message(deps, flooder, 1, "spam")
    with pytest.raises(RateLimited) as limited:
        service.create_message(deps, flooder, 1, "spam")
    assert limited.value.policy == "user-creates"
    assert service.create_message(deps, other, 1, "still heard") == 4
    # Two user tokens issued and four messages: the refused one took nothing of the application's.
    assert deps.limits.used[(f"application:{app_id(deps, token)}", "creates")] == 6


def test_another_users_idempotency_key_replays_nothing_of_the_first(deps, token):
    key = RequestKey("5f0c2a1e-9b7d-4c55-8d3e-2f1a6b0c9e47", "POST message hi")
    assert service.create_message(deps, issue(deps, token, "ana"), 1, "hi", key) == 1
    assert service.create_message(deps, issue(deps, token, "ana"), 1, "hi", key) == 1  # her retry
    assert service.create_message(deps, issue(deps, token, "ben"), 1, "hi", key) == 2  # his own
    queued = [(str(i), body) for i, body in enumerate(deps.queue.sent)]
    assert not writer.persist_records(deps, queued, [])  # the writer stored them, create ids too
    deps.keys.records.clear()  # and Redis lost the records: a retry is looked for in MySQL
    deps.keys.loss = RecordLoss.POSSIBLE
    assert service.create_message(deps, issue(deps, token, "ana"), 1, "hi", key) == 1  # found there
    assert service.create_message(deps, issue(deps, token, "mallory"), 1, "hi", key) == 3


@pytest.mark.parametrize(
    "grant",
    [
        Grant(Author("", "Ana")),
        Grant(Author("a" * 129, "Ana")),
        Grant(Author("ana", " ")),
        Grant(Author("ana", "Ana"), chats=frozenset()),
        Grant(Author("ana", "Ana"), chats=frozenset({0})),
        Grant(Author("ana", "Ana"), lifetime_seconds=user_tokens.MAX_LIFETIME_SECONDS + 1),
        Grant(Author("ana", "Ana"), lifetime_seconds=59),
    ],
)
def test_a_grant_out_of_bounds_is_400_and_mints_nothing(deps, token, grant):
    with pytest.raises(BadRequest):
        service.issue_user_token(deps, token, grant)


def test_a_token_verified_once_still_expires_on_time_and_its_rotation_still_counts(deps, token, monkeypatch):
    signer = KeyId(app_id(deps, token), 1)
    now = int(time.time())
    grant = Grant(Author("a", "A"), lifetime_seconds=60)
    minted = user_tokens.mint(
        deps.user_token_secret, signer, grant, now - 60 - user_tokens.LEEWAY_SECONDS + 2
    )
    assert identity.identify(deps, minted).user is not None  # verified, and kept by this process
    real_time = time.time
    monkeypatch.setattr(identity.time, "time", lambda: now + 3.0)
    with pytest.raises(TokenExpired):
        identity.identify(deps, minted)
    monkeypatch.setattr(identity.time, "time", real_time)
    kept = issue(deps, token)
    identity.identify(deps, kept)
    service.rotate_token(deps, token, grace_seconds=0)
    with pytest.raises(TokenRevoked):
        identity.identify(deps, kept)


def test_a_user_edits_only_their_own_messages_and_the_application_any(deps, token):
    ana, ben = issue(deps, token, "ana"), issue(deps, token, "ben")
    mine = service.create_message(deps, ana, 1, "Ana's")
    with pytest.raises(NotAuthor) as refused:
        service.edit_message(deps, ben, 1, mine, "Ben was here")
    assert (refused.value.status, refused.value.code) == (403, "not_author")
    assert service.edit_message(deps, ana, 1, mine, "Ana's, edited").body == "Ana's, edited"
    assert service.edit_message(deps, token, 1, mine, "moderated").body == "moderated"
    backend = service.create_message(deps, token, 1, "from the backend")
    with pytest.raises(NotAuthor):
        service.edit_message(deps, ana, 1, backend, "mine now")
