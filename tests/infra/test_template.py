"""infra/template.yaml and the Chalice app must agree, the template must lint clean, and it must hold
the production properties docs/deploy-aws.md promises."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

import app
from chalicelib.adapters.mysql import schema
from chalicelib.adapters.search import search_index
from chalicelib.wiring import observability
from local.stack import config, deploy

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
TEMPLATE = cfn_yaml.load(str(TEMPLATE_PATH))
FUNCTIONS = {
    name: r["Properties"]
    for name, r in TEMPLATE["Resources"].items()
    if r["Type"] == "AWS::Serverless::Function"
}
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:chat/{}-AbCdEf"
# What an AWS deploy passes (docs/deploy-aws.md): secrets by ARN, a VPC, tracing on.
AWS_PARAMETERS = {
    "MysqlSecretArn": SECRET_ARN.format("mysql"),
    "MysqlAdminSecretArn": SECRET_ARN.format("mysql-admin"),
    "RedisAuthSecretArn": SECRET_ARN.format("redis"),
    "ElasticsearchApiKeySecretArn": SECRET_ARN.format("es"),
    "ElasticsearchSearchApiKeySecretArn": SECRET_ARN.format("es-read"),
    "SubnetIds": "subnet-1,subnet-2",
    "SecurityGroupIds": "sg-1",
    "Tracing": "Active",
    "WebDistribution": "Enabled",
}


def test_the_functions_code_holds_the_entry_points_and_their_package_only():
    """What `CodeUri` names is the entry points, their package, Chalice's config and the build's
    Makefile, which copies the first three into each zip: no operator tool, no test."""
    code = (TEMPLATE_PATH.parent / TEMPLATE["Globals"]["Function"]["CodeUri"]).resolve()
    held = {p.name for p in code.iterdir() if p.name != "__pycache__"}
    assert held == {".chalice", "Makefile", "app.py", "handlers", "chalicelib"}
    copy = re.search(
        r"^\tcp -R (.+) \"\$\(ARTIFACTS_DIR\)/\"$", (code / "Makefile").read_text(), re.MULTILINE
    )
    assert copy and set(copy.group(1).split()) == {"app.py", "handlers", "chalicelib"}


def test_every_function_and_the_layer_ship_bytecode_checked_by_hash():
    """SAM dates zip entries 1980-01-01 and Lambda's code is read-only: bytecode checked by
    timestamp would be compiled again at every cold start (docs/performance.md)."""
    code = (TEMPLATE_PATH.parent / TEMPLATE["Globals"]["Function"]["CodeUri"]).resolve()
    targets = re.search(r"^FUNCTIONS := (.+)$", (code / "Makefile").read_text(), re.MULTILINE)
    assert targets and set(targets.group(1).split()) == set(FUNCTIONS)
    for name, resource in TEMPLATE["Resources"].items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            assert resource["Metadata"]["BuildMethod"] == "makefile", name
    for makefile in (code / "Makefile", ROOT / "layers" / "Makefile"):
        assert (
            "-m compileall -q" in makefile.read_text()
            and "--invalidation-mode checked-hash" in makefile.read_text()
        )


def test_the_api_function_serves_exactly_the_apps_routes():
    template_routes = {
        (e["Properties"]["Path"], e["Properties"]["Method"].upper())
        for e in FUNCTIONS["ApiFunction"]["Events"].values()
        if e["Type"] == "Api"
    }
    app_routes = {(path, method) for path, methods in app.app.routes.items() for method in methods}
    assert template_routes == app_routes
    assert FUNCTIONS["ApiFunction"]["Handler"] == "app.app"


def test_the_writer_reports_partial_batch_failures_and_has_a_dead_letter_queue():
    source = FUNCTIONS["WriterFunction"]["Events"]["Creations"]
    assert source["Type"] == "SQS"
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = TEMPLATE["Resources"]["CreationsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["CreationsDeadLetterQueue", "Arn"]
    }
    assert FUNCTIONS["WriterFunction"]["Timeout"] == {"Ref": "WriterTimeout"}
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeout"}


def test_the_visibility_timeout_is_six_writer_timeouts_on_aws_and_locally():
    defaults = {name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()}
    local = deploy.local_parameters(config.load())
    for values in (defaults, {**defaults, **{k: int(v) for k, v in local.items() if v.isdigit()}}):
        assert int(values["QueueVisibilityTimeout"]) >= 6 * int(values["WriterTimeout"])


def test_the_schema_resource_reruns_when_a_migration_is_added():
    assert TEMPLATE["Resources"]["Schema"]["Properties"]["SchemaVersion"] == len(schema.MIGRATIONS)


def test_the_schema_resource_reruns_when_a_search_field_is_added_before_the_writer_writes_it():
    assert TEMPLATE["Resources"]["Schema"]["Properties"]["IndexFields"] == " ".join(
        sorted(search_index.MAPPINGS["properties"])
    )
    assert TEMPLATE["Resources"]["WriterFunction"]["DependsOn"] == "Schema"


def test_the_template_lints_clean():
    result = subprocess.run([CFN_LINT, str(TEMPLATE_PATH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def translate(parameters: dict) -> dict:
    """The template as CloudFormation sees it after the SAM transform, offline."""
    template = json.loads(json.dumps(TEMPLATE))  # plain dicts, no YAML node types
    for props in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in props.get("Properties", {}):
                props["Properties"][key] = "s3://bucket/code.zip"
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, parameters, ManagedPolicyLoader(_NoIam()))


@pytest.mark.parametrize("parameters", [{}, AWS_PARAMETERS], ids=["local", "aws"])
def test_the_translated_template_lints_clean(tmp_path, parameters):
    out = tmp_path / "translated.json"
    out.write_text(json.dumps(translate(parameters)))
    result = subprocess.run([CFN_LINT, str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AWS::Serverless::Function" not in out.read_text()


def _iam_statements(template: dict):
    """(resource name, statement) for every inline and managed policy, both branches of an Fn::If."""
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def _values(node):
    """The plain values a property may take: lists flattened, Fn::If branches both taken."""
    if isinstance(node, list):
        for item in node:
            yield from _values(item)
    elif isinstance(node, dict) and "Fn::If" in node:
        for branch in node["Fn::If"][1:]:
            yield from _values(branch)
    else:
        yield node


# -- reliability of the queue and the writer -----------------------------------------------------


def test_a_backlog_cannot_take_more_mysql_connections_than_the_writer_concurrency_cap():
    scaling = FUNCTIONS["WriterFunction"]["Events"]["Creations"]["Properties"]["ScalingConfig"]
    assert scaling == {"MaximumConcurrency": {"Ref": "WriterMaxConcurrency"}}
    cap = TEMPLATE["Parameters"]["WriterMaxConcurrency"]
    assert cap["MinValue"] >= 2 and cap["MaxValue"] <= 1000  # SQS's own bounds
    assert cap["Default"] <= 10


def test_events_that_keep_failing_end_in_the_dead_letter_queue_which_raises_an_alarm():
    queue = TEMPLATE["Resources"]["CreationsQueue"]["Properties"]
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    alarms = [
        r["Properties"] for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    on_dlq = [
        a
        for a in alarms
        if a["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["CreationsDeadLetterQueue", "QueueName"]}}]
    ]
    assert len(on_dlq) == 1
    alarm = on_dlq[0]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"  # one event
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# -- the API stage -------------------------------------------------------------------------------


def test_the_api_stage_is_throttled_and_keeps_the_name_and_output_the_local_deploy_reads():
    stage = translate({})["Resources"]["ServerlessRestApiProdStage"]["Properties"]
    assert stage["StageName"] == "Prod"
    [setting] = stage["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert TEMPLATE["Outputs"]["ApiId"]["Value"] == {"Ref": "ServerlessRestApi"}


@pytest.mark.parametrize("parameters", [{}, AWS_PARAMETERS], ids=["local", "aws"])
def test_the_api_has_one_stage_the_throttled_and_watched_prod(parameters):
    # Without an OpenApiVersion SAM adds a `Stage` stage beside Prod, with no throttle or alarm.
    resources = translate(parameters)["Resources"]
    stages = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert [s["StageName"] for s in stages] == ["Prod"]
    assert stages[0]["MethodSettings"]


def test_the_stage_throttle_answers_429_with_retry_after_and_the_ratelimit_fields():
    responses = translate({})["Resources"]["ServerlessRestApi"]["Properties"]["Body"][
        "x-amazon-apigateway-gateway-responses"
    ]
    throttled = responses["THROTTLED"]
    assert str(throttled["statusCode"]) == "429"
    headers = {k.rsplit(".", 1)[1]: v for k, v in throttled["responseParameters"].items()}
    assert headers["Retry-After"] == "'1'"
    assert headers["RateLimit"] == "'\"stage\";r=0;t=1'"
    assert headers["RateLimit-Policy"] == {"Fn::Sub": "'\"stage\";q=${ApiThrottlingRateLimit};w=1'"}
    body = json.loads(throttled["responseTemplates"]["application/json"])
    assert body["code"] == "rate_limited" and set(body) == {"message", "code"}


WAF = TEMPLATE["Resources"]["WebAcl"]


def test_the_waf_is_on_by_default_on_the_prod_stage():
    assert TEMPLATE["Parameters"]["Waf"]["Default"] == "Enabled"
    assert WAF["Condition"] == TEMPLATE["Resources"]["WebAclAssociation"]["Condition"] == "WafEnabled"
    association = TEMPLATE["Resources"]["WebAclAssociation"]
    assert "/restapis/${ServerlessRestApi}/stages/Prod" in association["Properties"]["ResourceArn"]["Fn::Sub"]
    assert association["DependsOn"] == "ServerlessRestApiProdStage"
    translated = translate(AWS_PARAMETERS)["Resources"]
    assert "ServerlessRestApiProdStage" in translated and "WebAclAssociation" in translated


def test_the_waf_keeps_no_sampled_requests_since_their_urls_hold_tokens():
    configs = [WAF["Properties"]["VisibilityConfig"]] + [
        r["VisibilityConfig"] for r in WAF["Properties"]["Rules"]
    ]
    assert len(configs) == 3
    assert all(c["SampledRequestsEnabled"] is False for c in configs)
    assert "LoggingConfiguration" not in json.dumps(TEMPLATE["Resources"])


def test_the_waf_blocks_an_address_over_its_rates_with_a_429_and_the_ratelimit_fields():
    rules = {r["Name"]: r for r in WAF["Properties"]["Rules"]}
    assert set(rules) == {"applications-per-address", "requests-per-address"}
    for name, parameter in (
        ("applications-per-address", "WafApplicationsPerAddress"),
        ("requests-per-address", "WafRequestsPerAddress"),
    ):
        rule = rules[name]
        rate = rule["Statement"]["RateBasedStatement"]
        assert (rate["Limit"], rate["AggregateKeyType"]) == ({"Ref": parameter}, "IP")
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        headers = {h["Name"]: h["Value"] for h in response["ResponseHeaders"]}
        assert set(headers) == {"Retry-After", "RateLimit-Policy", "RateLimit"}
        assert parameter in headers["RateLimit-Policy"]["Fn::Sub"]
        body = WAF["Properties"]["CustomResponseBodies"][response["CustomResponseBodyKey"]]
        assert json.loads(body["Content"])["code"] == "rate_limited"
    scoped = json.dumps(
        rules["applications-per-address"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    )
    assert '"POST"' in scoped and '"/applications"' in scoped


def test_the_waf_and_the_quotas_stay_below_the_stage_throttle():
    defaults = {name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()}
    stage = int(defaults["ApiThrottlingRateLimit"])
    assert int(defaults["WafRequestsPerAddress"]) / 300 <= stage / 5
    assert int(defaults["WafApplicationsPerAddress"]) < int(defaults["WafRequestsPerAddress"])


def test_every_path_has_a_preflight_method_that_reaches_the_function():
    methods = translate({})["Resources"]["ServerlessRestApi"]["Properties"]["Body"]["paths"]
    assert methods
    for path, operations in methods.items():
        integration = operations["options"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path
        assert "ApiFunction" in json.dumps(integration["uri"]), path


def test_no_origin_is_allowed_by_default_and_the_function_reads_the_parameter():
    origins = TEMPLATE["Parameters"]["CorsAllowedOrigins"]
    assert origins["Default"] == ""
    assert re.fullmatch(origins["AllowedPattern"], "https://a.example.com,http://localhost:8080")
    assert not re.fullmatch(origins["AllowedPattern"], "https://a.example.com/page")
    # Only the API reads it; with CloudFront on, the distribution's own domain comes first.
    variables = FUNCTIONS["ApiFunction"]["Environment"]["Variables"]
    condition, with_cdn, without = variables["CORS_ALLOWED_ORIGINS"]["Fn::If"]
    assert condition == "HasWebDistribution" and without == {"Ref": "CorsAllowedOrigins"}
    assert with_cdn["Fn::Join"] == [
        "",
        ["https://", {"Fn::GetAtt": ["WebCdn", "DomainName"]}, ",", {"Ref": "CorsAllowedOrigins"}],
    ]
    assert "CORS_ALLOWED_ORIGINS" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def test_the_web_bucket_is_private_and_only_the_distribution_reads_it():
    bucket = TEMPLATE["Resources"]["WebBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert TEMPLATE["Parameters"]["WebDistribution"]["Default"] == "Disabled"  # LocalStack has none
    for name in ("WebCdn", "WebOriginAccessControl", "WebBucketPolicy", "WebUrl"):
        section = "Outputs" if name == "WebUrl" else "Resources"
        assert TEMPLATE[section][name]["Condition"] == "HasWebDistribution", name
    [statement] = TEMPLATE["Resources"]["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert {"Ref": "WebCdn"} in statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Join"][1]
    origin = TEMPLATE["Resources"]["WebCdn"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Ref": "WebOriginAccessControl"}


def test_the_gateways_own_errors_carry_cors_headers():
    responses = translate({})["Resources"]["ServerlessRestApi"]["Properties"]["Body"][
        "x-amazon-apigateway-gateway-responses"
    ]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        headers = responses[kind]["responseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'", kind


# -- operations: logs, tracing, VPC --------------------------------------------------------------


def test_every_function_logs_to_a_group_of_its_own_with_a_retention():
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"]
        for r in TEMPLATE["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    for name, props in FUNCTIONS.items():
        group = groups.pop("/aws/lambda/" + props["FunctionName"]["Fn::Sub"])
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert not groups


def test_tracing_is_one_switch_for_the_functions_and_their_tracer_and_off_by_default():
    assert TEMPLATE["Parameters"]["Tracing"]["Default"] == "Disabled"
    assert TEMPLATE["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]}
    assert TEMPLATE["Globals"]["Function"]["Tracing"] == {
        "Fn::If": ["TracingEnabled", "Active", "PassThrough"]
    }
    # Powertools' Tracer is off wherever X-Ray is: no daemon listens there (LocalStack included).
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingEnabled", "false", "true"]}


def test_the_api_stage_is_never_traced_since_its_traces_record_urls_holding_tokens():
    assert TEMPLATE["Globals"]["Api"]["TracingEnabled"] is False
    for parameters in ({}, AWS_PARAMETERS):
        stage = translate(parameters)["Resources"]["ServerlessRestApiProdStage"]["Properties"]
        assert not stage.get("TracingEnabled")
        assert "AccessLogSetting" not in stage  # a format with $context.path would log tokens


def test_logs_metrics_and_traces_share_one_service_name():
    from chalicelib.wiring import observability

    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE
    assert observability.logger.service == observability.metrics.service == observability.SERVICE


def test_the_functions_join_a_vpc_only_when_subnets_are_given():
    assert TEMPLATE["Parameters"]["SubnetIds"]["Default"] == ""
    assert TEMPLATE["Conditions"]["AttachToVpc"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": "SubnetIds"}]}, ""]}]
    }
    vpc = TEMPLATE["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert vpc[0] == "AttachToVpc" and vpc[2] == {"Ref": "AWS::NoValue"}
    assert not any(p.get("VpcConfig") for p in FUNCTIONS.values())  # none opts out of the switch


def test_the_local_stack_deploys_without_secrets_or_a_vpc():
    local = deploy.local_parameters(config.load())
    assert local["Waf"] == "Disabled"  # LocalStack has no WAF
    assert set(local) <= set(TEMPLATE["Parameters"])
    secrets = {name for name in TEMPLATE["Parameters"] if name.endswith("SecretArn")}
    assert len(secrets) == 5 and not (secrets | {"SubnetIds"}) & set(local)


# -- least privilege -----------------------------------------------------------------------------

# Actions AWS offers no resource-level permission for: X-Ray and a VPC attachment's interfaces.
AWS_MANAGED_POLICIES = {"AWSXRayDaemonWriteAccess", "service-role/AWSLambdaVPCAccessExecutionRole"}


@pytest.mark.parametrize("parameters", [{}, AWS_PARAMETERS], ids=["local", "aws"])
def test_no_policy_grants_a_wildcard_resource(parameters):
    translated = translate(parameters)
    statements = list(_iam_statements(translated))
    assert statements
    for name, statement in statements:
        for resource in _values(statement["Resource"]):
            assert resource != "*" and not (isinstance(resource, str) and "*" in resource), (name, statement)
    for name, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for arn in _values(resource["Properties"].get("ManagedPolicyArns", [])):
            if arn == {"Ref": "AWS::NoValue"} or arn.get("Ref", "") in SECRET_POLICIES:
                continue
            suffix = arn["Fn::Sub"].split(":policy/")[1]
            assert suffix in AWS_MANAGED_POLICIES, f"{name} gets {suffix}, which can name no resource"


def test_every_function_has_its_own_role_naming_only_its_own_log_group_and_queue():
    roles = TEMPLATE["Resources"]
    for name, props in FUNCTIONS.items():
        role = props["Role"]["Fn::GetAtt"][0]
        statements = roles[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        log_groups = {
            s["Resource"]["Fn::GetAtt"][0] for s in statements if s["Action"][0].startswith("logs:")
        }
        assert log_groups == {name.replace("Function", "LogGroup")}, name
        queues = {s["Resource"]["Fn::GetAtt"][0] for s in statements if s["Action"][0].startswith("sqs:")}
        # Only the API reads the dead-letter queue: it counts its numbers when numbering reopens.
        # The webhook deliveries have a queue of their own (the changes topic feeds it).
        allowed = {
            "ApiFunction": {"CreationsQueue", "CreationsDeadLetterQueue"},
            "DeliveryFunction": {"WebhookWorkQueue", "WebhookSlowWorkQueue"},
        }
        assert queues <= allowed.get(name, {"CreationsQueue"}), name
    # SAM adds its own broad policies to a role it makes: no function may leave it to SAM.
    assert not [
        n for n, r in translate({})["Resources"].items() if r["Type"] == "AWS::IAM::Role" and n not in roles
    ]


# The secrets each function reads, and nothing more (the schema function sets the API login's
# password, so it reads that secret too; the API's Elasticsearch key is the read-only one).
SECRETS_READ = {
    "ApiFunction": {
        "MysqlSecretArn",
        "RedisAuthSecretArn",
        "ElasticsearchSearchApiKeySecretArn",
        "UserTokenSecret",
    },
    "WriterFunction": {"MysqlSecretArn", "RedisAuthSecretArn", "ElasticsearchApiKeySecretArn"},
    "CounterFunction": {"MysqlSecretArn", "RedisAuthSecretArn"},
    "DeliveryFunction": {"MysqlSecretArn", "RedisAuthSecretArn"},
    "MigrateFunction": {"MysqlAdminSecretArn", "MysqlSecretArn", "ElasticsearchApiKeySecretArn"},
    "SocketFunction": {"MysqlSecretArn", "RedisAuthSecretArn", "UserTokenSecret"},
    "PushFunction": {"MysqlSecretArn"},
}
SECRET_POLICIES = {
    name
    for name, r in TEMPLATE["Resources"].items()
    if r["Type"] == "AWS::IAM::ManagedPolicy" and name.startswith("Read") and name.endswith("SecretPolicy")
}


def _environment(function: str) -> dict:
    """The function's variables as Lambda gets them: the globals, then its own over them."""
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(FUNCTIONS[function].get("Environment", {}).get("Variables", {}))
    return variables


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_reads_only_the_secrets_it_uses(function):
    named = {v["Ref"] for k, v in _environment(function).items() if k.endswith("_SECRET_ARN") and v}
    assert named == SECRETS_READ[function]
    role = TEMPLATE["Resources"][FUNCTIONS[function]["Role"]["Fn::GetAtt"][0]]["Properties"]
    policies = [a["Ref"] for a in _values(role["ManagedPolicyArns"]) if a.get("Ref") in SECRET_POLICIES]
    readable = set()
    for policy in policies:
        [statement] = TEMPLATE["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        readable.add(statement["Resource"]["Ref"])
    assert readable == SECRETS_READ[function]
    # The inline policy grants no secret either.
    assert "secretsmanager" not in json.dumps(role["Policies"])


def test_each_secret_policy_exists_only_when_its_secret_is_given():
    for name in SECRET_POLICIES - {"ReadUserTokenSecretPolicy"}:  # that secret the template makes
        [statement] = TEMPLATE["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]
        condition = TEMPLATE["Conditions"][TEMPLATE["Resources"][name]["Condition"]]
        assert condition == {"Fn::Not": [{"Fn::Equals": [statement["Resource"], ""]}]}, name
    # SAM keeps the conditions for CloudFormation to decide: none of them is made locally.
    translated = translate({})["Resources"]
    given = SECRET_POLICIES - {"ReadUserTokenSecretPolicy"}
    assert all(translated[n]["Condition"] == TEMPLATE["Resources"][n]["Condition"] for n in given)


def test_the_schema_function_alone_logs_in_as_master_and_grants_the_api_login():
    migrate = _environment("MigrateFunction")
    assert migrate["MYSQL_SECRET_ARN"] == {"Ref": "MysqlAdminSecretArn"}
    assert migrate["MYSQL_USER"] == {"Ref": "MysqlAdminUser"}
    assert (migrate["MYSQL_API_USER"], migrate["MYSQL_API_SECRET_ARN"]) == (
        {"Ref": "MysqlUser"},
        {"Ref": "MysqlSecretArn"},
    )
    for function in set(FUNCTIONS) - {"MigrateFunction"}:
        env = _environment(function)
        assert env["MYSQL_SECRET_ARN"] == {"Ref": "MysqlSecretArn"}, function
        assert env["MYSQL_USER"] == {"Ref": "MysqlUser"}, function
        assert "MYSQL_API_USER" not in env, function


def test_every_function_talks_tls_to_mysql_by_default():
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["MYSQL_TLS"] == {"Ref": "MysqlTls"}
    assert TEMPLATE["Parameters"]["MysqlTls"]["Default"] == "verify"
    assert not any("MYSQL_TLS" in p.get("Environment", {}).get("Variables", {}) for p in FUNCTIONS.values())
    assert deploy.local_parameters(config.load())["MysqlTls"] == "off"


@pytest.mark.parametrize(
    ("parameter", "accepted", "refused"),
    [
        (
            "ElasticsearchUrl",
            [
                "https://chat.es.eu-west-1.aws.elastic-cloud.com",
                "http://127.0.0.1:9200",
                "http://elasticsearch:9200",
            ],
            ["http://chat.es.eu-west-1.aws.elastic-cloud.com", "http://10.0.0.5:9200", "ftp://x"],
        ),
        (
            "RedisUrl",
            [
                "rediss://master.chat.cache.amazonaws.com:6379/0",
                "redis://127.0.0.1:6379/0",
                "redis://redis:6379/0",
            ],
            ["redis://master.chat.cache.amazonaws.com:6379/0", "redis://10.0.0.5:6379"],
        ),
    ],
)
def test_store_urls_are_tls_except_to_the_local_stacks_own_services(parameter, accepted, refused):
    pattern = TEMPLATE["Parameters"][parameter]["AllowedPattern"]
    assert re.fullmatch(pattern, TEMPLATE["Parameters"][parameter]["Default"])
    assert all(re.fullmatch(pattern, url) for url in accepted)
    assert not any(re.fullmatch(pattern, url) for url in refused)


# -- no secret in plain text ---------------------------------------------------------------------

SECRET_WORDS = re.compile(r"password|passwd|token|api_?key|secret", re.IGNORECASE)


def test_credentials_are_parameters_that_only_take_a_secret_arn():
    for name, parameter in TEMPLATE["Parameters"].items():
        assert not parameter.get("NoEcho"), f"{name}: a NoEcho parameter carries a secret by value"
        if SECRET_WORDS.search(name):
            assert name.endswith("SecretArn"), name
            assert re.fullmatch(parameter["AllowedPattern"], "") and re.fullmatch(
                parameter["AllowedPattern"], SECRET_ARN.format("x")
            )
            assert not re.fullmatch(parameter["AllowedPattern"], "hunter2")


def test_the_environment_carries_secret_arns_that_the_settings_read():
    from chalicelib.wiring import settings

    names = {
        k
        for f in FUNCTIONS
        for k in _environment(f)
        if SECRET_WORDS.search(k) and k != "SECRETS_MAX_AGE_SECONDS"
    }
    assert names and all(k.endswith("_SECRET_ARN") for k in names)
    for function in FUNCTIONS:
        for name, value in _environment(function).items():
            if name in names:
                # A parameter's ARN, or a secret the template makes itself.
                assert value == "" or value["Ref"].endswith(("SecretArn", "Secret")), (function, name)
    # Read with TLS on, as a credential from a secret requires.
    tls = {
        "MYSQL_TLS": "verify",
        "ELASTICSEARCH_URL": "https://es.example.com",
        "REDIS_URL": "rediss://r:6379/0",
    }
    read = settings.from_env({**tls, **{k: SECRET_ARN.format(k.lower()) for k in names}})
    fields = {
        "MYSQL_SECRET_ARN": "mysql_secret_arn",
        "MYSQL_API_SECRET_ARN": "mysql_api_secret_arn",
        "REDIS_AUTH_SECRET_ARN": "redis_auth_secret_arn",
        "ELASTICSEARCH_API_KEY_SECRET_ARN": "elasticsearch_api_key_secret_arn",
        "USER_TOKEN_SECRET_ARN": "user_token_secret_arn",
    }
    assert set(fields) == names
    assert {getattr(read, f) for f in fields.values()} == {SECRET_ARN.format(k.lower()) for k in fields}


class _NoIam:
    """The translator asks IAM for managed policy ARNs; the template names none."""

    def get_paginator(self, _):
        class Pages:
            def paginate(self, **_):
                return iter([{"Policies": []}])

        return Pages()


# -- alarms and the dashboard --------------------------------------------------------------------

ALARMS = {
    name: r["Properties"]
    for name, r in TEMPLATE["Resources"].items()
    if r["Type"] == "AWS::CloudWatch::Alarm"
}


def _alarms_on(namespace: str, metric: str) -> list:
    return [a for a in ALARMS.values() if (a["Namespace"], a["MetricName"]) == (namespace, metric)]


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_any_error_and_any_throttle(metric):
    watched = {
        a["Dimensions"][0]["Value"]["Ref"]
        for a in _alarms_on("AWS/Lambda", metric)
        if a["Threshold"] == 0 and a["ComparisonOperator"] == "GreaterThanThreshold"
    }
    assert watched == set(FUNCTIONS)
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in _alarms_on("AWS/Lambda", metric))


def test_alarms_on_the_functions_own_metrics_watch_the_service_they_emit_under():
    # Powertools puts service=<POWERTOOLS_SERVICE_NAME> on every Chat/* metric: an alarm on
    # another value watches a metric nobody emits, and never fires.
    functions = [TEMPLATE["Globals"]["Function"], *FUNCTIONS.values()]
    named = {f.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME") for f in functions}
    assert named - {None} == {observability.SERVICE}
    own = [a for a in ALARMS.values() if a.get("Namespace") == "Chat"]
    assert own
    for alarm in own:
        assert alarm["Dimensions"] == [{"Name": "service", "Value": observability.SERVICE}]


def test_a_failed_hourly_count_raises_an_alarm_within_the_hour():
    [counter] = [
        a
        for a in _alarms_on("AWS/Lambda", "Errors")
        if a["Dimensions"][0]["Value"]["Ref"] == "CounterFunction"
    ]
    assert counter["Statistic"] == "Sum" and counter["Period"] * counter["EvaluationPeriods"] <= 3600


def test_the_api_alarms_on_server_errors_and_p99_latency_of_the_stage_it_serves():
    stage = translate({})["Resources"]["ServerlessRestApiProdStage"]["Properties"]["StageName"]
    api_name = translate({})["Resources"]["ServerlessRestApi"]["Properties"]["Body"]["info"]["title"]
    [errors] = _alarms_on("AWS/ApiGateway", "5XXError")
    [latency] = _alarms_on("AWS/ApiGateway", "Latency")
    for alarm in (errors, latency):
        assert alarm["Dimensions"] == [
            {"Name": "ApiName", "Value": api_name},
            {"Name": "Stage", "Value": stage},
        ]
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert errors["Statistic"] == "Average" and 0 < errors["Threshold"] < 0.05  # a share of requests
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == {"Ref": "ApiLatencyAlarmMs"}


def _dashboard() -> dict:
    """The dashboard body as CloudWatch receives it, with ${...} filled in."""
    body = TEMPLATE["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", body))


def test_the_dashboard_shows_the_golden_signals_from_metrics_the_functions_emit():
    metrics = [
        m for w in _dashboard()["widgets"] for m in w["properties"]["metrics"] if isinstance(m[0], str)
    ]
    shown = {(m[0], m[1]) for m in metrics}
    assert {
        ("Chat", "MessagesAccepted"),  # accepted/s
        ("Chat", "WriteLag"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),  # dead-letter queue depth
        ("Chat", "SearchLatency"),
    } <= shown
    entry_points = [ROOT / "functions" / "app.py", *(ROOT / "functions" / "handlers").glob("*.py")]
    emitted = {name for f in entry_points for name in re.findall(r'add_metric\(name="(\w+)"', f.read_text())}
    assert {name for namespace, name in shown if namespace == "Chat"} <= emitted
    # Powertools tags each metric with the service dimension; the widgets must ask for the same.
    from chalicelib.wiring import observability

    assert all(m[2:4] == ["service", observability.SERVICE] for m in metrics if m[0] == "Chat")


# -- the schema resource, and what the app's decorators leave to the template ---------------------


def test_the_schema_resource_gives_up_long_before_an_hour_and_after_the_migrate_timeout():
    timeout = TEMPLATE["Resources"]["Schema"]["Properties"]["ServiceTimeout"]
    assert FUNCTIONS["MigrateFunction"]["Timeout"] < timeout <= 900


def test_the_apps_decorators_configure_no_trigger_the_template_decides():
    # A queue, batch size or schedule named in app.py would be ignored by the SAM deploy.
    assert app.app.event_sources == []
    handlers = {p["Handler"] for p in FUNCTIONS.values()}
    assert {f.handler_string for f in app.app.pure_lambda_functions} <= handlers


# Loaded by the API's handler only (its routes), or by no handler at import: PyJWT where a user
# token is first verified, the search client where a search or an index write first needs it.
LOADED_BY_THE_API_ONLY = {"app", "chalice"}
LOADED_BY_NONE_AT_IMPORT = {"jwt", "elasticsearch"}


def test_each_function_loads_its_handler_and_only_the_api_loads_the_app():
    modules: dict[str, list[str]] = {}
    for function in FUNCTIONS.values():
        module, attribute = function["Handler"].rsplit(".", 1)
        modules.setdefault(module, []).append(attribute)
    watched = sorted(LOADED_BY_THE_API_ONLY | LOADED_BY_NONE_AT_IMPORT)
    for module, attributes in modules.items():  # each in a fresh interpreter, as a Lambda environment
        names = ", ".join(f"{module}.{a}" for a in attributes)
        loaded = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys, {module}; {names}; print([m for m in {watched} if m in sys.modules])",
            ],
            cwd=ROOT / "functions",
            capture_output=True,
            text=True,
            check=True,
        )
        expected = sorted(LOADED_BY_THE_API_ONLY) if module == "app" else []
        assert loaded.stdout.strip() == str(expected), module


