"""The AWS deploy path, checked offline: infra/data.yaml, infra/samconfig.toml, `make deploy-aws`."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = cfn_yaml.load(str(INFRA / "template.yaml"))
DATA = cfn_yaml.load(str(INFRA / "data.yaml"))
RESOURCES = DATA["Resources"]
SAMCONFIG = tomllib.loads((INFRA / "samconfig.toml").read_text())
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
STATE = Path(os.environ.get("CHAT_STATE_DIR", ROOT / ".local"))
# SAM CLI lives in its own venv (`make up` installs it); a test run without it skips those checks.
SAM = shutil.which("sam") or str(STATE / "venvs" / "sam" / "bin" / "sam")
# The form SAM accepts for one override: Key=Value, a value with spaces in double quotes.
OVERRIDE = re.compile(r'(\w+)=("[^"]*"|[^\s"]+)')


def _overrides(env: str) -> dict:
    pairs = [
        OVERRIDE.fullmatch(item) for item in SAMCONFIG[env]["deploy"]["parameters"]["parameter_overrides"]
    ]
    assert all(pairs), SAMCONFIG[env]["deploy"]["parameters"]["parameter_overrides"]
    return {m[1]: m[2] for m in pairs if m}


def _props(type_: str) -> list:
    return [r["Properties"] for r in RESOURCES.values() if r["Type"] == type_]


# -- the data stores template --------------------------------------------------------------------


@pytest.mark.parametrize("template", ["data.yaml"])
def test_the_data_template_lints_clean(template):
    result = subprocess.run([CFN_LINT, str(INFRA / template)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("template", ["template.yaml", "data.yaml"])
def test_sam_validate_lint_passes_offline(template):
    if not Path(SAM).exists():
        pytest.skip("SAM CLI is not installed: `make up` installs it")
    env = dict(
        os.environ, AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0", AWS_EC2_METADATA_DISABLED="true"
    )
    result = subprocess.run(
        [SAM, "validate", "--lint", "-t", str(INFRA / template)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_data_outputs_are_the_main_templates_data_store_parameters():
    outputs = set(DATA["Outputs"])
    assert outputs <= set(MAIN["Parameters"])
    assert {
        "MysqlHost",
        "MysqlPort",
        "MysqlDatabase",
        "MysqlSecretArn",
        "MysqlAdminSecretArn",
        "RedisUrl",
        "RedisAuthSecretArn",
        "SubnetIds",
        "SecurityGroupIds",
    } == outputs


def test_mysql_is_aurora_serverless_v2_reached_through_rds_proxy_with_one_secret():
    [cluster] = _props("AWS::RDS::DBCluster")
    assert cluster["Engine"] == "aurora-mysql" and "ServerlessV2ScalingConfiguration" in cluster
    assert {i["DBInstanceClass"] for i in _props("AWS::RDS::DBInstance")} == {"db.serverless"}
    [proxy] = _props("AWS::RDS::DBProxy")
    assert DATA["Outputs"]["MysqlHost"]["Value"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    # The proxy logs in with the very secrets the functions read: the DML-only and the master login.
    assert [a["SecretArn"] for a in proxy["Auth"]] == [
        DATA["Outputs"]["MysqlAdminSecretArn"]["Value"],
        DATA["Outputs"]["MysqlSecretArn"]["Value"],
    ]
    assert _props("AWS::RDS::DBProxyTargetGroup")[0]["DBClusterIdentifiers"] == [{"Ref": "DatabaseCluster"}]


def test_mysql_takes_tls_only_from_the_functions_to_the_proxy_and_on_to_the_cluster():
    [proxy] = _props("AWS::RDS::DBProxy")
    assert proxy["RequireTLS"] is True
    [parameters] = _props("AWS::RDS::DBClusterParameterGroup")
    assert parameters["Parameters"]["require_secure_transport"] == "ON"
    [cluster] = _props("AWS::RDS::DBCluster")
    assert cluster["DBClusterParameterGroupName"] == {"Ref": "DatabaseClusterParameters"}
    # And the functions verify the proxy's certificate unless told otherwise (the local stack).
    assert MAIN["Parameters"]["MysqlTls"]["Default"] == "verify"
    assert "MysqlTls" not in _overrides("aws")


def test_the_api_login_is_a_generated_secret_of_its_own_beside_the_master_login():
    api = RESOURCES["ApiDatabaseSecret"]["Properties"]["GenerateSecretString"]
    master = RESOURCES["DatabaseSecret"]["Properties"]["GenerateSecretString"]
    assert api["SecretStringTemplate"] == {"Fn::Sub": '{"username": "${ApiDatabaseUser}"}'}
    assert master["SecretStringTemplate"] == {"Fn::Sub": '{"username": "${DatabaseUser}"}'}
    assert DATA["Parameters"]["ApiDatabaseUser"]["Default"] != DATA["Parameters"]["DatabaseUser"]["Default"]


def test_redis_evicts_only_caches_as_the_local_redis_does_and_has_a_replica_to_fail_over_to():
    from types import SimpleNamespace

    import yaml

    from local.stack.services import REDIS, REDIS_MAXMEMORY_POLICY

    [params] = _props("AWS::ElastiCache::ParameterGroup")
    assert REDIS_MAXMEMORY_POLICY == "volatile-lru"  # only keys with a TTL, the caches (docs/reliability.md)
    assert params["Properties"]["maxmemory-policy"] == REDIS_MAXMEMORY_POLICY
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["redis"]["command"][-2:] == ["--maxmemory-policy", REDIS_MAXMEMORY_POLICY]
    assert REDIS_MAXMEMORY_POLICY in REDIS.argv(SimpleNamespace(redis_port=1, data=ROOT))
    [group] = _props("AWS::ElastiCache::ReplicationGroup")
    assert group["CacheParameterGroupName"] == {"Ref": "CacheParameters"}
    assert group["NumCacheClusters"] >= 2 and group["AutomaticFailoverEnabled"] and group["MultiAZEnabled"]
    assert group["TransitEncryptionEnabled"] is True
    assert DATA["Outputs"]["RedisUrl"]["Value"]["Fn::Sub"].startswith("rediss://")


def test_redis_memory_alarms_before_a_full_node_refuses_numbers_whichever_node_is_primary():
    [alarm] = _props("AWS::CloudWatch::Alarm")
    stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert {s["Metric"]["MetricName"] for s in stats} == {"DatabaseMemoryUsagePercentage"}
    nodes = {s["Metric"]["Dimensions"][0]["Value"]["Fn::Sub"] for s in stats}
    assert nodes == {
        f"${{Cache}}-00{n}" for n in range(1, RESOURCES["Cache"]["Properties"]["NumCacheClusters"] + 1)
    }
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and 50 <= alarm["Threshold"] < 100


def test_each_store_admits_only_the_functions_or_the_proxy():
    def sources(name):
        return [
            rule["SourceSecurityGroupId"] for rule in RESOURCES[name]["Properties"]["SecurityGroupIngress"]
        ]

    assert sources("ProxySecurityGroup") == [{"Ref": "FunctionSecurityGroup"}]
    assert sources("DatabaseSecurityGroup") == [{"Ref": "ProxySecurityGroup"}]
    assert sources("CacheSecurityGroup") == [{"Ref": "FunctionSecurityGroup"}]
    assert DATA["Outputs"]["SecurityGroupIds"]["Value"] == {"Ref": "FunctionSecurityGroup"}


def test_data_passwords_are_generated_secrets_never_text_in_the_template():
    [cluster] = _props("AWS::RDS::DBCluster")
    [group] = _props("AWS::ElastiCache::ReplicationGroup")
    for value in (cluster["MasterUsername"], cluster["MasterUserPassword"], group["AuthToken"]):
        assert value["Fn::Sub"].startswith("{{resolve:secretsmanager:${"), value
    for secret in _props("AWS::SecretsManager::Secret"):
        assert "SecretString" not in secret and "GenerateSecretString" in secret
    for name, _parameter in DATA["Parameters"].items():
        assert not re.search(r"password|token|secret", name, re.IGNORECASE), name


def test_the_data_template_grants_no_wildcard_resource():
    for props in _props("AWS::IAM::Role"):
        for policy in props.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert "*" not in str(statement["Resource"]), statement


def test_the_database_survives_a_stack_deletion_as_a_snapshot():
    cluster = RESOURCES["DatabaseCluster"]
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert cluster["Properties"]["DeletionProtection"] is True


# -- the saved deploy configuration --------------------------------------------------------------


def test_samconfig_overrides_name_only_parameters_of_their_template():
    assert set(_overrides("aws")) <= set(MAIN["Parameters"])
    assert set(_overrides("data")) <= set(DATA["Parameters"])
    assert set(DATA["Outputs"]) <= set(_overrides("aws")), "every data output has its line"


def test_samconfig_has_no_default_environment_for_the_local_deploys_to_pick_up():
    # `make up` and compose run `sam build/deploy -t infra/template.yaml`: SAM reads this file's
    # `default` environment then, and would send the local stack to AWS settings.
    assert "default" not in SAMCONFIG


def test_samconfig_builds_from_the_template_into_the_ignored_state_dir():
    build = SAMCONFIG["aws"]["build"]["parameters"]
    deploy = SAMCONFIG["aws"]["deploy"]["parameters"]
    assert (INFRA / build["template_file"]).resolve() == INFRA / "template.yaml"
    assert (INFRA / build["build_dir"]).resolve().is_relative_to(ROOT / ".local")
    assert (INFRA / deploy["template_file"]).resolve() == (
        INFRA / build["build_dir"]
    ).resolve() / "template.yaml"
    assert (
        INFRA / SAMCONFIG["data"]["deploy"]["parameters"]["template_file"]
    ).resolve() == INFRA / "data.yaml"
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}


def test_samconfig_names_secrets_by_arn_only():
    for name, value in _overrides("aws").items():
        if re.search(r"password|token|key|secret", name, re.IGNORECASE):
            assert name.endswith("SecretArn") and value.startswith("REPLACE-"), (name, value)


# -- make deploy-aws -----------------------------------------------------------------------------


def _make(*args, **env):
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


@pytest.mark.parametrize("target", ["deploy-aws", "deploy-aws-data"])
def test_the_aws_deploys_refuse_to_run_in_ci(target):
    # SAM=false: should the guard ever let it through, nothing is built or deployed.
    result = _make(target, "SAM=false", CI="true")
    assert result.returncode != 0
    assert "never runs in CI" in result.stderr


def test_deploy_aws_refuses_while_samconfig_holds_placeholders():
    result = _make("deploy-aws", "SAM=false", CI="")
    assert result.returncode != 0 and "REPLACE-" in result.stderr


def test_deploy_aws_is_sam_build_then_sam_deploy_with_the_saved_config():
    commands = _make("-n", "deploy-aws", "SAM=sam").stdout.splitlines()
    sam = [c for c in commands if c.startswith("cd infra && sam ")]
    assert [c.split()[4] for c in sam] == ["build", "deploy"]
    assert all("--config-env aws" in c for c in sam)
    assert commands[-1].endswith("-m local.stack web-upload-aws " + commands[-1].split()[-1])


def test_ci_never_runs_an_aws_deploy():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "deploy-aws" not in ci and "sam deploy" not in ci
    test_recipe = _make("-n", "test", "SKIP_UP=1").stdout
    assert "deploy-aws" not in test_recipe and "sam deploy" not in test_recipe


def test_the_aws_deploy_keeps_the_waf_on():
    # The template's default is Enabled; only the local deploy (LocalStack has no WAF) turns it off.
    assert MAIN["Parameters"]["Waf"]["Default"] == "Enabled"
    assert "Waf" not in _overrides("aws")
