"""Every Redis key the product writes: its name, and who owns it. Tests and tools use these too.

numbering:*   the numbering epoch (epoch.py) and the counters (reservations.py, sweep.py)
pending:*     bodies of messages queued and not yet in MySQL (reservations.py, pending.py)
counts:*      which chats and applications changed since the counter's last run (changes.py, sweep.py)
idem:*        Idempotency-Key records, and their count in all scopes (idempotency.py)
token:*       application ids by token (tokens.py)
rate:*        request quotas (ratelimit.py)
hooks:*       webhook deliveries in flight per application (delivery_slots.py), slow lane (delivery_lanes.py)
"""

from ...domain.models import ChatKey, IdleCounter
from ...domain.tokens import token_hash

# Named apart from the string keys numbering used before epochs knew their server: after an
# upgrade the epoch is simply not open, and reopens once the queue has drained.
EPOCH = "numbering:epoch"
CLOSED = "numbering:closed"
SEEDED = "numbering:seeded"
# Held by the one request that reads the dead-letter queue and opens an epoch: two at once could
# each see part of the DLQ (a message another reader holds is invisible) and open with too low floors.
REOPENING = "numbering:reopening"
# The creates the last reopening found in the dead-letter queue, by create id: MySQL lacks them.
DEAD_LETTERED = "numbering:dead-lettered"
CHANGED_CHATS = "counts:changed-chats"
CHANGED_APPLICATIONS = "counts:changed-applications"
COUNTED_EPOCH = "counts:epoch"
SWEEP_CURSOR = "counts:sweep-cursor"  # where the counter's sweep of idle counters goes on
COUNTERS = "numbering:[cm]*"  # a SCAN pattern: chats and messages counters (and `closed`, not a hash)
_CHATS_PREFIX, _MESSAGES_PREFIX = "numbering:chats:", "numbering:messages:"


def chats(application_id: int) -> str:
    """The counter of an application's chat numbers."""
    return f"{_CHATS_PREFIX}{application_id}"


def messages(application_id: int, chat_number: int) -> str:
    """The counter of a chat's message numbers."""
    return f"{_MESSAGES_PREFIX}{application_id}:{chat_number}"


def is_counter(key: str) -> bool:
    return key.startswith((_CHATS_PREFIX, _MESSAGES_PREFIX))


def counter(idle: IdleCounter) -> str:
    if idle.chat_number is None:
        return chats(idle.application_id)
    return messages(idle.application_id, idle.chat_number)


def idle_counter(key: str, state: bytes, highest: int) -> IdleCounter:
    if key.startswith(_CHATS_PREFIX):
        return IdleCounter(int(key.removeprefix(_CHATS_PREFIX)), None, int(highest), state.decode())
    application_id, chat_number = key.removeprefix(_MESSAGES_PREFIX).split(":")
    return IdleCounter(int(application_id), int(chat_number), int(highest), state.decode())


def dead_lettered(application_id: int, chat_number: int, create_id: str) -> str:
    """A dead-lettered create as a field of DEAD_LETTERED (chat number 0: a chat's creation)."""
    return f"{application_id}:{chat_number}:{create_id}"


def pending(application_id: int, chat_number: int) -> str:
    """The bodies of a chat's queued messages, by number."""
    return f"pending:{application_id}:{chat_number}"


def changed_chat(chat: ChatKey) -> str:
    """A chat as a member of CHANGED_CHATS."""
    return f"{chat[0]}:{chat[1]}"


def chat_of(member: str) -> ChatKey:
    application_id, chat_number = member.split(":")
    return int(application_id), int(chat_number)


# How many records all scopes hold (no TTL; records made before it counted take it below zero
# as they go, which makes it exact again within the day a record lives).
IDEMPOTENCY_TOTAL = "idem:total"
# Each scope's number of records, by scope (no TTL): past the total, the scope holding most makes
# room. A scope whose records predate this count joins it at its next claim or expiry run.
IDEMPOTENCY_SIZES = "idem:sizes"
_IDEMPOTENCY_PREFIX, _IDEMPOTENCY_INDEX = "idem:", ":at"


def idempotency(scope: str) -> list[str]:
    """A scope's Idempotency-Key records, and their index by age."""
    return [f"{_IDEMPOTENCY_PREFIX}{scope}", f"{_IDEMPOTENCY_PREFIX}{scope}{_IDEMPOTENCY_INDEX}"]


def idempotency_naming() -> list[str]:
    """What a script puts around a scope to name its records and their index."""
    return [_IDEMPOTENCY_PREFIX, _IDEMPOTENCY_INDEX]


def idempotency_scope(index: str) -> str:
    """The scope whose index of records is `index`."""
    return index.removeprefix(_IDEMPOTENCY_PREFIX).removesuffix(_IDEMPOTENCY_INDEX)


def token(value: str) -> str:
    """An application's id by its token; the key holds the token's hash, never the token."""
    return f"token:{token_hash(value)}"


def quota(kind: str, subject: str | int) -> str:
    """A subject's (an application's, a client address's, everyone's) count of `kind` requests."""
    return f"rate:{kind}:{subject}"


# The families whose keys carry a TTL, the only ones eviction may take: a lost one costs a lookup
# (or lets a few more webhook deliveries run at once), never a number or a record (the others
# have none).
CACHES = ("pending:", "token:", "rate:", "hooks:")


def family(key: str) -> str:
    """The family a key belongs to: "numbering:", "pending:", ..."""
    return key.split(":", 1)[0] + ":"


def of_application(application_id: int) -> list[str]:
    """SCAN patterns of an application's per-chat keys: its message counters and pending bodies."""
    return [f"{_MESSAGES_PREFIX}{application_id}:*", f"pending:{application_id}:*"]


# SCAN patterns, for tools and tests that look over the keys of one kind.
ALL_CHATS_COUNTERS = f"{_CHATS_PREFIX}*"
ALL_MESSAGES_COUNTERS = f"{_MESSAGES_PREFIX}*"
ALL_IDEMPOTENCY = "idem:*"
ALL_IDEMPOTENCY_INDEXES = f"{_IDEMPOTENCY_PREFIX}*{_IDEMPOTENCY_INDEX}"
ALL_QUOTAS = "rate:*"


def delivery_slots(application_id: int) -> str:
    """How many of an application's webhook deliveries run now (a count that expires)."""
    return f"hooks:slots:{application_id}"


def slow_lane(application_id: int) -> str:
    """Present while the application's webhooks deliver in the slow lane (expires)."""
    return f"hooks:slow:{application_id}"
