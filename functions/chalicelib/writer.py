"""The writer: persists a batch of queued events in bulk and says which records failed.

A record fails alone when it can never be written (it then ends in the dead-letter queue) and
the whole batch is retried when a store is down: every step is idempotent, so a redelivery
changes nothing that is already in place.
"""
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from . import events
from .errors import InvalidEvent, Refused, Unavailable
from .events import MessageEdited
from .models import NewChat, NewMessage
from .service import Deps

log = Logger(service="chat", child=True)


class RecordFailed(Exception):
    """Marks a record for redelivery in the partial batch response."""


def handle(event: dict, deps: Deps) -> dict:
    failed = persist_records(deps, [(r["messageId"], r["body"]) for r in event["Records"]])

    def outcome(record) -> None:
        if record.message_id in failed:
            raise RecordFailed(failed[record.message_id])

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=outcome, processor=processor)


def persist_records(deps: Deps, records: list) -> dict:
    """Writes what it can of `records` ((id, body) pairs); returns {id: reason} of the failures."""
    failed, parsed = {}, {}
    for record_id, body in records:
        try:
            parsed[record_id] = events.parse(body)
        except InvalidEvent as exc:
            failed[record_id] = exc.message
            log.error("poison event", record_id=record_id, reason=exc.message)
    creations = {rid: e for rid, e in parsed.items() if isinstance(e, (NewChat, NewMessage))}
    failed.update(_write_rows(deps, creations))

    written_chats = [e for rid, e in creations.items() if rid not in failed and isinstance(e, NewChat)]
    written = [e for rid, e in creations.items() if rid not in failed and isinstance(e, NewMessage)]
    edits = {rid: e for rid, e in parsed.items() if isinstance(e, MessageEdited)}
    failed.update(_index(deps, written, creations, edits))
    try:
        deps.numbers.record_persisted(written_chats, written)
    except Unavailable:
        # Pending bodies expire on their own (MySQL is read first anyway); lost change marks
        # are covered by the full recount the counter makes after Redis comes back.
        pass
    return failed


def _write_rows(deps: Deps, creations: dict) -> dict:
    if not creations:
        return {}
    try:
        _persist(deps, creations.values())
        return {}
    except Unavailable as exc:
        return {rid: exc.message for rid in creations}
    except Refused:
        pass
    # Some row is refused (its application is gone, say): find it, write the rest.
    failed = {}
    for rid, event in creations.items():
        try:
            _persist(deps, [event])
        except (Refused, Unavailable) as exc:
            failed[rid] = exc.message
            log.error("event refused", record_id=rid, reason=exc.message, cause=repr(exc.__cause__))
    return failed


def _persist(deps: Deps, creations) -> None:
    creations = list(creations)
    deps.db.persist([e for e in creations if isinstance(e, NewChat)],
                    [e for e in creations if isinstance(e, NewMessage)])


def _index(deps: Deps, written: list, creations: dict, edits: dict) -> dict:
    """Indexes new messages as version 1 and edited ones at their MySQL version."""
    try:
        current = deps.db.current_messages([(e.application_id, e.chat_number, e.number)
                                            for e in edits.values()])
    except Unavailable as exc:
        current, failed = [], {rid: exc.message for rid in edits}
    else:
        failed = {}
    docs = written + current
    if not docs:
        return failed
    not_indexed = deps.search.index(docs)
    for rid, e in [*creations.items(), *edits.items()]:
        reason = not_indexed.get((e.application_id, getattr(e, "chat_number", None), e.number))
        if reason is not None:
            failed[rid] = reason
    return failed
