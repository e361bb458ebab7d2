"""A SAM/CloudFormation template's WebSocket APIs, made deployable to LocalStack's free edition.

It has no API Gateway v2, so before the local deploy every `AWS::ApiGatewayV2::*` resource is
taken out of the template and read as the local gateway's configuration instead: each WebSocket
API with its stage, route selection expression and routes, each route with the function its
`AWS_PROXY` integration invokes. What still refers to those resources gets the local gateway's
values: `Ref` of the API is its local id, `Ref` of the stage its name, and the AWS endpoint
forms (written with `Fn::Sub`)
  https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${Stage}   the @connections endpoint
  wss://${Api}.execute-api.${AWS::Region}.amazonaws.com/${Stage}     the clients' URL
become the gateway's http:// and ws:// URLs, so the functions read their endpoint from the same
configuration locally and on AWS. Lambda permissions for API Gateway to invoke a function of
these APIs are dropped (the local gateway invokes through the Lambda API with no resource policy).

`python -m local.wsgate.template IN OUT --stack S --http-base URL --ws-base URL` writes the
localized template to OUT (JSON) and prints the APIs as JSON for the deploy to register.
"""

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .apis import local_api_id

V2 = "AWS::ApiGatewayV2::"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
ENDPOINT = re.compile(
    r"(?P<scheme>https|wss)://\$\{(?P<api>[\w]+)\}\.execute-api\.\$\{AWS::Region\}\."
    r"(?:amazonaws\.com|\$\{AWS::URLSuffix\})"
)
SUB_VARIABLE = re.compile(r"\$\{([\w:]+)(?:\.([\w.]+))?\}")


class TemplateError(Exception):
    """The template has a WebSocket API the local gateway cannot serve; the message says why."""


@dataclass(frozen=True)
class RouteSpec:
    function: str  # the function's logical id, or its name when the template names it literally
    two_way: bool


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    api_id: str
    stage: str
    route_selection_expression: str
    routes: dict[str, RouteSpec]


