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
