"""template.yaml: the contract DESIGN.md gives for functions, variables and outputs."""

from __future__ import annotations

import copy

from devtools.template import (
    dependency_cycles,
    function_environment,
    load_template,
    resources_of_type,
    sam_transform,
)


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
    function = template["Resources"]["S3HandlerFunction"]["Properties"]
    function["Policies"][0]["Statement"][0]["Resource"] = {
        "Fn::Sub": "${UploadsBucket.Arn}/uploads/*"
    }

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
    assert invoke["MaximumRetryAttempts"] >= 1
