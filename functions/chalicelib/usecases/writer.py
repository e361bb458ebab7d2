"""The writer: persists a batch of queued events in bulk and says which records failed.

A record fails alone when it can never be written (it then ends in the dead-letter queue) and
the whole batch is retried when a store is down: every step is idempotent, so a redelivery
changes nothing that is already in place.
"""

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from ..domain import events
from ..domain.changes import ChatChanged
from ..domain.errors import InvalidEvent, Refused, Unavailable
from ..domain.events import MessageEdited
from ..domain.models import Clash, NewChat, NewMessage
from .announcing import announce
from .ports import WriterDeps

log = Logger(service="chat", child=True)
# Indexes a batch while the main thread writes it to MySQL: one thread, kept across invocations
# (and idle between them, as every invocation waits for its result).
_indexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer")


def log_batch(records: Sequence[dict[str, Any]], failed: Mapping[str, str]) -> None:
    """One line a batch: the correlation ids of the API requests whose events are now in MySQL and
    the index, and of those that failed, so that a search for a request's id finds this line too."""
    written: list[str] = []
    not_written: dict[str, str] = {}
    for record in records:
        key = events.correlation_id(record) or record["messageId"]
        if record["messageId"] in failed:
            not_written[key] = failed[record["messageId"]]
        else:
            written.append(key)
    log.info("batch written", correlation_ids=written, failed=not_written)


def lag_ms(event: Mapping[str, Any], now: float) -> float | None:
    """How long the batch's oldest event waited between being queued and being written, in ms."""
    attributes = [r.get("attributes") or {} for r in event["Records"]]
    sent = [int(a["SentTimestamp"]) for a in attributes if "SentTimestamp" in a]
    return max(now * 1000 - min(sent), 0.0) if sent else None


def persist_records(
    deps: WriterDeps, records: Sequence[tuple[str, str]], clashes: list[Clash] | None = None
) -> dict[str, str]:
    """Writes what it can of `records` ((id, body) pairs); returns {id: reason} of the failures.
    Creates that clashed with another create's number are appended to `clashes`: they are kept
    in `create_conflicts` and their records succeed (a retry cannot change them)."""
    clashes = [] if clashes is None else clashes
    failed: dict[str, str] = {}
    parsed: dict[str, events.Event] = {}
    for record_id, body in records:
        try:
            parsed[record_id] = events.parse(body)
        except InvalidEvent as exc:
            failed[record_id] = exc.message
            log.error("poison event", record_id=record_id, reason=exc.message)
    creations = {rid: e for rid, e in parsed.items() if isinstance(e, (NewChat, NewMessage))}
    messages = {rid: e for rid, e in creations.items() if isinstance(e, NewMessage)}
    edits = {rid: e for rid, e in parsed.items() if isinstance(e, MessageEdited)}

    # Both stores are written at once. Every message here was accepted (answered 201) and reads
    # back from Redis until MySQL has it, so search may show it first; a message MySQL refuses
    # for good is taken out of the index again below.
    deadline = deps.indexer.bulk_deadline()  # one budget for the invocation's _bulk requests
    indexing = _indexer.submit(deps.indexer.index, list(messages.values()), deadline)
    moved: list[ChatChanged] = []
    not_written, refused = _write_rows(deps, creations, clashes, moved)
    announce(deps, moved)
    _record_written(deps, [e for rid, e in creations.items() if rid not in not_written])
    not_indexed = indexing.result()
    failed.update(not_written)
    failed.update(
        {rid: not_indexed[e.key] for rid, e in messages.items() if e.key in not_indexed and rid not in failed}
    )
    _unindex(deps, [messages[rid] for rid in refused if rid in messages])
    failed.update(_index_edits(deps, edits, deadline))
    return failed


def _record_written(deps: WriterDeps, written: Sequence[NewChat | NewMessage]) -> None:
    """Drops the pending bodies MySQL now holds and marks the changed counts (while ES works)."""
    if not written:
        return
    try:
        deps.changes.record_persisted(*_by_kind(written))
    except Unavailable:
        # Pending bodies expire on their own (MySQL is read first anyway); lost change marks
        # are covered by the full recount the counter makes after Redis comes back.
        pass


def _write_rows(
    deps: WriterDeps,
    creations: Mapping[str, NewChat | NewMessage],
    clashes: list[Clash],
    moved: list[ChatChanged],
) -> tuple[dict[str, str], set[str]]:
    """Writes the rows; returns ({id: reason} of those not written, ids refused for good). Where
    each chat's feed moved to is appended to `moved`."""
    if not creations:
        return {}, set()
    try:
        _persist(deps, creations.values(), clashes, moved)
        return {}, set()
    except Unavailable as exc:
        return {rid: exc.message for rid in creations}, set()
    except Refused:
        pass
    # Some row is refused (its application is gone, say): find it, write the rest.
    failed: dict[str, str] = {}
    refused: set[str] = set()
    for rid, event in creations.items():
        try:
            _persist(deps, [event], clashes, moved)
        except (Refused, Unavailable) as exc:
            failed[rid] = exc.message
            if isinstance(exc, Refused):
                refused.add(rid)
            log.error("event refused", record_id=rid, reason=exc.message, cause=repr(exc.__cause__))
    return failed, refused


def _persist(
    deps: WriterDeps,
    creations: Iterable[NewChat | NewMessage],
    clashes: list[Clash],
    moved: list[ChatChanged],
) -> None:
    written = deps.batches.persist(*_by_kind(creations))
    moved += written.changes
    found = written.clashes
    for c in found:
        # Both creates were told this number: the stored row keeps the first, the other waits
        # in create_conflicts for a person (`make audit` lists them; the alarm fires).
        log.error(
            "create clash",
            kind=c.kind,
            application_id=c.application_id,
            chat_number=c.chat_number,
            number=c.number,
            create_id=c.create_id,
            stored_create_id=c.stored_create_id,
        )
    clashes += found


def _by_kind(creations: Iterable[NewChat | NewMessage]) -> tuple[list[NewChat], list[NewMessage]]:
    """(the chat creations, the message creations) of `creations`, each in its order."""
    items = list(creations)
    return (
        [e for e in items if isinstance(e, NewChat)],
        [e for e in items if isinstance(e, NewMessage)],
    )


def _unindex(deps: WriterDeps, refused: Sequence[NewMessage]) -> None:
    """Takes messages MySQL refused for good out of the index (their records fail anyway)."""
    left = deps.indexer.unindex_creations([m.key for m in refused])
    if left:
        # Their records end in the dead-letter queue; each redelivery tries again.
        log.error("refused messages stay searchable", keys=[list(k) for k in left])


def _index_edits(deps: WriterDeps, edits: Mapping[str, MessageEdited], deadline: float) -> dict[str, str]:
    """Indexes edited messages at the version MySQL holds."""
    if not edits:
        return {}
    keys = [e.key for e in edits.values()]
    try:
        current = deps.batches.current_messages(keys)
    except Unavailable as exc:
        return {rid: exc.message for rid in edits}
    not_indexed = deps.indexer.index(current, deadline)
    return {rid: not_indexed[key] for rid, key in zip(edits, keys, strict=False) if key in not_indexed}
