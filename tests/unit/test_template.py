"""template.yaml: the functions, their variables and the outputs, as the docs give them."""

from __future__ import annotations

import copy
import json
import shlex
import tomllib
from typing import Any

import pytest

from devtools.runtime import ROOT
from devtools.template import (
    Evaluator,
    dependency_cycles,
    function_environment,
    load_template,
    resources_of_type,
    sam_transform,
)
from src.core.access import ADMIN_SCOPE, ADMINISTRATORS_GROUP, SELF_SCOPE


def test_api_function_runs_the_handler_on_arm64_python313() -> None:
    template = load_template()
    globals_ = template["Globals"]["Function"]
    api = template["Resources"]["ApiFunction"]["Properties"]

    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert api["Handler"] == "src.handlers.api_handler.handler"


def test_every_resource_variable_names_a_resource_of_the_template() -> None:
    resources = load_template()["Resources"]
    bucket_names = [b["BucketName"] for b in resources_of_type("AWS::S3::Bucket").values()]
    for logical_id in resources_of_type("AWS::Serverless::Function"):
        for name, value in function_environment(logical_id).items():
            if name.endswith(("_TABLE", "_BUCKET", "_TOPIC_ARN")):
                referenced = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                # A bucket may be named by its computed name (no reference, no cycle).
                assert referenced in resources or value in bucket_names, f"{logical_id}: {name}"


