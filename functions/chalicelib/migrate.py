"""Schema and index set-up, run by CloudFormation on every deploy through a custom resource."""

import json
import urllib.request
from typing import Any

from .ports import Deps


def migrate(deps: Deps) -> dict[str, Any]:
    return {"applied": deps.schema.migrate(), "index_created": deps.search.ensure_index()}


def handle_custom_resource(event: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """Runs the migrations on Create and Update (Delete keeps the data) and answers CloudFormation.

    Any failure is reported as FAILED, so the deploy stops instead of waiting for an answer.
    Invoked directly (no ResponseURL: LocalStack's free edition has no custom resources, so the
    local deploy calls the function itself), it just migrates and returns the result.
    """
    if "ResponseURL" not in event:
        return migrate(deps)
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = migrate(deps)
            data["applied"] = ",".join(data["applied"])
    except Exception as exc:  # any failure must reach CloudFormation, or the deploy hangs
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    answer = {
        "Status": status,
        "Reason": reason or "see the function's log",
        "PhysicalResourceId": event.get("PhysicalResourceId", "chat-schema"),
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    request = urllib.request.Request(
        event["ResponseURL"], data=json.dumps(answer).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    return answer
