"""Developer commands: `make redrive` (SQS message move tasks) and finding a stack per
environment."""

from __future__ import annotations

from pathlib import Path
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


def run_invoke(function: str, event: str | None = None) -> dict[str, Any]:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TABLE", "_BUCKET"))}
    result = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", function, *([event] if event else [])],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The response is the last JSON document printed, after any log lines.
    response: dict[str, Any] = json.loads(result.stdout[result.stdout.rfind("\n{") + 1 :])
    return response


@pytest.mark.parametrize(
    ("function", "event", "said"),
    [
        ("ApiFunction", "events/nope.json", "cannot read the event 'events/nope.json'"),
        ("ApiFunction", "README.md", "the event 'README.md' is not JSON"),
        (
            "ApiFunction",
            "events/sqs_order_batch.json",
            "events/sqs_order_batch.json is a SQS event; ApiFunction is invoked by API Gateway",
        ),
        (
            "SqsHandlerFunction",
            "events/api_get_user.json",
            "is a API Gateway event; SqsHandlerFunction is invoked by SQS",
        ),
    ],
)
def test_make_invoke_refuses_an_event_it_cannot_send_in_one_line(
    function: str, event: str, said: str
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", function, event],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 2
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_make_invoke_runs_the_api_handler_with_a_sample_event() -> None:
    response = run_invoke("ApiFunction", "events/api_create_user.json")

    assert response["statusCode"] == 201
    assert '"email":"ada.lovelace@example.com"' in response["body"]


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("events/s3_put_json.json", "recorded"),
        ("events/s3_put_image_encoded_key.json", "recorded"),
        ("events/s3_delete.json", "removed"),
    ],
)
def test_make_invoke_puts_the_object_an_s3_event_names_so_it_is_processed(
    event: str, outcome: str
) -> None:
    (processed,) = run_invoke("S3HandlerFunction", event)["processed"]

    assert processed["outcome"] == outcome


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        # What each is for, on a fresh account: a user created (not a 404 for a missing one),
        # orders applied, an upload recorded, an administrator's token made.
        ("ApiFunction", 201),
        ("SqsHandlerFunction", {"batchItemFailures": []}),
        ("S3HandlerFunction", "recorded"),
        ("AccessTokenFunction", ["users-api/self", "users-api/admin"]),
    ],
)
def test_make_invoke_without_an_event_takes_the_function_s_sample(
    function: str, expected: Any
) -> None:
    response = run_invoke(function)

    if function == "ApiFunction":
        assert response["statusCode"] == expected
    elif function == "S3HandlerFunction":
        assert response["processed"][0]["outcome"] == expected
    elif function == "AccessTokenFunction":
        details = response["response"]["claimsAndScopeOverrideDetails"]
        assert details["accessTokenGeneration"]["scopesToAdd"] == expected
    else:
        assert response == expected


def test_make_invoke_runs_the_order_consumer_with_a_sample_batch() -> None:
    assert run_invoke("SqsHandlerFunction", "events/sqs_order_batch.json") == {
        "batchItemFailures": []
    }


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


def test_make_bench_measures_everything_it_reports(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    results = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.bench",
            "--runs",
            "1",
            "--warm",
            "20",
            "--no-build",
            "--orders",
            "40",
            "--load-seconds",
            "2",
            "--table-users",
            "2000",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    # Budgets may or may not hold with one run on a busy machine; the measurements must exist.
    assert run.returncode in (0, 1), run.stderr
    measured = json.loads(results.read_text())
    assert set(measured["cold_ms"]) == {
        "ApiFunction",
        "S3HandlerFunction",
        "floor + pydantic",
        "floor",
    }
    assert set(measured["restored_ms"]) == {
        "AccessTokenFunction",
        "ApiFunction",
        "SqsHandlerFunction",
        "S3HandlerFunction",
        "floor (GetItem made in init)",
    }
    consumer, api = measured["load"]["consumer"], measured["load"]["api"]
    assert (consumer["orders"], consumer["messages"]) == (40, 42)
    assert (consumer["unstored_orders"], consumer["wrong_orders"]) == (0, 0)
    assert consumer["left_in_queues"] == 0
    assert consumer["calls"]["PutItem"] == 42
    assert api["requests"] > 0
    assert (api["server_errors"], api["writes_unreadable"]) == (0, 0)
    assert measured["transaction_ms"]["users"] == 2000
    assert measured["aws_calls"]["GET /users/{id}"] == 1
    assert measured["aws_calls"]["POST /users"] == 1
    assert measured["aws_calls"]["SQS batch of 10 order_created"] == 11
    assert {"GET /users/{id}", "floor GetItem", "POST /users"} <= set(measured["warm_ms"])
    assert "budgets" in run.stdout
    assert [budget["what"] for budget in measured["budgets"]] == [
        "API cold start / floor",
        "API first invocation after a restore / the floor's",
        "S3 cold start / floor",
        "warm GET /users/{id} / floor GetItem",
        "warm SQS batch of 10 with notifications / floor GetItem",
        "AWS calls per message, SQS batch of 10 with notifications",
        "AWS calls per message, draining a backlog with 5% duplicates",
        "orders stored wrong or not at all, after the backlog",
        "API 5xx under concurrent clients",
        "POST /users transaction into 2,000 users / empty",
        "acknowledged writes not read back",
        "AWS calls, GET /users/{id}",
        "AWS calls, POST /users",
        "all artifacts (MB, layer once)",
    ]
    calls_per_message = measured["budgets"][5]
    assert (calls_per_message["measured"], calls_per_message["ok"]) == (1.1, True)


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
