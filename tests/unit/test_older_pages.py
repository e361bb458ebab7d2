"""Reading a chat backwards (service.list_messages_before): a reader opens a long chat at its
newest messages and loads older ones page by page."""

from chalicelib.domain.models import NewChat, NewMessage
from chalicelib.usecases import service


def stored(deps, token, numbers):
    app_id = deps.db.application(token).id
    deps.batches.persist([NewChat(app_id, 1)], [NewMessage(app_id, 1, n, f"m{n}") for n in numbers])


def numbers(page):
    return [m.number for m in page]


def test_a_chat_opens_at_its_newest_messages_and_reads_back_to_the_first(deps, token):
    stored(deps, token, range(1, 8))
    newest, more = service.list_messages_before(deps, token, 1, 2**31 - 1, 3)
    assert (numbers(newest), more) == ([5, 6, 7], True)
    older, more = service.list_messages_before(deps, token, 1, newest[0].number, 3)
    assert (numbers(older), more) == ([2, 3, 4], True)
    first, more = service.list_messages_before(deps, token, 1, older[0].number, 3)
    assert (numbers(first), more) == ([1], False)


def test_a_message_missing_below_the_cursor_never_brings_a_newer_one_into_the_page(deps, token):
    stored(deps, token, [1, 2, 4, 5, 6])  # 3 still queued
    page, _ = service.list_messages_before(deps, token, 1, 5, 3)
    assert numbers(page) == [2, 4]


def test_an_empty_chat_reads_as_an_empty_page_with_nothing_older(deps, token):
    stored(deps, token, [])
    assert service.list_messages_before(deps, token, 1, 2**31 - 1, 50) == ([], False)
