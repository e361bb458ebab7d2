"""How the local deploy reads a template's WebSocket APIs and takes them out of what LocalStack's
free edition deploys (local/wsgate/template.py), and how a message picks its route."""

import json
from pathlib import Path

import pytest

from local.wsgate import apis, contract, template
from tests.platform.wsgate_stack import echo_template

ROOT = Path(__file__).resolve().parents[2]
HTTP, WS = "http://127.0.0.1:9", "ws://127.0.0.1:9"


def _localized(source: dict) -> tuple[dict, list[template.ApiSpec]]:
    return template.localize(source, "stack", HTTP, WS)


def test_every_api_gateway_v2_resource_and_its_invoke_permission_is_taken_out():
    source = echo_template("live")
    localized, _ = _localized(source)
    kept = set(localized["Resources"])
    assert kept == {"Events", "Echo"}
    assert "ApiGatewayV2" not in json.dumps(localized)


def test_routes_map_to_the_function_their_integration_invokes():
    (api,) = _localized(echo_template("live"))[1]
    assert api.api_id == apis.local_api_id("stack", "EchoApi")
    assert api.stage == "live"
    assert api.route_selection_expression == "$request.body.action"
    assert set(api.routes) == {"$connect", "$disconnect", "$default", "shout", "fail", "reply"}
    assert {route.function for route in api.routes.values()} == {"Echo"}
    assert [key for key, route in api.routes.items() if route.two_way] == ["reply"]


def test_the_aws_endpoint_forms_become_the_local_gateways_urls(tmp_path):
    source = echo_template("live")
    source["Outputs"]["Url"] = {
        "Value": {"Fn::Sub": "wss://${EchoApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${EchoStage}"}
    }
    source["Outputs"]["Id"] = {"Value": {"Ref": "EchoApi"}}
    source["Outputs"]["Endpoint"] = {"Value": {"Fn::GetAtt": ["EchoApi", "ApiEndpoint"]}}
    localized, (api,) = _localized(source)
    variables = localized["Resources"]["Echo"]["Properties"]["Environment"]["Variables"]
    assert variables["CONNECTIONS_ENDPOINT"] == {"Fn::Sub": f"{HTTP}/{api.api_id}/live"}
    outputs = {name: output["Value"] for name, output in localized["Outputs"].items()}
    assert outputs["Url"] == {"Fn::Sub": f"{WS}/{api.api_id}/live"}
    assert outputs["Id"] == api.api_id
    assert outputs["Endpoint"] == f"{WS}/{api.api_id}"
    assert apis.urls(apis.register(apis.Registry(tmp_path), "stack", [_plain(api)], {})[0], HTTP, WS) == {
        "Url": f"{WS}/{api.api_id}/live",
        "ManagementEndpoint": f"{HTTP}/{api.api_id}/live",
        "ApiId": api.api_id,
        "Stage": "live",
    }


def test_an_endpoint_in_a_form_the_deploy_cannot_rewrite_is_an_error_not_a_call_to_aws():
    source = echo_template("live")
    source["Outputs"]["Url"] = {
        "Value": {"Fn::Sub": "https://${EchoApi}.execute-api.eu-west-1.amazonaws.com/x"}
    }
    with pytest.raises(template.TemplateError, match="cannot rewrite"):
        _localized(source)


def test_routes_with_an_authorizer_are_refused_since_none_runs_locally():
    source = echo_template("live")
    source["Resources"]["ConnectRoute"]["Properties"]["AuthorizationType"] = "CUSTOM"
    with pytest.raises(template.TemplateError, match="authorizers"):
        _localized(source)


def test_an_http_api_is_refused_rather_than_dropped():
    source = {
        "Resources": {"Http": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}}}
    }
    with pytest.raises(template.TemplateError, match="only WebSocket"):
        _localized(source)


