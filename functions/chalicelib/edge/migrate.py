"""Schema and index set-up, run by CloudFormation on every deploy through a custom resource.

CloudFormation waits for an answer at the request's ResponseURL. Every path below sends one, a
failure included (a bad setting, an unreadable secret, a store that is down, a migration still
running when the function is about to be stopped), so a broken deploy stops with a reason
instead of waiting for the resource's ServiceTimeout.
"""

import json
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from ..domain.models import Login
from ..usecases.ports import MigrateDeps

log = Logger(service="chat", child=True)
PHYSICAL_ID = "chat-schema"
# The answer goes out this long before the function would be stopped, migration done or not.
ANSWER_MARGIN_SECONDS = 5
# CloudFormation refuses an answer over 4 KB; the reason is the only field of open length.
_MAX_REASON_CHARS = 1000


def migrate(deps: MigrateDeps, api_login: Login | None = None) -> dict[str, Any]:
    """The schema and the index; then the API's DML-only login, granted by this function, which
    alone holds DDL rights (docs/security.md)."""
    result = {"applied": deps.schema.migrate(), "index_created": deps.index_schema.ensure_index()}
    if api_login is not None:
        deps.schema.grant_api_user(api_login)
    return result


def handle_custom_resource(
    event: dict[str, Any],
    build_deps: Callable[[], MigrateDeps],
    seconds_left: float,
    api_login: Callable[[], Login | None] = lambda: None,
) -> dict[str, Any]:
    """Migrates on Create and Update (Delete keeps the data) and answers CloudFormation.

    `build_deps` is called inside the guarded part: reading the settings or a secret may fail.
    Invoked directly (no ResponseURL: LocalStack's free edition has no custom resources, so the
    local deploy calls the function itself), it just migrates and returns the result.
    """
    if "ResponseURL" not in event:
        return migrate(build_deps(), api_login())
    if event.get("RequestType") == "Delete":
        answer = _answer(event, "SUCCESS", "the schema and its data are kept", {})
    else:
        answer = _migrate_in_time(event, build_deps, api_login, seconds_left - ANSWER_MARGIN_SECONDS)
    _send(event["ResponseURL"], answer)
    return answer


def _migrate_in_time(
    event: dict[str, Any],
    build_deps: Callable[[], MigrateDeps],
    api_login: Callable[[], Login | None],
    seconds: float,
) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            result = migrate(build_deps(), api_login())
            # Attribute values CloudFormation hands to Fn::GetAtt are strings.
            outcome["data"] = {
                "applied": ",".join(result["applied"]),
                "index_created": str(result["index_created"]).lower(),
            }
        except Exception as exc:  # any failure must reach CloudFormation, or the deploy waits
            log.exception("schema migration failed")
            outcome["reason"] = f"{type(exc).__name__}: {exc}"

    worker = threading.Thread(target=work, name="migrate", daemon=True)
    worker.start()
    worker.join(max(seconds, 0))
    if "data" in outcome:
        return _answer(event, "SUCCESS", "migrated", outcome["data"])
    reason = outcome.get("reason") or f"the migration was still running after {seconds:.0f} s"
    return _answer(event, "FAILED", reason, {})


def _answer(event: dict[str, Any], status: str, reason: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "Status": status,
        "Reason": reason[:_MAX_REASON_CHARS],
        "PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID),
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": data,
    }


def _send(url: str, answer: dict[str, Any]) -> None:
    """PUTs the answer to the pre-signed URL; a failure to answer fails the invocation (retried)."""
    request = urllib.request.Request(
        url, data=json.dumps(answer).encode(), method="PUT", headers={"Content-Type": ""}
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError:
        log.exception("could not answer CloudFormation", status=answer["Status"])
        raise
