"""Every entry point logs with its Lambda context; store calls become subsegments; correlation ids
travel from the API's request to the writer's log line."""

import contextlib
import io
import json

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core.context import Context
from aws_xray_sdk.core.recorder import AWSXRayRecorder

from chalicelib.adapters.sqs.queue import Queue
from chalicelib.domain import events
from chalicelib.usecases import writer
from chalicelib.wiring import observability
from tests.helpers import invoke
from tests.unit.test_writer import make_deps


class Recorder:
    """Stands in for X-Ray's in_subsegment: records the subsegments opened and their annotations."""

    def __init__(self):
        self.opened = []

    @contextlib.contextmanager
    def __call__(self, name, namespace):
        segment = Segment(name, namespace)
        self.opened.append(segment)
        yield segment


class Segment:
    def __init__(self, name, namespace):
        self.name, self.namespace, self.annotations = name, namespace, {}

    def put_annotation(self, key, value):
        self.annotations[key] = value


class Adapter:
    def __init__(self):
        self._private = "kept"

    def find(self, token, limit=1):
        return [token] * limit

    def broken(self):
        raise ValueError("store down")


def test_each_call_of_a_traced_adapter_is_a_remote_subsegment_named_after_its_store():
    recorder = Recorder()
    traced = observability.Traced(Adapter(), "MySQL", recorder)
    assert traced.find("secret-token", limit=2) == ["secret-token", "secret-token"]
    with pytest.raises(ValueError, match="store down"):
        traced.broken()
    assert [(s.name, s.namespace, s.annotations) for s in recorder.opened] == [
        ("MySQL", "remote", {"operation": "find"}),
        ("MySQL", "remote", {"operation": "broken"}),
    ]
    assert traced._private == "kept"  # private state passes through (tests read it), untraced


class Emitter:
    """Collects what X-Ray's recorder would send to the daemon."""

    def __init__(self):
        self.sent = []

    def send_entity(self, entity):
        self.sent.append(entity.serialize())

    def set_daemon_address(self, address):
        pass


@pytest.fixture
def recorder():
    """A real X-Ray recorder sending to memory; Powertools turned the SDK off for the tests."""
    was_enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    recorder = AWSXRayRecorder()
    recorder.configure(emitter=Emitter(), sampling=False, context=Context(), context_missing="LOG_ERROR")
    yield recorder
    global_sdk_config.set_sdk_enabled(was_enabled)


def test_x_ray_gets_a_subsegment_per_store_call_and_never_its_arguments(recorder):
    recorder.begin_segment("chat")
    traced = observability.Traced(Adapter(), "MySQL", recorder.in_subsegment)
    traced.find("kX3-secret-token")
    with pytest.raises(ValueError, match="store down"):
        traced.broken()
    recorder.end_segment()
    [segment] = recorder.emitter.sent
    [found, broken] = json.loads(segment)["subsegments"]
    assert (found["name"], found["namespace"], found["annotations"]) == (
        "MySQL",
        "remote",
        {"operation": "find"},
    )
    assert broken["fault"] and broken["annotations"] == {"operation": "broken"}
    assert "kX3-secret-token" not in segment


def test_adapters_are_left_as_they_are_while_tracing_is_off():
    adapter = Adapter()
    assert observability.tracer is None  # outside Lambda, as in `chalice local` and here
    assert observability.traced(adapter, "Redis") is adapter


@pytest.fixture
def logged(monkeypatch):
    """Reads back the JSON lines every logger of the service wrote (through the one handler)."""
    stream = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def functions(monkeypatch):
    from handlers import counter as counter_function
    from handlers import writer as writer_function

    # No store is reached: the counter's and the writer's use cases are replaced here.
    monkeypatch.setattr(writer_function, "writer_deps", lambda: make_deps())
    monkeypatch.setattr(counter_function, "counter_deps", lambda: make_deps())
    counter = counter_function.counter
    monkeypatch.setattr(counter, "refresh_counts", lambda deps: counter.Recount("incremental", 0, 0, 0.0))
    monkeypatch.setattr(
        counter, "sweep_idle_counters", lambda deps, idle, keys: counter.SweepStopped("", 0, 0)
    )
    return counter_function, writer_function


def test_every_function_entry_point_logs_with_its_lambda_context_and_cold_start(functions, logged):
    counter_function, writer_function = functions
    invoke(counter_function.refresh_counts, {})
    invoke(writer_function.handle_creations, {"Records": [chat_record("m1", None)]})
    lines = logged()
    assert [line["message"] for line in lines] == [
        "counts refreshed",
        "idle counters swept",
        "key records expired",
        "batch written",
    ]
    for line in lines:
        assert line["service"] == observability.SERVICE
        assert {"function_name", "function_request_id", "cold_start"} <= set(line)


def chat_record(message_id: str, correlation_id: str | None, body: str = events.chat_created(1, 1)) -> dict:
    attributes = events_attributes(correlation_id) if correlation_id else {}
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }


def test_the_writer_logs_the_correlation_ids_of_what_it_wrote_and_what_failed(logged):
    batch = {"Records": [chat_record("m1", "req-1"), chat_record("m2", "req-2", body="{")]}
    failed = writer.persist_records(make_deps(), [(r["messageId"], r["body"]) for r in batch["Records"]])
    writer.log_batch(batch["Records"], failed)
    [line] = [x for x in logged() if x["message"] == "batch written"]
    assert line["correlation_ids"] == ["req-1"]
    assert list(line["failed"]) == ["req-2"]


def events_attributes(correlation_id: str) -> dict:
    """The attributes SQS hands the event source for what Queue.send attached."""
    [(name, value)] = events.correlation_attributes(correlation_id).items()
    return {name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}}


def test_the_queue_sends_the_requests_correlation_id_beside_the_event():
    sent = []

    class Sqs:
        def send_message(self, **kwargs):
            sent.append(kwargs)

    Queue(Sqs(), "url", lambda: "req-9").send("{}")
    Queue(Sqs(), "url").send("{}")
    assert events.correlation_id({"messageAttributes": events_attributes("req-9")}) == "req-9"
    assert sent[0]["MessageAttributes"] == events.correlation_attributes("req-9")
    assert sent[1]["MessageAttributes"] == {}


def test_write_lag_is_the_wait_of_the_batchs_oldest_event():
    batch = {"Records": [{"attributes": {"SentTimestamp": str(ms)}} for ms in (1_000_000, 1_000_400)]}
    assert writer.lag_ms(batch, 1_000.5) == pytest.approx(500)
    assert writer.lag_ms({"Records": [{"attributes": {}}]}, 1_000) is None