# The drivers each function's init loads, building its clients (stores.prepare, with `_HANDLER`
# set as in Lambda): those of the stores it uses, no other. botocore.session stands for an AWS
# client (Powertools imports botocore's package itself); boto3 is never loaded at init.
DRIVERS = ["pymysql", "redis", "elasticsearch", "botocore.session", "boto3"]
# What each client's build needs (nothing connects at init); a build that failed would log.
INIT_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "WEBSOCKET_ENDPOINT": "http://127.0.0.1:4568/api/stage"}
DRIVERS_AT_INIT = {
    "ApiFunction": ["pymysql", "redis", "botocore.session"],  # the search client on first search
    "WriterFunction": ["pymysql", "redis", "elasticsearch"],
    "CounterFunction": ["pymysql", "redis"],
    "MigrateFunction": ["pymysql", "elasticsearch"],
    "SocketFunction": ["pymysql", "redis", "botocore.session"],
    "PushFunction": ["pymysql", "botocore.session"],
    "DeliveryFunction": ["pymysql", "redis", "botocore.session"],
}


def test_each_functions_init_loads_the_drivers_of_its_own_stores_only():
    assert set(DRIVERS_AT_INIT) == set(FUNCTIONS)
    for name, function in FUNCTIONS.items():  # each in a fresh interpreter, as a Lambda environment
        module = function["Handler"].rsplit(".", 1)[0]
        loaded = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys, {module}; print([m for m in {DRIVERS} if m in sys.modules])",
            ],
            cwd=ROOT / "functions",
            env={"PATH": os.environ["PATH"], "_HANDLER": function["Handler"], **INIT_ENV},
            capture_output=True,
            text=True,
            check=True,
        )
        assert loaded.stdout.strip() == str(DRIVERS_AT_INIT[name]), name
