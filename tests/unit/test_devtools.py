"""Developer commands: `make redrive` (SQS message move tasks) and finding a stack per
environment."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.redrive import redrive
from devtools.stack import stack_name

DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/users-service-dev-OrderDLQ"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:users-service-dev-OrderDLQ"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/users-service-dev-OrderQueue"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:users-service-dev-OrderQueue"


class MoveTaskSqs:
    """SQS as far as a message move task goes (moto has no StartMessageMoveTask): the task
    moves `per_poll` messages between polls until `waiting` are moved, or fails."""

    def __init__(self, waiting: int, per_poll: int = 2, fail_at: int | None = None) -> None:
        self.waiting = waiting
        self.per_poll = per_poll
        self.fail_at = fail_at
        self.moved = 0
        self.started: list[dict[str, Any]] = []

    def list_dead_letter_source_queues(self, QueueUrl: str) -> dict[str, Any]:
        assert QueueUrl == DLQ_URL
        return {"queueUrls": [QUEUE_URL]}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        if QueueUrl == QUEUE_URL:
            return {"Attributes": {"QueueArn": QUEUE_ARN}}
        assert QueueUrl == DLQ_URL
        return {
            "Attributes": {
                "QueueArn": DLQ_ARN,
                "ApproximateNumberOfMessages": str(self.waiting - self.moved),
            }
        }

    def start_message_move_task(self, **request: Any) -> dict[str, Any]:
        self.started.append(request)
        return {"TaskHandle": "task-1"}

    def list_message_move_tasks(self, SourceArn: str, MaxResults: int) -> dict[str, Any]:
        assert SourceArn == DLQ_ARN
        self.moved = min(self.waiting, self.moved + self.per_poll)
        status = "RUNNING" if self.moved < self.waiting else "COMPLETED"
        task: dict[str, Any] = {
            "Status": status,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.waiting,
        }
        if self.fail_at is not None and self.moved >= self.fail_at:
            task.update(Status="FAILED", FailureReason="AccessDenied")
        return {"Results": [task]}


def test_moves_the_dlq_back_to_its_source_and_reports_progress() -> None:
    sqs = MoveTaskSqs(waiting=5)
    lines: list[str] = []

    status = redrive(sqs, DLQ_URL, report=lines.append, sleep=lambda _: None)

    assert status == "COMPLETED"
    # To the queue whose DLQ it is: the consumer's own rejections were never dead-lettered by
    # a redrive, which SQS needs to send a message back without a destination.
    assert sqs.started == [{"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN}]
    assert lines[0].startswith("moving about 5 messages")
    assert lines[1:] == [
        "running: 2 of 5 moved",
        "running: 4 of 5 moved",
        "completed: 5 of 5 moved",
    ]


def test_an_empty_dlq_starts_no_task() -> None:
    sqs = MoveTaskSqs(waiting=0)

    assert redrive(sqs, DLQ_URL, report=lambda _: None) == "NOTHING_TO_MOVE"
    assert sqs.started == []


def test_a_failed_task_is_reported_with_its_reason() -> None:
    sqs = MoveTaskSqs(waiting=6, fail_at=4)
    lines: list[str] = []

    assert redrive(sqs, DLQ_URL, report=lines.append, sleep=lambda _: None) == "FAILED"
    assert lines[-1] == "failed: AccessDenied"


def test_show_names_why_each_message_is_there_and_leaves_them_all(aws: None) -> None:
    import json

    import boto3

    from devtools.redrive import show
    from src.repositories.dead_letters import SqsDeadLetterQueue

    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    SqsDeadLetterQueue(sqs, dlq).set_aside("oops", "m-1", "body is not JSON", "invalid-message")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"type": "order_cancelled"}))
    lines: list[str] = []

    assert show(sqs, dlq, report=lines.append) == 2

    assert sorted(lines[:2]) == sorted(
        [
            "m-1: rejected (invalid-message): body is not JSON",
            next(line for line in lines if "moved by the queue's redrive" in line),
        ]
    )
    assert lines[-1] == "2 messages shown; nothing moved"
    # Still there, visible at once: shown, not taken.
    again = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in again) == sorted(
        ["oops", '{"type": "order_cancelled"}']
    )


def test_each_environment_has_its_stack() -> None:
    assert stack_name("development") == "users-service-dev"
    assert stack_name("staging") == "users-service-staging"
    assert stack_name("production") == "users-service-prod"


def test_an_unknown_environment_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SystemExit, match=r"no environment 'qa'.*production"):
        stack_name("qa")


def test_the_environment_comes_from_the_template() -> None:
    from devtools.resources import function_environments
    from devtools.template import Evaluator, load_template

    template = load_template()
    physical = {
        "UsersTable": "t-users",
        "OrdersTable": "t-orders",
        "UploadsBucket": "b",
        "MetadataTable": "t-meta",
        "IdempotencyTable": "t-idempotency",
        "NotificationTopic": "arn:topic",
        "OrderDLQ": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    }

    environments = function_environments(template, physical)
    api, s3 = environments["ApiFunction"], environments["S3HandlerFunction"]
    production = Evaluator(template, physical, parameters={"Environment": "production"})

    assert api["USERS_TABLE"] == "t-users"
    assert api["IDEMPOTENCY_TABLE"] == "t-idempotency"
    assert api["CORS_ALLOW_ORIGIN"] == "*"
    assert api["ENVIRONMENT"] == "development"
    assert s3["UPLOADS_BUCKET"] == "users-service-dev-uploads-123456789012-us-east-1"
    cors = template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"][
        "CORS_ALLOW_ORIGIN"
    ]
    assert production.resolve(cors) == "https://app.example.com"


STAGING = "users-service-staging"


class DescribedStack:
    """CloudFormation's DescribeStacks for one deployed stack of this template."""

    def __init__(self, outputs: dict[str, str], parameters: dict[str, str]) -> None:
        self.stack = {
            "StackId": f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{STAGING}/a",
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        }

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        assert StackName == "users-service-staging"
        return {"Stacks": [self.stack]}


