"""The full recount against real MariaDB: range by range, every wrong count is corrected."""

from chalicelib.adapters.mysql.count_store import CountStore
from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.domain.models import NewChat, NewMessage
from chalicelib.wiring import clients, settings


def test_a_full_recount_corrects_every_count_across_ranges(deps, application):
    app_id = deps.db.application(application["token"]).id
    # Chat n holds n % 4 messages: chats without any between chats with some.
    chats = range(1, 31)
    deps.batches.persist(
        [NewChat(app_id, n) for n in chats],
        [NewMessage(app_id, n, k, f"m{k}") for n in chats for k in range(1, n % 4 + 1)],
    )
    mysql = MySQL(clients.mysql_connect(settings.get()))
    with mysql.cursor() as cur:
        # Wrong both ways: too high (zero-message chats too), too low, and a few left right.
        cur.execute(
            "UPDATE chats SET messages_count = CASE MOD(number, 3) WHEN 0 THEN number + 5 WHEN 1 THEN 0 "
            "ELSE MOD(number, 4) END WHERE application_id = %s",
            (app_id,),
        )
        cur.execute("UPDATE applications SET chats_count = 99 WHERE id = %s", (app_id,))
        cur.execute("SELECT MIN(id), MAX(id) FROM chats WHERE application_id = %s", (app_id,))
        first, last = cur.fetchone()
    # Ranges of 4 ids: our 30 chats span 8 or more of them, each with a boundary inside them.
    assert (last - first) // 4 >= 7
    chats_changed, applications_changed = CountStore(mysql).refresh_counts(step=4)
    assert chats_changed >= 17 and applications_changed >= 1  # ours, at least (the tables are shared)
    right = [(n, n % 4) for n in chats]
    assert [(c.number, c.messages_count) for c in deps.db.chats(app_id, 0, 100)] == right
    assert deps.db.application(application["token"]).chats_count == 30
    with mysql.cursor() as cur:  # a few, far apart: written by id list, not by offset
        cur.execute(
            "UPDATE chats SET messages_count = 50 WHERE application_id = %s AND MOD(number, 9) = 1",
            (app_id,),
        )
    assert CountStore(mysql).refresh_counts(step=1000)[0] >= 4
    assert [(c.number, c.messages_count) for c in deps.db.chats(app_id, 0, 100)] == right
