"""template.yaml: the contract DESIGN.md gives for functions, variables and outputs."""

from __future__ import annotations

from devtools.template import function_environment, load_template, resources_of_type


def test_api_function_runs_the_handler_on_arm64_python313() -> None:
    template = load_template()
    globals_ = template["Globals"]["Function"]
    api = template["Resources"]["ApiFunction"]["Properties"]

    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert api["Handler"] == "src.handlers.api_handler.handler"


def test_every_resource_variable_names_a_resource_of_the_template() -> None:
    resources = load_template()["Resources"]
    for logical_id in resources_of_type("AWS::Serverless::Function"):
        for name, value in function_environment(logical_id).items():
            if name.endswith(("_TABLE", "_BUCKET", "_TOPIC_ARN")):
                referenced = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                assert referenced in resources, f"{logical_id}: {name}"


def test_tables_are_on_demand_with_point_in_time_recovery() -> None:
    for logical_id, table in resources_of_type("AWS::DynamoDB::Table").items():
        assert table["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], logical_id


def test_outputs_name_the_stack_resources() -> None:
    assert {
        "ApiEndpoint",
        "UsersTableName",
        "OrdersTableName",
        "OrderQueueUrl",
        "OrderDLQUrl",
        "NotificationTopicArn",
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
