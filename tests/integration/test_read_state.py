"""Read positions and unread counts on the real stores (MySQL, Redis), under concurrent creates."""

import threading

from chalicelib.domain.models import Author
from chalicelib.domain.user_tokens import Grant
from chalicelib.usecases import reading, service


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


def test_deletions_leave_unread_counts_exact_for_readers_with_and_without_a_position(deps, application):
    token = application["token"]
    service.create_chat(deps, token)
    for i in range(5):
        service.create_message(deps, token, 1, f"message {i}")
    ana = service.issue_user_token(deps, token, Grant(Author("ana", "Ana")))[0]
    ben = service.issue_user_token(deps, token, Grant(Author("ben", "Ben")))[0]
    reading.mark_read(deps, ana, 1, 1)
    service.delete_message(deps, token, 1, 4)  # still queued: the delete writes the tombstone row
    service.delete_message(deps, token, 1, 4)
    service.delete_message(deps, token, 1, 1)
    assert service.get_chat(deps, ana, 1).unread_count == 3  # 2, 3 and 5
    assert service.get_chat(deps, ben, 1).unread_count == 3  # never marked: all but the deleted
    assert reading.mark_read(deps, ana, 1, 2)[1] == 2
    assert reading.mark_read(deps, ana, 1, 4)[1] == 1
