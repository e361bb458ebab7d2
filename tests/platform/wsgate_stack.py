"""A stack of its own for the local WebSocket gateway's tests: one echo function behind a WebSocket
API written as on AWS (AWS::ApiGatewayV2 resources), deployed the way `make deploy` deploys
infra/template.yaml: localized by local.wsgate.template, created in LocalStack, registered with
the running gateway. The function records every event it gets on a queue the tests read."""

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local.wsgate import apis, template

ECHO = """
import json, os
import boto3

_clients = {}


def _client(name, **kwargs):
    if name not in _clients:
        _clients[name] = boto3.client(name, **kwargs)
    return _clients[name]


def handler(event, context):
    ctx = event["requestContext"]
    _client("sqs").send_message(QueueUrl=os.environ["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
    route = ctx["routeKey"]
    if route == "$connect":
        query = event.get("queryStringParameters") or {}
        if "fail" in query:
            raise RuntimeError("told to fail")
        return {"statusCode": int(query.get("status", "200")), "body": "refused" if "status" in query else ""}
    if route == "$disconnect":
        return {"statusCode": 200}
    if route == "fail":
        raise RuntimeError("told to fail")
    if route == "reply":
        answer = {"replied": json.loads(event["body"]), "connectionId": ctx["connectionId"]}
        return {"statusCode": 200, "body": json.dumps(answer)}
    # The AWS way: the endpoint comes from configuration, the client is boto3's.
    sender = _client("apigatewaymanagementapi", endpoint_url=os.environ["CONNECTIONS_ENDPOINT"])
    echo = {"route": route, "connectionId": ctx["connectionId"], "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"]}
    sender.post_to_connection(ConnectionId=ctx["connectionId"], Data=json.dumps(echo).encode())
    return {"statusCode": 200}
"""

INTEGRATION_URI = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Echo.Arn}/invocations"


def echo_template(stage: str) -> dict[str, Any]:
    """The echo API as it would be written for AWS; only what LocalStack runs changes locally."""

    def route(key: str) -> dict[str, Any]:
        return {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "EchoApi"},
                "RouteKey": key,
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "EchoIntegration"}]]},
            },
        }

    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Events": {"Type": "AWS::SQS::Queue"},
            "Echo": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "index.handler",
                    "Role": "arn:aws:iam::000000000000:role/lambda-role",
                    "Timeout": 10,
                    "Code": {"ZipFile": ECHO},
                    "Environment": {
                        "Variables": {
                            "EVENTS_QUEUE_URL": {"Ref": "Events"},
                            "CONNECTIONS_ENDPOINT": {
                                "Fn::Sub": "https://${EchoApi}.execute-api.${AWS::Region}.amazonaws.com/${EchoStage}"
                            },
                        }
                    },
                },
            },
            "EchoApi": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": "echo",
                    "ProtocolType": "WEBSOCKET",
                    "RouteSelectionExpression": "$request.body.action",
                },
            },
            "EchoIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "EchoApi"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {"Fn::Sub": INTEGRATION_URI},
                },
            },
            "ConnectRoute": route("$connect"),
            "DisconnectRoute": route("$disconnect"),
            "DefaultRoute": route("$default"),
            "ShoutRoute": route("shout"),
            "FailRoute": route("fail"),
            "ReplyRoute": {
                **route("reply"),
                "Properties": {
                    **route("reply")["Properties"],
                    "RouteResponseSelectionExpression": "$default",
                },
            },
            "ReplyResponse": {
                "Type": "AWS::ApiGatewayV2::RouteResponse",
                "Properties": {
                    "ApiId": {"Ref": "EchoApi"},
                    "RouteId": {"Ref": "ReplyRoute"},
                    "RouteResponseKey": "$default",
                },
            },
            "EchoDeployment": {
                "Type": "AWS::ApiGatewayV2::Deployment",
                "DependsOn": ["ConnectRoute", "DisconnectRoute", "DefaultRoute", "ShoutRoute", "ReplyRoute"],
                "Properties": {"ApiId": {"Ref": "EchoApi"}},
            },
            "EchoStage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {
                    "ApiId": {"Ref": "EchoApi"},
                    "StageName": stage,
                    "DeploymentId": {"Ref": "EchoDeployment"},
                },
            },
            "EchoPermission": {
                "Type": "AWS::Lambda::Permission",
                "DependsOn": "EchoApi",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Ref": "Echo"},
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {
                        "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${EchoApi}/*"
                    },
                },
            },
        },
        "Outputs": {"EventsQueueUrl": {"Value": {"Ref": "Events"}}},
    }


@dataclass
class EchoStack:
    url: str  # where clients connect
    management_endpoint: str  # what the apigatewaymanagementapi client takes as endpoint_url
    api_id: str
    stage: str
    queue_url: str
    function: str
    sqs: Any
    seen: list[dict[str, Any]] = field(default_factory=list)

    def management(self, endpoint: str | None = None) -> Any:
        return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint or self.management_endpoint)

    def event(self, connection_id: str, route: str, timeout: float = 15.0) -> dict[str, Any]:
        """The first event of that route the function got for that connection."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen:
                context = event["requestContext"]
                if context["connectionId"] == connection_id and context["routeKey"] == route:
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {route} event for {connection_id} within {timeout} s")
            self._receive()

    def events(self, route: str) -> list[dict[str, Any]]:
        self._receive(wait=1)
        return [e for e in self.seen if e["requestContext"]["routeKey"] == route]

    def _receive(self, wait: int = 1) -> None:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        for message in answer.get("Messages", []):
            self.seen.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@contextmanager
def echo_stack(state: Path, gateway_port: int) -> Iterator[EchoStack]:
    name = f"wsgate-test-{uuid.uuid4().hex[:8]}"
    http_base = f"http://127.0.0.1:{gateway_port}"
    ws_base = f"ws://127.0.0.1:{gateway_port}"
    localized, specs = template.localize(echo_template("test"), name, http_base, ws_base)
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(localized))
    registry = apis.Registry(state / "wsgate" / "apis")
    try:
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        (api,) = apis.register(registry, name, [_plain(spec) for spec in specs], physical)
        outputs = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
        urls = apis.urls(api, http_base, ws_base)
        yield EchoStack(
            url=urls["Url"],
            management_endpoint=urls["ManagementEndpoint"],
            api_id=api.api_id,
            stage=api.stage,
            queue_url=next(o["OutputValue"] for o in outputs if o["OutputKey"] == "EventsQueueUrl"),
            function=physical["Echo"],
            sqs=boto3.client("sqs"),
        )
    finally:
        for api in registry.of_stack(name):
            registry.remove(api.api_id)
        cloudformation.delete_stack(StackName=name)


def _plain(spec: template.ApiSpec) -> dict[str, Any]:
    return json.loads(json.dumps(spec, default=lambda o: o.__dict__))
