"""The MySQL schema, as idempotent statements that run on MySQL 8 and MariaDB alike.

Each migration is applied once and recorded in `schema_migrations`; add new ones at the end.
"""

import re

import pymysql

from ...domain.errors import Refused
from ...domain.models import Login
from .mysql import Cursor, MySQL

# Errors of the connection or the moment, not of the statement: the driver's own (below 1000: a
# closed connection), the client library's (2000-2999: lost, the server gone), a lock or the
# server busy, the statement interrupted.
_SERVER_ERRORS_FROM = 1000
_CLIENT_ERRORS = range(2000, 3000)
_TRANSIENT = {1040, 1053, 1205, 1213, 1317, 1927, 1969, 3024}

MIGRATIONS = [
    (
        "0001_applications",
        """
        CREATE TABLE IF NOT EXISTS applications (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            token VARCHAR(64) NOT NULL,
            name VARCHAR(255) NOT NULL,
            chats_count INT UNSIGNED NOT NULL DEFAULT 0,
            created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_applications_token (token)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    (
        "0002_chats",
        """
        CREATE TABLE IF NOT EXISTS chats (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            application_id BIGINT UNSIGNED NOT NULL,
            number INT UNSIGNED NOT NULL,
            messages_count INT UNSIGNED NOT NULL DEFAULT 0,
            created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_chats_application_number (application_id, number),
            CONSTRAINT fk_chats_application FOREIGN KEY (application_id) REFERENCES applications (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    (
        "0003_messages",
        """
        CREATE TABLE IF NOT EXISTS messages (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            chat_id BIGINT UNSIGNED NOT NULL,
            number INT UNSIGNED NOT NULL,
            body TEXT NOT NULL,
            version INT UNSIGNED NOT NULL DEFAULT 1,
            created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_messages_chat_number (chat_id, number),
            CONSTRAINT fk_messages_chat FOREIGN KEY (chat_id) REFERENCES chats (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    # A create's id (minted per create, or derived from its Idempotency-Key) is stored with its
    # row: the writer tells a replay from a clash by it, and a retried create is found by it.
    (
        "0004_chats_create_id",
        """
        ALTER TABLE chats ADD COLUMN create_id CHAR(32) CHARACTER SET ascii NULL,
            ADD KEY ix_chats_create_id (application_id, create_id)""",
    ),
    (
        "0005_messages_create_id",
        """
        ALTER TABLE messages ADD COLUMN create_id CHAR(32) CHARACTER SET ascii NULL,
            ADD KEY ix_messages_create_id (create_id)""",
    ),
    (
        "0006_applications_create_id",
        """
        ALTER TABLE applications ADD COLUMN create_id CHAR(32) CHARACTER SET ascii NULL,
            ADD UNIQUE KEY uq_applications_create_id (create_id)""",
    ),
    # Creates that found their number stored for another create: kept here, never dropped.
    (
        "0007_create_conflicts",
        """
        CREATE TABLE IF NOT EXISTS create_conflicts (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            kind VARCHAR(16) NOT NULL,
            application_id BIGINT UNSIGNED NOT NULL,
            chat_number INT UNSIGNED NOT NULL,
            number INT UNSIGNED NOT NULL,
            create_id CHAR(32) CHARACTER SET ascii NOT NULL,
            stored_create_id CHAR(32) CHARACTER SET ascii NOT NULL,
            body TEXT NULL,
            detected_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_create_conflicts_create_id (create_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    (
        # A token is a key, compared byte for byte: under utf8mb4_unicode_ci any letter-case
        # variant of a token opened its application. Tokens are base64url, so ASCII holds them
        # (a quarter of utf8mb4's index width); ascii_bin exists on MySQL 8 and MariaDB alike.
        "0008_applications_token_binary",
        """
        ALTER TABLE applications
            MODIFY token VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL""",
    ),
    # Rotation: the token a rotation replaced keeps working until its grace ends; the version
    # counts rotations. A keyed create keeps its answer's token sealed with the key.
    (
        "0009_applications_rotation",
        """
        ALTER TABLE applications
            ADD COLUMN previous_token VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
            ADD COLUMN previous_token_expires_at DATETIME(6) NULL,
            ADD COLUMN token_version INT UNSIGNED NOT NULL DEFAULT 1,
            ADD COLUMN create_sealed_token VARCHAR(64) CHARACTER SET ascii NULL,
            ADD UNIQUE KEY uq_applications_previous_token (previous_token)""",
    ),
    # Tokens are kept as their SHA-256 (hex, 64 characters: the column's width), never as sent.
    # Only rows not hashed yet: a run cut off before it was recorded (a timeout, a stopped
    # function) runs again, and hashing a hash would lose every application's token.
    (
        "0010_applications_token_hashed",
        "UPDATE applications SET token = SHA2(token, 256) WHERE token NOT REGEXP '^[0-9a-f]{64}$'",
    ),
    # Live delivery's sockets and what each follows: here rather than in Redis, whose failover
    # would drop subscriptions without a word (sockets open, pushes gone). A row outlives its
    # socket only until a send finds it gone or its `expires_at` (AWS's 2-hour limit) passes.
    (
        "0011_socket_connections",
        """
        CREATE TABLE IF NOT EXISTS socket_connections (
            connection_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            application_id BIGINT UNSIGNED NOT NULL,
            token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
            chats TEXT NULL,
            connected_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            expires_at DATETIME(6) NOT NULL,
            KEY ix_socket_connections_application (application_id, expires_at)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    (
        "0012_socket_subscriptions",
        """
        CREATE TABLE IF NOT EXISTS socket_subscriptions (
            connection_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            application_id BIGINT UNSIGNED NOT NULL,
            chat_number INT UNSIGNED NOT NULL,
            PRIMARY KEY (connection_id, chat_number),
            KEY ix_socket_subscriptions_chat (application_id, chat_number),
            CONSTRAINT fk_socket_subscriptions_connection FOREIGN KEY (connection_id)
                REFERENCES socket_connections (connection_id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    # How far each user has read each chat (domain/reading.py), and whether the application
    # lets its users see each other's positions (read receipts).
    (
        "0013_read_positions",
        """
        CREATE TABLE IF NOT EXISTS read_positions (
            chat_id BIGINT UNSIGNED NOT NULL,
            user_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            user_name VARCHAR(255) NOT NULL,
            up_to INT UNSIGNED NOT NULL,
            deleted_after INT UNSIGNED NOT NULL DEFAULT 0,
            read_at_ms BIGINT UNSIGNED NOT NULL,
            PRIMARY KEY (chat_id, user_id),
            KEY ix_read_positions_up_to (chat_id, up_to),
            CONSTRAINT fk_read_positions_chat FOREIGN KEY (chat_id) REFERENCES chats (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    (
        "0014_applications_read_receipts",
        "ALTER TABLE applications ADD COLUMN read_receipts BOOLEAN NOT NULL DEFAULT FALSE",
    ),
    # Webhooks: the endpoints an application registered, numbered per application like chats,
    # with their signing secrets (the one a rotation replaced signs beside the new one until its
    # grace ends), and the endpoint's own backoff while it fails (one probe, not one per chat).
    (
        "0015_webhook_endpoints",
        """
        CREATE TABLE IF NOT EXISTS webhook_endpoints (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            application_id BIGINT UNSIGNED NOT NULL,
            number INT UNSIGNED NOT NULL,
            url VARCHAR(2048) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            events VARCHAR(255) CHARACTER SET ascii NOT NULL,
            description VARCHAR(255) NOT NULL DEFAULT '',
            enabled TINYINT(1) NOT NULL DEFAULT 1,
            secret VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            previous_secret VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
            previous_secret_expires_at DATETIME(6) NULL,
            failures INT UNSIGNED NOT NULL DEFAULT 0,
            retry_at DATETIME(6) NULL,
            created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_webhook_endpoints_application_number (application_id, number),
            CONSTRAINT fk_webhook_endpoints_application FOREIGN KEY (application_id)
                REFERENCES applications (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    # Per (endpoint, chat): the feed position delivered, and the retry state of the next one.
    # Durable here, not in Redis: a failover or a killed function redelivers, never skips. One
    # worker holds a pair's lease; another that finds it held sets `recheck` for the holder.
    (
        "0016_webhook_cursors",
        """
        CREATE TABLE IF NOT EXISTS webhook_cursors (
            endpoint_id BIGINT UNSIGNED NOT NULL,
            chat_number INT UNSIGNED NOT NULL,
            application_id BIGINT UNSIGNED NOT NULL,
            delivered_position BIGINT NOT NULL DEFAULT -1,
            attempts INT UNSIGNED NOT NULL DEFAULT 0,
            failing_since DATETIME(6) NULL,
            next_attempt_at DATETIME(6) NULL,
            last_error VARCHAR(255) NULL,
            lease_id CHAR(32) CHARACTER SET ascii NULL,
            lease_until DATETIME(6) NULL,
            recheck TINYINT(1) NOT NULL DEFAULT 0,
            PRIMARY KEY (endpoint_id, chat_number),
            KEY ix_webhook_cursors_due (next_attempt_at),
            CONSTRAINT fk_webhook_cursors_endpoint FOREIGN KEY (endpoint_id)
                REFERENCES webhook_endpoints (id) ON DELETE CASCADE
        ) ENGINE=InnoDB""",
    ),
    # Events whose retries ran out: kept for the application to list and replay.
    (
        "0017_webhook_dead_letters",
        """
        CREATE TABLE IF NOT EXISTS webhook_dead_letters (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            application_id BIGINT UNSIGNED NOT NULL,
            endpoint_id BIGINT UNSIGNED NOT NULL,
            chat_number INT UNSIGNED NOT NULL,
            position BIGINT UNSIGNED NOT NULL,
            event_type VARCHAR(32) CHARACTER SET ascii NOT NULL,
            message_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
            payload MEDIUMTEXT NOT NULL,
            attempts INT UNSIGNED NOT NULL,
            last_error VARCHAR(255) NULL,
            failed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            replay_requested_at DATETIME(6) NULL,
            replayed_at DATETIME(6) NULL,
            KEY ix_webhook_dead_letters_application (application_id, id),
            KEY ix_webhook_dead_letters_replay (replay_requested_at),
            CONSTRAINT fk_webhook_dead_letters_endpoint FOREIGN KEY (endpoint_id)
                REFERENCES webhook_endpoints (id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    ),
    # Times as the API accepted them (epoch ms, carried by the creation event: every store
    # answers the same instant), the author a user token named, and the change feed: a message's
    # latest change takes the next of its chat's positions (`chats.last_change`), under the
    # chat row's lock in the same transaction (docs/architecture.md, "The change feed"). Rows
    # from before have NULL times (their `created_at` answers) and no position.
    (
        "0018_messages_times_authors_changes",
        """
        ALTER TABLE messages
            ADD COLUMN created_ms BIGINT NULL,
            ADD COLUMN edited_ms BIGINT NULL,
            ADD COLUMN deleted_ms BIGINT NULL,
            ADD COLUMN author_id VARCHAR(255) NULL,
            ADD COLUMN author_name VARCHAR(255) NULL,
            ADD COLUMN change_position BIGINT UNSIGNED NULL,
            ADD KEY ix_messages_chat_change (chat_id, change_position)""",
    ),
    (
        "0019_chats_times_changes",
        """
        ALTER TABLE chats
            ADD COLUMN created_ms BIGINT NULL,
            ADD COLUMN last_message_ms BIGINT NULL,
            ADD COLUMN last_change BIGINT UNSIGNED NOT NULL DEFAULT 0""",
    ),
    # A reader who never marked a chat has every message unread but the deleted ones: counted
    # by each deletion, in its transaction (domain/reading.py).
    (
        "0020_chats_deleted_count",
        "ALTER TABLE chats ADD COLUMN deleted_count INT UNSIGNED NOT NULL DEFAULT 0",
    ),
    # Webhook delivery's sweep reads the chats changed in its window (change_feed.SELECT_BEHIND),
    # and an endpoint back from its backoff the chats that waited for it (webhook_cursors).
    ("0021_chats_updated_at", "ALTER TABLE chats ADD KEY ix_chats_updated_at (updated_at)"),
    (
        "0022_webhook_cursors_endpoint_due",
        "ALTER TABLE webhook_cursors ADD KEY ix_webhook_cursors_endpoint_due (endpoint_id, next_attempt_at)",
    ),
    # The highest message number a chat's rows may hold (message_rows.py): every row is at most
    # it, so the writer need not look for rows above it. NULL, not known, for the chats that had
    # rows before it was kept; a chat made from then on starts at 0.
    ("0023_chats_last_number", "ALTER TABLE chats ADD COLUMN last_number INT UNSIGNED NULL"),
    ("0024_chats_last_number_default", "ALTER TABLE chats ALTER COLUMN last_number SET DEFAULT 0"),
    # The tombstones' numbers, by chat: marking a chat read counts those after the new position
    # from here (domain/reading.py), never the chat's messages (0.6 s for 100,000 after it,
    # docs/performance.md). Each deletion adds its row in its own transaction; the second
    # statement copies the tombstones left before (one scan of the messages, once).
    (
        "0025_message_deletions",
        """
        CREATE TABLE IF NOT EXISTS message_deletions (
            chat_id BIGINT UNSIGNED NOT NULL,
            number INT UNSIGNED NOT NULL,
            PRIMARY KEY (chat_id, number),
            CONSTRAINT fk_message_deletions_chat FOREIGN KEY (chat_id) REFERENCES chats (id)
        ) ENGINE=InnoDB""",
    ),
    (
        "0026_message_deletions_before",
        "INSERT IGNORE INTO message_deletions (chat_id, number) "
        "SELECT chat_id, number FROM messages WHERE deleted_ms IS NOT NULL",
    ),
    # A socket opened with a user token keeps the token version whose key signed it: once that
    # version no longer verifies (rotated past its grace, or revoked), the push closes it.
    (
        "0027_socket_connections_token_version",
        "ALTER TABLE socket_connections ADD COLUMN token_version INT UNSIGNED NULL",
    ),
    # The sweep's range is on the minute of `updated_at`, not the instant: the writer moves
    # every chat of a batch, and an index on the instant moved each of them in the index too
    # (~0.6 ms of MariaDB's CPU a batch of 100); the minute moves once a minute at most. Three
    # statements: MySQL 8 adds or drops a virtual column in place only in a statement of its own
    # (else it copies the table, writes to chats waiting), and adds the key in place after.
    (
        "0028_chats_updated_minute",
        "ALTER TABLE chats "
        "ADD COLUMN updated_minute BIGINT UNSIGNED AS (TO_SECONDS(updated_at) DIV 60) VIRTUAL",
    ),
    ("0029_chats_updated_minute_key", "ALTER TABLE chats ADD KEY ix_chats_updated_minute (updated_minute)"),
    ("0030_chats_updated_at_key_dropped", "ALTER TABLE chats DROP KEY ix_chats_updated_at"),
]

# What the API, the writer and the counter may do: change data, never its structure.
API_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
_DATABASE = re.compile(r"[A-Za-z0-9_]{1,64}")

CREATE_MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        name VARCHAR(128) NOT NULL PRIMARY KEY,
        applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ENGINE=InnoDB"""


def _apply(cur: Cursor, name: str, statement: str) -> None:
    """Runs one migration. The server refusing it (a key or column already there, say) fails
    the deploy with the migration's name and MySQL's words, not as a database that is down."""
    try:
        cur.execute(statement)
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code is None or code < _SERVER_ERRORS_FROM or code in _CLIENT_ERRORS or code in _TRANSIENT:
            raise  # the cursor reports the database unavailable or busy
        raise Refused(f"migration {name} failed: MySQL error {code}: {exc.args[-1]}") from exc


class Schema:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def migrate(self) -> list[str]:
        """Applies the migrations not yet recorded; returns their names."""
        applied = []
        with self._mysql.cursor() as cur:
            cur.execute(CREATE_MIGRATIONS_TABLE)
            cur.execute("SELECT name FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for name, statement in MIGRATIONS:
                if name not in done:
                    _apply(cur, name, statement)
                    cur.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                    applied.append(name)
        return applied

    def grant_api_user(self, login: Login) -> None:
        """Creates the API's login, or sets its password (a rotated secret), with data rights
        only: SELECT, INSERT, UPDATE, DELETE on this database; no DDL, no other database. Rights
        it held before are taken back; the schema function's own login is refused (ValueError)."""
        with self._mysql.cursor() as cur:
            cur.execute("SELECT DATABASE(), CURRENT_USER()")
            row = cur.fetchone()
            database, me = row if row else (None, "")
            # An identifier cannot be a parameter: checked, then quoted.
            if not isinstance(database, str) or not _DATABASE.fullmatch(database):
                raise ValueError(f"cannot grant on database {database!r}")
            if str(me).rsplit("@", 1)[0] == login.user:
                raise ValueError(f"the API login {login.user!r} is the schema function's own login")
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (login.user, login.password))
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (login.user, login.password))
            cur.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@'%%'", (login.user,))
            cur.execute(f"GRANT {', '.join(API_PRIVILEGES)} ON `{database}`.* TO %s@'%%'", (login.user,))
