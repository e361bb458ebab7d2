"""The WebSocket APIs the local gateway serves: one JSON file per API, written by the deploy.

The gateway reads an API's file on every new connection, so a deploy (or a test's own stack)
changes the routes without restarting it.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Route:
    function: str  # the Lambda function's name or ARN, as LocalStack's Invoke takes it
    two_way: bool = False  # a route response: the function's answer body goes back to the client


@dataclass(frozen=True)
class Api:
    api_id: str
    stage: str
    route_selection_expression: str
    routes: dict[str, Route]
    stack: str = ""  # the CloudFormation stack that deployed it, so its next deploy can retire it
    logical_id: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Api":
        data = json.loads(text)
        data["routes"] = {key: Route(**route) for key, route in data["routes"].items()}
        return cls(**data)


def local_api_id(stack: str, logical_id: str) -> str:
    """A stable id of AWS's form (10 lowercase characters) for an API of a stack, known before
    the deploy, so that the template's endpoints can be rewritten to it."""
    return hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]


class Registry:
    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, api_id: str) -> Path:
        if not api_id.isalnum():
            raise KeyError(api_id)
        return self.folder / f"{api_id}.json"

    def get(self, api_id: str) -> Api | None:
        try:
            return Api.from_json(self._path(api_id).read_text())
        except (KeyError, OSError):
            return None

    def put(self, api: Api) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self._path(api.api_id).with_suffix(".tmp")
        temporary.write_text(api.to_json())
        os.replace(temporary, self._path(api.api_id))  # a reader never sees half a file

    def remove(self, api_id: str) -> None:
        self._path(api_id).unlink(missing_ok=True)

    def of_stack(self, stack: str) -> list[Api]:
        found = (Api.from_json(p.read_text()) for p in sorted(self.folder.glob("*.json")))
        return [api for api in found if api.stack == stack]


def register(registry: Registry, stack: str, specs: list[dict], physical: dict[str, str]) -> list[Api]:
    """Serves a stack's APIs as `local.wsgate.template` described them, each route invoking the
    function the stack created for its logical id; retires the stack's APIs it no longer has."""
    apis = [
        Api(
            api_id=spec["api_id"],
            stage=spec["stage"],
            route_selection_expression=spec["route_selection_expression"],
            routes={
                key: Route(physical.get(route["function"], route["function"]), route["two_way"])
                for key, route in spec["routes"].items()
            },
            stack=stack,
            logical_id=spec["logical_id"],
        )
        for spec in specs
    ]
    kept = {api.api_id for api in apis}
    for old in registry.of_stack(stack):
        if old.api_id not in kept:
            registry.remove(old.api_id)
    for api in apis:
        registry.put(api)
    return apis


def urls(api: Api, http_base: str, ws_base: str) -> dict[str, str]:
    """Where clients connect and where functions send, as the stack's outputs list them."""
    return {
        "Url": f"{ws_base}/{api.api_id}/{api.stage}",
        "ManagementEndpoint": f"{http_base}/{api.api_id}/{api.stage}",
        "ApiId": api.api_id,
        "Stage": api.stage,
    }