def test_tables_are_on_demand_with_point_in_time_recovery() -> None:
    for logical_id, table in resources_of_type("AWS::DynamoDB::Table").items():
        assert table["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], logical_id


def test_outputs_name_the_stack_resources() -> None:
    assert {
        "ApiEndpoint",
        "UsersTableName",
        "OrdersTableName",
        "IdempotencyTableName",
        "OrderQueueUrl",
        "OrderDLQUrl",
        "NotificationTopicArn",
        "UploadsBucketName",
        "MetadataTableName",
    } <= set(load_template()["Outputs"])


def test_the_order_queue_feeds_the_consumer_with_partial_batch_failures() -> None:
    template = load_template()
    resources = template["Resources"]
    function = resources["SqsHandlerFunction"]["Properties"]
    (source,) = function["Events"].values()
    queue = resources["OrderQueue"]["Properties"]
    dlq = resources["OrderDLQ"]["Properties"]

    assert function["Handler"] == "src.handlers.sqs_handler.handler"
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["OrderQueue", "Arn"]}
    assert source["Properties"]["BatchSize"] == 10
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # AWS guidance: visibility timeout at least 6 x the function timeout, maxReceiveCount >= 5.
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["OrderDLQ", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_the_sam_transform_leaves_no_circular_dependency() -> None:
    transformed = sam_transform(copy.deepcopy(load_template()))

    assert "S3HandlerFunction" in transformed["Resources"]
    assert dependency_cycles(transformed) == []


def test_the_cycle_check_finds_the_cycle_a_bucket_reference_would_make() -> None:
    # The trap the template avoids: the processor's policy naming its trigger bucket by !Ref.
    template = copy.deepcopy(load_template())
    role = template["Resources"]["S3HandlerFunctionRole"]["Properties"]
    (read_uploads,) = [
        statement
        for statement in role["Policies"][0]["PolicyDocument"]["Statement"]
        if statement["Action"] == "s3:GetObject"
    ]
    read_uploads["Resource"] = {"Fn::Sub": "${UploadsBucket.Arn}/uploads/*"}

    cycles = dependency_cycles(sam_transform(template))

    assert any("UploadsBucket" in cycle for cycle in cycles)


def test_uploads_bucket_is_private_encrypted_and_tls_only() -> None:
    resources = load_template()["Resources"]
    bucket = resources["UploadsBucket"]["Properties"]
    policy = resources["UploadsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] is False
        for s in policy
    )


def test_the_processor_sees_uploads_only_and_never_loses_an_event() -> None:
    function = load_template()["Resources"]["S3HandlerFunction"]["Properties"]
    events = function["Events"].values()

    assert {e["Properties"]["Events"] for e in events} == {
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
    }
    for event in events:
        assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [
            {"Name": "prefix", "Value": "uploads/"}
        ]
    invoke = function["EventInvokeConfig"]
    assert invoke["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    assert invoke["MaximumRetryAttempts"] == 2


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_function_roles_are_least_privilege_after_the_transform() -> None:
    resources = sam_transform(copy.deepcopy(load_template()))["Resources"]
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    roles = {n: r for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}

    assert sorted(functions) == [
        "AccessTokenFunction",
        "ApiFunction",
        "S3HandlerFunction",
        "SqsHandlerFunction",
    ]
    for name, function in functions.items():
        role_name = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = roles[role_name]
        # No AWS managed policy (they grant their actions on "*").
        assert not role["Properties"].get("ManagedPolicyArns"), name
        for statement in _statements(role):
            actions = _as_list(statement["Action"])
            assert all("*" not in action for action in actions), (name, actions)
            if "*" in _as_list(statement["Resource"]):
                # X-Ray has no resource-level permissions.
                assert all(action.startswith("xray:") for action in actions), (name, actions)


def test_each_function_logs_to_its_own_group_with_retention() -> None:
    resources = load_template()["Resources"]
    for name in resources_of_type("AWS::Serverless::Function"):
        group = resources[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert "RetentionInDays" in resources[group]["Properties"]


def test_alarms_cover_dead_letters_errors_throttles_and_api_5xx() -> None:
    alarms = resources_of_type("AWS::CloudWatch::Alarm").values()
    watched = {
        (alarm["MetricName"], json.dumps(alarm["Dimensions"][0]["Value"])) for alarm in alarms
    }

    for queue in ("OrderDLQ", "UploadFailureQueue"):
        assert (
            "ApproximateNumberOfMessagesVisible",
            json.dumps({"Fn::GetAtt": [queue, "QueueName"]}),
        ) in watched
    for function in resources_of_type("AWS::Serverless::Function"):
        for metric in ("Errors", "Throttles"):
            assert (metric, json.dumps({"Ref": function})) in watched
    assert any(metric == "5XXError" for metric, _ in watched)
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_environments_differ_in_cors_retention_alarms_and_throttling() -> None:
    template = load_template()
    settings = template["Mappings"]["EnvironmentSettings"]
    api = template["Resources"]["Api"]["Properties"]

    assert set(settings) == set(template["Parameters"]["Environment"]["AllowedValues"])
    assert settings["development"]["CorsAllowOrigin"] == "*"
    assert settings["production"]["CorsAllowOrigin"] != "*"
    assert settings["production"]["AlarmActionsEnabled"] is True
    assert settings["development"]["LogRetentionDays"] < settings["production"]["LogRetentionDays"]
    assert api["MethodSettings"][0]["ThrottlingRateLimit"] == {
        "Fn::FindInMap": ["EnvironmentSettings", {"Ref": "Environment"}, "ThrottlingRateLimit"]
    }
    assert "AccessLogSetting" in api
    for table in resources_of_type("AWS::DynamoDB::Table").values():
        assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProduction", True, False]}


def _api_methods(transformed: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each (path, method) of the deployed REST API in a transformed template, as API Gateway
    gets it."""
    body = transformed["Resources"]["Api"]["Properties"]["Body"]
    return {
        (path, method): operation
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }


@pytest.mark.parametrize(
    "parameters",
    [
        {"Environment": "development"},
        {"Environment": "staging"},
        {"Environment": "production"},
        # The unsafe opening applies to development only.
        {"Environment": "staging", "UnsafeOpenDevelopmentApi": "yes"},
        {"Environment": "production", "UnsafeOpenDevelopmentApi": "yes"},
    ],
)
def test_every_deployed_stack_asks_a_cognito_token_on_every_route_but_preflight(
    parameters: dict[str, str],
) -> None:
    transformed = sam_transform(load_template(), parameters=parameters)
    methods = _api_methods(transformed)
    any_method = "x-amazon-apigateway-any-method"
    everyone, administrators = [SELF_SCOPE, ADMIN_SCOPE], [ADMIN_SCOPE]

    # The routes of every user's record want the administrators' scope; reading and changing
    # a record, and every other route, the scope each user has (the function checks whose).
    expected = {
        ("/users", any_method): administrators,
        ("/users/{userId}", any_method): administrators,
        ("/users/{userId}", "get"): everyone,
        ("/users/{userId}", "put"): everyone,
    }
    for (path, method), operation in methods.items():
        if method == "options":
            assert operation["security"] == [{"NONE": []}], path
        else:
            scopes = expected.get((path, method), everyone)
            assert operation["security"] == [{"CognitoAuthorizer": scopes}], (path, method)
    # So an ordinary user's token cannot list, create or delete users (those methods fall to
    # ANY): API Gateway refuses it.
    assert {method for path, method in methods if path == "/users"} == {any_method, "options"}
    assert {method for path, method in methods if path == "/users/{userId}"} == {
        any_method,
        "get",
        "put",
        "options",
    }
    # A preflight on each declared path, without a token; an undeclared path's OPTIONS meets the
    # authorizer of the catch-all, so no stranger invokes the function.
    preflights = {path for path, method in methods if method == "options"}
    assert preflights == {path for path, _ in methods} - {"/{proxy+}"}
    # The user pool the authorizer names is created (its condition holds), with the trigger
    # that grants the scopes and the group it grants the administrators' scope to.
    evaluator = Evaluator(load_template(), {}, parameters=parameters)
    assert evaluator.condition("RequiresAuth") is True
    resources = transformed["Resources"]
    assert resources["UserPool"]["Condition"] == "RequiresAuth"
    trigger = resources["UserPool"]["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]
    assert trigger["LambdaVersion"] == "V2_0"
    assert trigger["LambdaArn"] == {"Ref": "AccessTokenFunctionAliaslive"}
    assert resources["UserPool"]["Properties"]["UserPoolTier"] == "ESSENTIALS"
    group = resources["AdministratorsGroup"]["Properties"]["GroupName"]
    assert group == ADMINISTRATORS_GROUP
    assert resources["AccessTokenFunction"]["Properties"]["Handler"] == (
        "src.handlers.token_handler.handler"
    )
    # A user's email, which names their record, changes only once verified, and never by the
    # user alone.
    pool = resources["UserPool"]["Properties"]
    assert pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"] == [
        "email"
    ]
    assert "email" not in resources["UserPoolClient"]["Properties"]["WriteAttributes"]
    scopes = resources["UsersApiScopes"]["Properties"]
    assert {f"{scopes['Identifier']}/{s['ScopeName']}" for s in scopes["Scopes"]} == set(everyone)


def test_the_token_trigger_grants_the_administrators_scope_to_their_group_alone() -> None:
    from src.handlers.token_handler import handler

    def scopes_for(groups: list[str], email_verified: str = "true") -> Any:
        event = {
            "version": "2",
            "triggerSource": "TokenGeneration_Authentication",
            "request": {
                "userAttributes": {
                    "email": "ada@example.com",
                    "email_verified": email_verified,
                    "sub": "s-1",
                },
                "groupConfiguration": {"groupsToOverride": groups},
                "scopes": ["aws.cognito.signin.user.admin"],
            },
            "response": {"claimsAndScopeOverrideDetails": None},
        }
        details = handler(event, None)["response"]["claimsAndScopeOverrideDetails"]
        return details["accessTokenGeneration"]

    assert scopes_for([]) == {
        "scopesToAdd": [SELF_SCOPE],
        "claimsToAddOrOverride": {"email": "ada@example.com"},
    }
    # An address not verified names no record: a user who sets another's email gets none.
    unverified = scopes_for([], email_verified="false")
    assert unverified == {"scopesToAdd": [SELF_SCOPE]}
    assert scopes_for(["readers"])["scopesToAdd"] == [SELF_SCOPE]
    assert scopes_for([ADMINISTRATORS_GROUP])["scopesToAdd"] == [SELF_SCOPE, ADMIN_SCOPE]


def test_only_the_explicit_unsafe_parameter_opens_a_development_stack() -> None:
    parameters = {"Environment": "development", "UnsafeOpenDevelopmentApi": "yes"}
    transformed = sam_transform(load_template(), parameters=parameters)
    methods = _api_methods(transformed)
    unsafe = load_template()["Parameters"]["UnsafeOpenDevelopmentApi"]

    assert methods
    assert all("security" not in operation for operation in methods.values())
    assert Evaluator(load_template(), {}, parameters=parameters).condition("RequiresAuth") is False
    assert unsafe["Default"] == "no"
    assert unsafe["Description"].startswith("UNSAFE.")


def samconfig_parameters(environment: str) -> dict[str, str]:
    """The parameters `sam deploy --config-env <environment>` passes."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(overrides))


def test_one_environment_holds_the_accounts_api_gateway_logging_role() -> None:
    # The account-wide setting points at one role: the production stack's, which is never
    # deleted with its environment; the others' stages log through it as they find it.
    holders = {}
    for environment in ("development", "staging", "production"):
        parameters = samconfig_parameters(environment)
        assert parameters["Environment"] == environment
        evaluator = Evaluator(load_template(), {}, parameters=parameters)
        holders[environment] = evaluator.condition("CreatesApiGatewayLoggingRole")
    # The role and the account setting are made only where that condition holds.
    transformed = sam_transform(load_template(), parameters=samconfig_parameters("staging"))
    conditioned = {
        name
        for name, resource in transformed["Resources"].items()
        if resource.get("Condition") == "CreatesApiGatewayLoggingRole"
    }
    assert conditioned == {"ApiGatewayAccount", "ApiGatewayCloudWatchRole"}
    assert holders == {"development": False, "staging": False, "production": True}
    # `default` (a bare `sam deploy`) is development's.
    assert samconfig_parameters("default") == samconfig_parameters("development")


def test_the_templates_api_events_and_the_routers_routes_are_the_same_paths() -> None:
    from src.handlers.api_handler import app

    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]
    declared = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values()
        if event["Type"] == "Api"
    }
    routed = {(route.method, route.path) for route in app.every_route()}
    declared_paths = {path for _, path in declared}
    routed_paths = {path for _, path in routed}

    # Every path the router serves is an API path of its own, but the Swagger UI page, which
    # the catch-all reaches; the root and the catch-all send what no route takes to the
    # function, which answers 404 or 405 as the router does.
    assert routed_paths - declared_paths == {"/docs", "/docs/{asset}"}
    assert declared_paths - routed_paths == {"/", "/{proxy+}"}
    # A method the template names on its own is one the router serves on that path.
    named = {(method, path) for method, path in declared if method not in ("ANY", "OPTIONS")}
    assert named <= routed
    # Each declared path has its ANY (or its methods) and a preflight.
    for path in declared_paths - {"/{proxy+}"}:
        assert ("OPTIONS", path) in declared, path
        assert ("ANY", path) in declared, path
