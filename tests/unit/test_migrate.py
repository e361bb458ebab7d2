"""The schema custom resource answers CloudFormation on every path, failures included.

A local HTTP server stands in for the pre-signed ResponseURL: the test reads what CloudFormation
would have received.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.edge import migrate
from chalicelib.wiring.settings import SettingsError
from tests import fakes


class ResponseUrl:
    """Records the PUT bodies sent to it."""

    def __init__(self):
        answers = self.answers = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cloudformation/answer?X-Amz-Signature=x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def response_url():
    server = ResponseUrl()
    yield server
    server.server.shutdown()
    server.server.server_close()


def request(url: str, kind: str = "Create") -> dict:
    return {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/chat/1",
        "RequestId": "req-1",
        "LogicalResourceId": "Schema",
        "ResourceType": "Custom::Schema",
        "ResourceProperties": {"SchemaVersion": "3"},
    }


def deps_with(down: bool = False, delay: float = 0.0):
    """Builds the fakes when called, as the handler builds the real adapters (tests/fakes.py)."""

    def build() -> fakes.FakeDeps:
        deps = fakes.deps()
        deps.schema.tables.down = down
        migrate_schema = deps.schema.migrate

        def slow_migrate() -> list[str]:
            time.sleep(delay)
            return migrate_schema()

        deps.schema.migrate = slow_migrate  # type: ignore[method-assign]
        return deps

    return build


def test_a_successful_migration_answers_success_with_what_it_applied(response_url):
    answer = migrate.handle_custom_resource(request(response_url.url), deps_with(), 60)
    assert response_url.answers == [answer]
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"] == {"applied": "all", "index_created": "false"}
    assert (answer["RequestId"], answer["LogicalResourceId"]) == ("req-1", "Schema")
    assert answer["PhysicalResourceId"] == migrate.PHYSICAL_ID


def test_a_failed_migration_answers_failed_with_its_reason(response_url):
    migrate.handle_custom_resource(request(response_url.url, "Update"), deps_with(down=True), 60)
    [answer] = response_url.answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == "Unavailable: the database is unavailable"


def test_a_bad_setting_answers_failed_instead_of_leaving_the_deploy_waiting(response_url):
    def bad_settings():
        raise SettingsError("MYSQL_PORT='x' is not an integer")

    migrate.handle_custom_resource(request(response_url.url), bad_settings, 60)
    [answer] = response_url.answers
    assert answer["Status"] == "FAILED"
    assert "MYSQL_PORT" in answer["Reason"]


def test_a_migration_still_running_near_the_timeout_answers_failed_in_time(response_url):
    started = time.monotonic()
    migrate.handle_custom_resource(
        request(response_url.url), deps_with(delay=5), migrate.ANSWER_MARGIN_SECONDS + 0.3
    )
    [answer] = response_url.answers
    assert answer["Status"] == "FAILED" and "still running" in answer["Reason"]
    assert time.monotonic() - started < 2


def test_delete_keeps_the_data_and_needs_no_store(response_url):
    def unreachable():
        raise AssertionError("Delete must not touch the stores")

    event = {**request(response_url.url, "Delete"), "PhysicalResourceId": "chat-schema"}
    migrate.handle_custom_resource(event, unreachable, 60)
    assert [a["Status"] for a in response_url.answers] == ["SUCCESS"]


def test_an_unreachable_response_url_fails_the_invocation_so_lambda_retries_it():
    with pytest.raises(OSError, match="refused"):
        migrate.handle_custom_resource(request("http://127.0.0.1:9/unreachable"), deps_with(), 60)


def test_invoked_directly_it_migrates_and_returns_the_result():
    result = migrate.handle_custom_resource({}, deps_with(), 60)
    assert result == {"applied": ["all"], "index_created": False}
