"""The writer: persists a batch of queued events in bulk and says which records failed.

A record fails alone when it can never be written (it then ends in the dead-letter queue) and
the whole batch is retried when a store is down: every step is idempotent, so a redelivery
changes nothing that is already in place.
"""

from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from . import events
from .errors import InvalidEvent, Refused, Unavailable
from .events import MessageEdited
from .models import NewChat, NewMessage
from .service import Deps

log = Logger(service="chat", child=True)
# Indexes a batch while the main thread writes it to MySQL: one thread, kept across invocations
# (and idle between them, as every invocation waits for its result).
_indexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer")


class RecordFailed(Exception):
    """Marks a record for redelivery in the partial batch response."""


def handle(event: dict, deps: Deps) -> tuple:
    """(the partial batch response, how many clashes the batch found)."""
    clashes: list = []
    failed = persist_records(deps, [(r["messageId"], r["body"]) for r in event["Records"]], clashes)

    def outcome(record) -> None:
        if record.message_id in failed:
            raise RecordFailed(failed[record.message_id])

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=outcome, processor=processor), len(clashes)


def persist_records(deps: Deps, records: list, clashes: list | None = None) -> dict:
    """Writes what it can of `records` ((id, body) pairs); returns {id: reason} of the failures.
    Creates that clashed with another create's number are appended to `clashes`: they are kept
    in `create_conflicts` and their records succeed (a retry cannot change them)."""
    clashes = [] if clashes is None else clashes
    failed, parsed = {}, {}
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
    indexing = _indexer.submit(deps.search.index, list(messages.values()))
    not_written, refused = _write_rows(deps, creations, clashes)
    _record_written(deps, [e for rid, e in creations.items() if rid not in not_written])
    not_indexed = indexing.result()
    failed.update(not_written)
    failed.update(
        {rid: not_indexed[e.key] for rid, e in messages.items() if e.key in not_indexed and rid not in failed}
    )
    _unindex(deps, [messages[rid] for rid in refused if rid in messages])
    failed.update(_index_edits(deps, edits))
    return failed


def _record_written(deps: Deps, written: list) -> None:
    """Drops the pending bodies MySQL now holds and marks the changed counts (while ES works)."""
    if not written:
        return
    try:
        deps.numbers.record_persisted(*_by_kind(written))
    except Unavailable:
        # Pending bodies expire on their own (MySQL is read first anyway); lost change marks
        # are covered by the full recount the counter makes after Redis comes back.
        pass


def _write_rows(deps: Deps, creations: dict, clashes: list) -> tuple:
    """Writes the rows; returns ({id: reason} of those not written, ids refused for good)."""
    if not creations:
        return {}, set()
    try:
        _persist(deps, creations.values(), clashes)
        return {}, set()
    except Unavailable as exc:
        return {rid: exc.message for rid in creations}, set()
    except Refused:
        pass
    # Some row is refused (its application is gone, say): find it, write the rest.
    failed, refused = {}, set()
    for rid, event in creations.items():
        try:
            _persist(deps, [event], clashes)
        except (Refused, Unavailable) as exc:
            failed[rid] = exc.message
            if isinstance(exc, Refused):
                refused.add(rid)
            log.error("event refused", record_id=rid, reason=exc.message, cause=repr(exc.__cause__))
    return failed, refused


def _persist(deps: Deps, creations, clashes: list) -> None:
    found = deps.db.persist(*_by_kind(creations))
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


def _by_kind(creations) -> tuple:
    """(the chat creations, the message creations) of `creations`, each in its order."""
    creations = list(creations)
    return (
        [e for e in creations if isinstance(e, NewChat)],
        [e for e in creations if isinstance(e, NewMessage)],
    )


def _unindex(deps: Deps, refused: list) -> None:
    """Takes messages MySQL refused for good out of the index (their records fail anyway)."""
    left = deps.search.unindex_creations([m.key for m in refused])
    if left:
        # Their records end in the dead-letter queue; each redelivery tries again.
        log.error("refused messages stay searchable", keys=[list(k) for k in left])


def _index_edits(deps: Deps, edits: dict) -> dict:
    """Indexes edited messages at the version MySQL holds."""
    if not edits:
        return {}
    keys = [e.key for e in edits.values()]
    try:
        current = deps.db.current_messages(keys)
    except Unavailable as exc:
        return {rid: exc.message for rid in edits}
    not_indexed = deps.search.index(current)
    return {rid: not_indexed[key] for rid, key in zip(edits, keys, strict=False) if key in not_indexed}