def test_env_vars_of_a_deployed_stack_come_from_its_outputs_and_parameters() -> None:
    from devtools.env_vars import deployed_env_vars
    from devtools.template import load_template

    outputs = {
        "UsersTableName": "users-service-staging-UsersTable-1A2B",
        "OrdersTableName": "users-service-staging-OrdersTable-3C4D",
        "IdempotencyTableName": "users-service-staging-IdempotencyTable-7A8B",
        "MetadataTableName": "users-service-staging-MetadataTable-5E6F",
        "UploadsBucketName": "users-service-staging-uploads-123456789012-eu-west-1",
        "NotificationTopicArn": "arn:aws:sns:eu-west-1:123456789012:orders",
        "OrderDLQUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/users-service-dlq",
    }
    cloudformation = DescribedStack(outputs, {"Environment": "staging", "LogLevel": "INFO"})

    environments = deployed_env_vars(load_template(), cloudformation, "users-service-staging")

    api, s3 = environments["ApiFunction"], environments["S3HandlerFunction"]
    assert api["USERS_TABLE"] == outputs["UsersTableName"]
    assert api["IDEMPOTENCY_TABLE"] == outputs["IdempotencyTableName"]
    assert api["ENVIRONMENT"] == "staging"
    assert s3["UPLOADS_BUCKET"] == outputs["UploadsBucketName"]
    consumer = environments["SqsHandlerFunction"]
    assert consumer["NOTIFICATION_TOPIC_ARN"] == outputs["NotificationTopicArn"]
    assert consumer["DEAD_LETTER_QUEUE_URL"] == outputs["OrderDLQUrl"]
    # AWS's own endpoints: the template's empty endpoint variables are left out.
    for variables in environments.values():
        assert not {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} & set(variables)


def test_env_vars_of_a_stack_missing_an_output_say_which() -> None:
    from devtools.env_vars import deployed_env_vars
    from devtools.template import load_template

    cloudformation = DescribedStack({"UsersTableName": "u"}, {"Environment": "staging"})

    with pytest.raises(SystemExit, match="has no output naming 'OrdersTable'"):
        deployed_env_vars(load_template(), cloudformation, "users-service-staging")


def test_the_acceptance_suite_s_test_user_signs_in_and_is_deleted_after(aws: None) -> None:
    import boto3

    from tests.local_stack import cognito_test_user

    cognito = boto3.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="clients")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="api", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]

    cognito.create_group(UserPoolId=pool, GroupName="administrators")

    with cognito_test_user(cognito, pool, client, administrator=True) as admin:
        (user,) = cognito.list_users(UserPoolId=pool)["Users"]
        assert admin.access_token.count(".") == 2  # a JWT
        groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username=admin.email)
        assert [group["GroupName"] for group in groups["Groups"]] == ["administrators"]
        with cognito_test_user(cognito, pool, client) as ordinary:
            groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username=ordinary.email)
            assert groups["Groups"] == []

    assert cognito.list_users(UserPoolId=pool)["Users"] == []
    assert user["UserStatus"] == "CONFIRMED"
    attributes = {a["Name"]: a["Value"] for a in user["Attributes"]}
    assert attributes["email"] == admin.email
