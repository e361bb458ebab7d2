"""What marking a chat read costs where it counts the deleted messages after the new position.

One chat of N messages, one in 1,000 of them deleted (the tombstones in `message_deletions` too,
as the deletions leave them), in a database of its own (`chat_bench_read`, made once and kept);
the mark's count of deletions after the position (`read_positions.COUNT_DELETED_AFTER`) timed at
positions from the end to the start, and the same count over the chat's messages (what a mark
counted before `message_deletions`), in turn.

    .local/venvs/app/bin/python -m tests.bench.mark_read_bench [--messages 1000000]
"""

import argparse
import json
import statistics
import time
from typing import Any

from chalicelib.adapters.mysql.read_positions import COUNT_DELETED_AFTER
from tests.bench import common

DATABASE = "chat_bench_read"
# What the count read before the deletions had a table of their own.
COUNT_OVER_MESSAGES = (
    "SELECT COUNT(*) FROM messages WHERE chat_id = %s AND number > %s AND deleted_ms IS NOT NULL"
)
REPEATS = 5


def one_chat(messages: int) -> int:
    """The chat's id, its messages made if the database does not hold them already."""
    common.ensure_database(DATABASE)
    with common.datagen.connect(DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM messages")
        if (cur.fetchone() or (0,))[0] != messages:
            common.empty_tables(DATABASE)
            common.root_sql("DELETE FROM message_deletions", database=DATABASE)
            cur.execute("INSERT INTO applications (token, name) VALUES (SHA2('mark-read', 256), 'mark read')")
            cur.execute("INSERT INTO chats (application_id, number) VALUES (%s, 1)", (cur.lastrowid,))
            chat = cur.lastrowid
            cur.execute(
                f"INSERT INTO messages (chat_id, number, body) SELECT {chat}, s.i + 1, 'x' "
                f"FROM {common.datagen.seq(messages)}"
            )
            cur.execute(
                f"UPDATE messages SET deleted_ms = 1, body = '' WHERE chat_id = {chat} AND number % 1000 = 0"
            )
            cur.execute(
                f"INSERT INTO message_deletions SELECT {chat}, number FROM messages WHERE deleted_ms = 1"
            )
            conn.commit()
        cur.execute("SELECT id FROM chats")
        return int((cur.fetchone() or (0,))[0])


def median_ms(cur, statement: str, args: tuple) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        cur.execute(statement, args)
        cur.fetchone()
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 2)


def run(messages: int = 1_000_000, progress=print) -> dict[str, Any]:
    chat = one_chat(messages)
    out: dict[str, Any] = {
        "messages": messages,
        "deleted": messages // 1000,
        "load_start": common.load_average(),
    }
    with common.datagen.connect(DATABASE) as conn, conn.cursor() as cur:
        for after in sorted({0, 1_000, messages // 10, messages // 2, messages}):
            up_to = messages - after
            point = {
                "deletions_ms": median_ms(cur, COUNT_DELETED_AFTER, (chat, up_to)),
                "messages_ms": median_ms(cur, COUNT_OVER_MESSAGES, (chat, up_to)),
            }
            out[f"{after} after"] = point
            progress(f"{after} messages after the position: {point}")
    out["load_end"] = common.load_average()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    print(json.dumps(run(args.messages, progress=common.Progress("mark read")), indent=2))
