"""Read positions and unread counts on the real stores (MySQL, Redis), under concurrent creates."""

import threading

from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.mysql.schema import MIGRATIONS
from chalicelib.domain.models import Author
from chalicelib.domain.user_tokens import Grant
from chalicelib.usecases import reading, service
from chalicelib.wiring import clients, settings


def test_unread_counts_stay_exact_while_others_create_and_the_reader_marks(deps, application):
    token = application["token"]
    service.create_chat(deps, token)
    reader = service.issue_user_token(deps, token, Grant(Author("ana", "Ana")))[0]
    writers = [service.issue_user_token(deps, token, Grant(Author(f"w{i}", f"W{i}")))[0] for i in range(4)]
    marks: list[tuple[int, int]] = []

    def write(user: str) -> None:
        for i in range(10):
            service.create_message(deps, user, 1, f"message {i}")

    def read() -> None:
        for up_to in (3, 9, 17, 25):
            position, unread = reading.mark_read(deps, reader, 1, up_to)
            marks.append((position.up_to, unread))

    threads = [threading.Thread(target=write, args=(w,)) for w in writers] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ups = [up for up, _ in marks]
    assert ups == sorted(ups) and all(unread >= 0 for _, unread in marks)  # forward only
    final = marks[-1][0]
    assert service.get_chat(deps, reader, 1).unread_count == 40 - final
    assert reading.mark_read(deps, reader, 1, 10_000)[1] == 0  # clamped to the newest: all read
    assert reading.mark_read(deps, reader, 1, 10_000)[0].up_to == 40


def chat_of_five(deps, application) -> tuple[str, str]:
    """Chat 1 with messages 1 to 5; (the application token, a user token of Ana)."""
    token = application["token"]
    service.create_chat(deps, token)
    for i in range(5):
        service.create_message(deps, token, 1, f"message {i}")
    return token, service.issue_user_token(deps, token, Grant(Author("ana", "Ana")))[0]


def test_deletions_leave_unread_counts_exact_for_readers_with_and_without_a_position(deps, application):
    token, ana = chat_of_five(deps, application)
    ben = service.issue_user_token(deps, token, Grant(Author("ben", "Ben")))[0]
    reading.mark_read(deps, ana, 1, 1)
    service.delete_message(deps, token, 1, 4)  # still queued: the delete writes the tombstone row
    service.delete_message(deps, token, 1, 4)
    service.delete_message(deps, token, 1, 1)
    assert service.get_chat(deps, ana, 1).unread_count == 3  # 2, 3 and 5
    assert service.get_chat(deps, ben, 1).unread_count == 3  # never marked: all but the deleted
    assert reading.mark_read(deps, ana, 1, 2)[1] == 2
    assert reading.mark_read(deps, ana, 1, 4)[1] == 1


def test_a_mark_counts_the_tombstones_left_before_deletions_were_recorded(deps, application):
    token, ana = chat_of_five(deps, application)
    service.delete_message(deps, token, 1, 3)
    service.delete_message(deps, token, 1, 5)
    mysql = MySQL(clients.mysql_connect(settings.get()))
    chat_id = mysql.one(
        "SELECT c.id FROM chats c JOIN applications a ON a.id = c.application_id "
        "WHERE a.token = SHA2(%s, 256) AND c.number = 1",
        (token,),
    )
    assert chat_id is not None
    with mysql.cursor() as cur:  # as tombstones left before the table kept them, then copied
        cur.execute("DELETE FROM message_deletions WHERE chat_id = %s", chat_id)
        cur.execute(dict(MIGRATIONS)["0026_message_deletions_before"])
    assert reading.mark_read(deps, ana, 1, 2)[1] == 1  # 4: 3 and 5 deleted