def test_the_product_template_deploys_to_localstack_without_anything_it_lacks():
    text = (ROOT / "infra" / "template.yaml").read_text()
    source = template.load_yaml(text)
    localized, websocket_apis = _localized(source)
    assert "AWS::ApiGatewayV2::" not in json.dumps(localized)
    assert len(websocket_apis) == text.count("ProtocolType: WEBSOCKET")


def test_short_form_intrinsics_read_as_their_long_forms():
    loaded = template.load_yaml("A: !Ref X\nB: !GetAtt F.Arn\nC: !Sub ['${A}', {A: !Ref Y}]\n")
    assert loaded == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["F", "Arn"]},
        "C": {"Fn::Sub": ["${A}", {"A": {"Ref": "Y"}}]},
    }


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "shout"}', "shout"),
        ('{"action": "nosuch"}', "$default"),
        ('{"action": "$connect"}', "$default"),
        ('{"action": ["shout"]}', "$default"),
        ('["shout"]', "$default"),
        ("not json", "$default"),
        (b'{"action": "shout"}', "$default"),
    ],
)
def test_a_message_takes_the_route_of_its_action_else_default(body, route):
    routes = ["$connect", "$default", "shout"]
    assert contract.select_route("$request.body.action", body, routes) == route


def test_a_nested_selection_expression_and_no_default_route():
    assert contract.select_route("$request.body.meta.kind", '{"meta": {"kind": "a"}}', ["a"]) == "a"
    assert contract.select_route("$request.body.action", '{"action": "b"}', ["a"]) is None


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (None, 200),
        ({}, 200),
        ({"statusCode": 204}, 204),
        ({"statusCode": "403"}, 403),
        ({"statusCode": "x"}, 502),
    ],
)
def test_the_status_a_connect_answer_asks_for(answer, status):
    assert contract.connect_status(answer) == status


def test_a_deploy_retires_the_apis_its_stack_no_longer_has_and_keeps_other_stacks(tmp_path):
    registry = apis.Registry(tmp_path)
    (spec,) = [_plain(api) for api in _localized(echo_template("live"))[1]]
    other = {**spec, "api_id": "otherstack", "logical_id": "Other"}
    apis.register(registry, "other", [other], {})
    apis.register(registry, "stack", [spec, {**spec, "api_id": "second0000"}], {"Echo": "stack-echo"})
    assert registry.get(spec["api_id"]).routes["$default"].function == "stack-echo"
    apis.register(registry, "stack", [spec], {"Echo": "stack-echo"})
    assert registry.get("second0000") is None
    assert registry.get("otherstack").stack == "other"
    assert registry.get("../etc") is None


def _plain(spec: template.ApiSpec) -> dict:
    return json.loads(json.dumps(spec, default=lambda o: o.__dict__))


def _client(query: list[tuple[str, str]]) -> contract.Client:
    return contract.Client("id0", "api0", "live", "host:1", "127.0.0.1", "ua", [("Host", "host:1")], query)


def test_a_connect_without_a_query_string_has_no_query_parameters_at_all():
    event = contract.connect_event(_client([]))
    assert "queryStringParameters" not in event and "multiValueQueryStringParameters" not in event
    assert event["headers"] == {"Host": "host:1"} and event["isBase64Encoded"] is False


def test_message_and_disconnect_events_carry_what_aws_adds_to_them():
    client = _client([])
    binary = contract.message_event(client, "$default", b"\x00\x01")
    assert (binary["body"], binary["isBase64Encoded"]) == ("AAE=", True)
    assert binary["requestContext"]["messageId"] and "headers" not in binary
    gone = contract.disconnect_event(client, 1001, "Going away")["requestContext"]
    assert (gone["eventType"], gone["disconnectStatusCode"], gone["disconnectReason"]) == (
        "DISCONNECT",
        1001,
        "Going away",
    )
    assert gone["connectedAt"] == client.connected_at_ms <= gone["requestTimeEpoch"]
