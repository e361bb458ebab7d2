"""infra/template.yaml and the Chalice app must agree, and the template must lint clean."""
import json
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform
from samtranslator.public.translator import ManagedPolicyLoader

import app
from chalicelib import schema
from local.stack import config, deploy

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
TEMPLATE = cfn_yaml.load(str(TEMPLATE_PATH))
FUNCTIONS = {name: r["Properties"] for name, r in TEMPLATE["Resources"].items()
             if r["Type"] == "AWS::Serverless::Function"}
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_every_handler_resolves_to_an_entry_point_of_the_app():
    for name, props in FUNCTIONS.items():
        module, _, attribute = props["Handler"].partition(".")
        assert module == "app", name
        assert callable(getattr(app, attribute)), f"{name}: app.{attribute} is not callable"


def test_the_api_function_serves_exactly_the_apps_routes():
    template_routes = {(e["Properties"]["Path"], e["Properties"]["Method"].upper())
                       for e in FUNCTIONS["ApiFunction"]["Events"].values() if e["Type"] == "Api"}
    app_routes = {(path, method) for path, methods in app.app.routes.items() for method in methods}
    assert template_routes == app_routes
    assert FUNCTIONS["ApiFunction"]["Handler"] == "app.app"


def test_the_writer_reports_partial_batch_failures_and_has_a_dead_letter_queue():
    source = FUNCTIONS["WriterFunction"]["Events"]["Creations"]
    assert source["Type"] == "SQS"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = TEMPLATE["Resources"]["CreationsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["CreationsDeadLetterQueue", "Arn"]}
    assert FUNCTIONS["WriterFunction"]["Timeout"] == {"Ref": "WriterTimeout"}
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeout"}


def test_the_visibility_timeout_is_six_writer_timeouts_on_aws_and_locally():
    defaults = {name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()}
    local = deploy.local_parameters(config.load())
    for values in (defaults, {**defaults, **{k: int(v) for k, v in local.items() if v.isdigit()}}):
        assert int(values["QueueVisibilityTimeout"]) >= 6 * int(values["WriterTimeout"])


def test_the_schema_resource_reruns_when_a_migration_is_added():
    assert TEMPLATE["Resources"]["Schema"]["Properties"]["SchemaVersion"] == len(schema.MIGRATIONS)


def test_the_template_lints_clean():
    result = subprocess.run([CFN_LINT, str(TEMPLATE_PATH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_translated_template_lints_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = json.loads(json.dumps(TEMPLATE))  # plain dicts, no YAML node types
    for props in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in props.get("Properties", {}):
                props["Properties"][key] = "s3://bucket/code.zip"
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
    translated = transform(template, {}, ManagedPolicyLoader(_NoIam()))
    out = tmp_path / "translated.json"
    out.write_text(json.dumps(translated))
    result = subprocess.run([CFN_LINT, str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AWS::Serverless::Function" not in out.read_text()


class _NoIam:
    """The translator asks IAM for managed policy ARNs; the template names none."""

    def get_paginator(self, _):
        class Pages:
            def paginate(self, **_):
                return iter([{"Policies": []}])
        return Pages()
