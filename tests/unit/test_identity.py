"""Who a credential names (usecases/identity.identify), against the fakes."""

import pytest

from chalicelib.domain.callers import Caller
from chalicelib.domain.errors import NotFound
from chalicelib.usecases import identity, service


def test_an_application_token_is_its_backend_every_chat_read_and_write(deps, token):
    caller = identity.identify(deps, token)
    assert caller == Caller(deps.db.application(token).id)
    assert caller.is_application and caller.user is None
    assert caller.may_read(1) and caller.may_write(123_456)


def test_an_unknown_credential_is_404_and_caches_nothing(deps):
    with pytest.raises(NotFound):
        identity.identify(deps, "no-such-token")
    assert deps.tokens.ids == {} and not identity.remembers("no-such-token")


def test_a_known_token_is_identified_without_mysql(deps, token):
    identity.forget_everything()  # a cold process: Redis answers
    deps.db.tables.down = True
    assert identity.identify(deps, token).application_id == 1


def test_a_token_rotated_away_without_grace_is_unknown_to_identify_at_once(deps, token):
    service.rotate_token(deps, token, grace_seconds=0)
    with pytest.raises(NotFound):
        identity.identify(deps, token)


def test_a_caller_limited_to_some_chats_read_only_may_read_them_and_write_none():
    caller = Caller(7, chats=frozenset({2, 3}), read_only=True)
    assert [caller.may_read(n) for n in (1, 2, 3)] == [False, True, True]
    assert not caller.may_write(2)
    assert Caller(7, chats=frozenset({2})).may_write(2)