def _refs(node: Any) -> Iterator[str]:
    """Logical ids a node refers to through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(node, list):
        for item in node:
            yield from _refs(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value.split(".")[0] if isinstance(value, str) else value[0]
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                yield from (m.group(1) for m in SUB_VARIABLE.finditer(text))
                if isinstance(value, list):
                    yield from _refs(value[1:])
            else:
                yield from _refs(value)


def _of_type(resources: dict[str, Any], kind: str, api: str) -> dict[str, dict[str, Any]]:
    return {
        name: r.get("Properties", {})
        for name, r in resources.items()
        if r.get("Type") == V2 + kind and api in _refs(r.get("Properties", {}).get("ApiId"))
    }


def _the_one(found: list[str], what: str) -> str:
    if len(found) != 1:
        raise TemplateError(f"{what}: expected one, found {found or 'none'}")
    return found[0]


def _function(resources: dict[str, Any], name: str, uri: Any) -> str:
    functions = [ref for ref in _refs(uri) if resources.get(ref, {}).get("Type") in FUNCTION_TYPES]
    if functions:
        return _the_one(sorted(set(functions)), f"integration {name}'s function")
    literal = re.search(r":function:([^/:]+)", uri) if isinstance(uri, str) else None
    if literal is None:
        raise TemplateError(f"integration {name}: IntegrationUri names no function of the template")
    return literal.group(1)


def websocket_apis(template: dict[str, Any], stack: str) -> list[ApiSpec]:
    resources = template.get("Resources", {})
    apis = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != V2 + "Api":
            continue
        props = resource.get("Properties", {})
        if props.get("ProtocolType") != "WEBSOCKET":
            raise TemplateError(
                f"{logical_id}: only WebSocket APIs run locally, not {props.get('ProtocolType')}"
            )
        stages = _of_type(resources, "Stage", logical_id)
        stage = stages[_the_one(sorted(stages), f"{logical_id}'s stage")]["StageName"]
        integrations = _of_type(resources, "Integration", logical_id)
        answered = {
            ref
            for r in _of_type(resources, "RouteResponse", logical_id).values()
            for ref in _refs(r.get("RouteId"))
        }
        routes = {}
        for route_name, route in _of_type(resources, "Route", logical_id).items():
            if route.get("AuthorizationType", "NONE") not in ("NONE", "AWS_IAM"):
                raise TemplateError(f"{route_name}: authorizers do not run locally; authorize in $connect")
            target = _the_one([r for r in _refs(route.get("Target")) if r in integrations], route_name)
            integration = integrations[target]
            if integration.get("IntegrationType") != "AWS_PROXY":
                raise TemplateError(f"{target}: only AWS_PROXY (Lambda) integrations run locally")
            function = _function(resources, target, integration.get("IntegrationUri"))
            routes[route["RouteKey"]] = RouteSpec(function, route_name in answered)
        apis.append(
            ApiSpec(
                logical_id=logical_id,
                api_id=local_api_id(stack, logical_id),
                stage=stage,
                route_selection_expression=props.get("RouteSelectionExpression", "$request.body.action"),
                routes=routes,
            )
        )
    return apis


class _Localizer:
    def __init__(self, template: dict[str, Any], apis: list[ApiSpec], http_base: str, ws_base: str):
        resources = template.get("Resources", {})
        self.stripped = {name for name, r in resources.items() if r.get("Type", "").startswith(V2)}
        self.values: dict[str, str] = {name: name.lower() for name in self.stripped}
        self.endpoints: dict[tuple[str, str], str] = {}
        for api in apis:
            self.values[api.logical_id] = api.api_id
            for stage in _of_type(resources, "Stage", api.logical_id):
                self.values[stage] = api.stage
            self.endpoints[(api.logical_id, "https")] = f"{http_base}/{api.api_id}"
            self.endpoints[(api.logical_id, "wss")] = f"{ws_base}/{api.api_id}"

    def attribute(self, name: str, attribute: str) -> str:
        if attribute == "ApiEndpoint":
            return self.endpoints[(name, "wss")]
        return self.values[name]  # ApiId, the ids of the rest

    def sub(self, text: str) -> str:
        def endpoint(match: re.Match[str]) -> str:
            return self.endpoints[(match["api"], match["scheme"])]

        text = ENDPOINT.sub(lambda m: endpoint(m) if m["api"] in self.stripped else m[0], text)
        if "execute-api" in text and any(f"${{{name}" in text for name in self.stripped):
            raise TemplateError(f"an endpoint the local deploy cannot rewrite: {text!r} (see {__name__})")

        def variable(match: re.Match[str]) -> str:
            name, attribute = match.group(1), match.group(2)
            if name not in self.stripped:
                return match[0]
            return self.attribute(name, attribute) if attribute else self.values[name]

        return SUB_VARIABLE.sub(variable, text)

    def rewrite(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" and value in self.stripped:
                return self.values[value]
            if key == "Fn::GetAtt":
                name, attribute = value.split(".", 1) if isinstance(value, str) else value
                if name in self.stripped:
                    return self.attribute(name, attribute)
            if key == "Fn::Sub":
                if isinstance(value, str):
                    return {key: self.sub(value)}
                return {key: [self.sub(value[0]), self.rewrite(value[1])]}
        return {key: self.rewrite(value) for key, value in node.items()}


def localize(
    template: dict[str, Any], stack: str, http_base: str, ws_base: str
) -> tuple[dict[str, Any], list[ApiSpec]]:
    """The template without its API Gateway v2 resources, and the WebSocket APIs they described."""
    apis = websocket_apis(template, stack)
    localizer = _Localizer(template, apis, http_base, ws_base)
    resources = {}
    for name, resource in template.get("Resources", {}).items():
        if name in localizer.stripped or _invoke_permission_of(resource, localizer.stripped):
            continue
        resource = localizer.rewrite(resource)
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [
                d for d in ([depends] if isinstance(depends, str) else depends) if d not in localizer.stripped
            ]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
        resources[name] = resource
    localized = {key: localizer.rewrite(value) for key, value in template.items() if key != "Resources"}
    localized["Resources"] = resources
    return localized, apis


def _invoke_permission_of(resource: dict[str, Any], stripped: set[str]) -> bool:
    props = resource.get("Properties", {})
    return resource.get("Type") == "AWS::Lambda::Permission" and bool(
        stripped & set(_refs(props.get("SourceArn")))
    )


def load_yaml(text: str) -> Any:
    import yaml  # the tools' venvs have it; the stack's own python need not

    class Loader(yaml.SafeLoader):
        """Reads CloudFormation's short forms (`!Ref X`) as their long forms (`{"Ref": "X"}`)."""

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        name = suffix if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    Loader.add_multi_constructor("!", intrinsic)
    return yaml.load(text, Loader=Loader)  # a SafeLoader subclass


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.wsgate.template")
    parser.add_argument("template")
    parser.add_argument("out")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--http-base", required=True)
    parser.add_argument("--ws-base", required=True)
    args = parser.parse_args()
    with open(args.template) as f:
        template = load_yaml(f.read())
    try:
        localized, apis = localize(template, args.stack, args.http_base, args.ws_base)
    except TemplateError as exc:
        sys.exit(f"{args.template}: {exc}")
    with open(args.out, "w") as f:
        json.dump(localized, f, indent=1)
    print(json.dumps([asdict(api) for api in apis]))


if __name__ == "__main__":
    main()
