"""Shared fixtures: an emulated AWS account (moto, in-process), tables created from template.yaml's
own definitions, a Lambda context, and an API client that drives the handler with the events in
events/."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `make acceptance ENV=<env>` (STACK_NAME set): the suite drives a deployed stack with the
# caller's own AWS configuration (credentials, profile, region, endpoint), untouched. Every other
# run works in an emulated account, whatever the shell holds.
DEPLOYED = bool(os.environ.get("STACK_NAME"))
if not DEPLOYED:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
    )
    for _variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(_variable, None)
# Set before any handler module is imported: handlers read their settings once, at import.
os.environ.update(
    {
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "INFO",
        "USERS_TABLE": "users-test",
        "ORDERS_TABLE": "orders-test",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:order-notifications",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/order-dlq-test",
        "METADATA_TABLE": "metadata-test",
        # The name template.yaml computes for the development stack's bucket (the S3 processor's
        # role names it so).
        "UPLOADS_BUCKET": "users-service-dev-uploads-123456789012-us-east-1",
        "IDEMPOTENCY_TABLE": "idempotency-test",
        "CORS_ALLOW_ORIGIN": "https://app.example.com",
    }
)
from devtools.template import load_template  # noqa: E402

# The upload processor's MemorySize, as Lambda tells the function, and what it gives one image.
_S3_FUNCTION = {
    **load_template()["Globals"]["Function"],
    **load_template()["Resources"]["S3HandlerFunction"]["Properties"],
}
S3_MEMORY_SIZE = int(_S3_FUNCTION["MemorySize"])
os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(S3_MEMORY_SIZE)

import boto3  # noqa: E402
import botocore.handlers  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from devtools import moto_dynamodb  # noqa: E402
from tests.roles import authorise  # noqa: E402

# Every botocore session made from here on checks a handler's calls against its function's
# role before moto's own handler answers them.
botocore.handlers.BUILTIN_HANDLERS.insert(0, ("before-send", authorise))
# moto's transactions as DynamoDB's: rolled back by item, ClientRequestToken honoured.
moto_dynamodb.apply()

from devtools.lambda_events import (  # noqa: E402 - load_event is re-exported for the tests
    LambdaContext,
    api_event,
    load_event,
)
from src.services.content import image_memory  # noqa: E402

__all__ = ["LambdaContext", "load_event"]
IMAGE_MEMORY = image_memory(S3_MEMORY_SIZE)
from devtools.template import create_table_request, resources_of_type  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--iam-report",
        action="store_true",
        help="fail the run when a role grants what no test's calls used and docs/decisions.md "
        "does not justify",
    )


def pytest_configure(config: pytest.Config) -> None:
    """One folder for the grants used by this run's processes: set before pytest-xdist starts
    its workers, which inherit it."""
    if not hasattr(config, "workerinput"):
        from tests.local_stack import IAM_USAGE_DIR, IAM_USAGE_VARIABLE

        os.environ[IAM_USAGE_VARIABLE] = str(IAM_USAGE_DIR)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`--numprocesses auto`: a worker more than the cores, since the long tests spend much of
    their time waiting on stacks and subprocesses."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long files first, in their own order, then the rest in theirs."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The least-privilege report, after a run of the whole suite (`make test`). A pytest-xdist
    worker leaves the grants its in-process calls used for the controller, which reports."""
    if not session.config.getoption("--iam-report"):
        return
    from tests.local_stack import IAM_USAGE_DIR
    from tests.roles import ROLES, least_privilege_report

    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        usage = IAM_USAGE_DIR / f"worker-{worker['workerid']}-{os.getpid()}.json"
        usage.write_text(json.dumps(ROLES.usage()))
        return
    if exitstatus != 0:
        return
    decisions = (Path(__file__).parents[1] / "docs" / "decisions.md").read_text()
    unused = least_privilege_report(sorted(IAM_USAGE_DIR.glob("*.json")), decisions)
    if unused:
        print("\nGranted, never used by the tests' calls, and not justified in docs/decisions.md:")
        for line in unused:
            print(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh emulated AWS account for one test."""
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    return boto3.client("dynamodb")


def create_tables_from_template(client: Any, names: dict[str, str]) -> None:
    """Create the template's tables; `names` maps logical id -> table name."""
    for logical_id, properties in resources_of_type("AWS::DynamoDB::Table").items():
        if logical_id in names:
            client.create_table(**create_table_request(properties, names[logical_id]))


def _configured_table(dynamodb: Any, logical_id: str, variable: str) -> str:
    """Create the template's table `logical_id` under the name the functions read from
    `variable`; return the name."""
    name = os.environ[variable]
    create_tables_from_template(dynamodb, {logical_id: name})
    return name


@pytest.fixture
def users_table(dynamodb: Any) -> str:
    return _configured_table(dynamodb, "UsersTable", "USERS_TABLE")


@pytest.fixture
def orders_table(dynamodb: Any) -> str:
    return _configured_table(dynamodb, "OrdersTable", "ORDERS_TABLE")


@pytest.fixture
def idempotency_table(dynamodb: Any) -> str:
    return _configured_table(dynamodb, "IdempotencyTable", "IDEMPOTENCY_TABLE")


@pytest.fixture
def metadata_table(dynamodb: Any) -> str:
    return _configured_table(dynamodb, "MetadataTable", "METADATA_TABLE")


@pytest.fixture
def uploads_bucket(aws: None) -> str:
    """The uploads bucket, under the configured name."""
    name = os.environ["UPLOADS_BUCKET"]
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@dataclass
class NotificationInbox:
    """An SQS queue subscribed to the notification topic: what subscribers receive."""

    topic_arn: str
    queue_url: str

    def drain(self) -> list[dict[str, Any]]:
        return [json.loads(json.loads(m["Body"])["Message"]) for m in _drain(self.queue_url)]


def _drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message of the queue, taken out of it, with its message attributes."""
    sqs = boto3.client("sqs")
    received: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass
class DeadLetterInbox:
    """The order queue's DLQ, as SqsHandlerFunction is configured with it."""

    queue_url: str

    def drain(self) -> list[dict[str, Any]]:
        """Each message there: its body and its string message attributes."""
        return [
            {
                "body": message["Body"],
                **{k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()},
            }
            for message in _drain(self.queue_url)
        ]


@pytest.fixture
def order_dlq(aws: None) -> DeadLetterInbox:
    queue_url = boto3.client("sqs").create_queue(QueueName="order-dlq-test")["QueueUrl"]
    assert queue_url == os.environ["DEAD_LETTER_QUEUE_URL"]
    return DeadLetterInbox(queue_url)


@pytest.fixture
def notifications(aws: None) -> NotificationInbox:
    """The notification topic (at the ARN SqsHandlerFunction is configured with) and a queue
    subscribed to it."""
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    topic_arn = sns.create_topic(Name="order-notifications")["TopicArn"]
    assert topic_arn == os.environ["NOTIFICATION_TOPIC_ARN"]
    queue_url = sqs.create_queue(QueueName="notification-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return NotificationInbox(topic_arn, queue_url)


@pytest.fixture
def serializable_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB writes serializable, as DynamoDB's are. moto rolls a cancelled
    transaction back by restoring a copy of the whole table, which loses writes committed
    meanwhile by other threads; one lock around each write restores DynamoDB's guarantee while
    reads and everything outside the backend still interleave freely."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def serialized(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, serialized)


class JsonLogs:
    """The service's JSON log lines written during a test."""

    def __init__(self, buffer: Any) -> None:
        self._buffer = buffer

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._buffer.getvalue().splitlines()]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """Capture what the service logs (its handler writes to the stdout it found at start)."""
    import io
    import logging

    from pythonjsonlogger.json import JsonFormatter

    from src.core.logging import configure_logging

    configure_logging(os.environ["LOG_LEVEL"])
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and isinstance(handler.formatter, JsonFormatter)
    ]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield JsonLogs(buffer)
    handler.setStream(previous)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any
    raw_body: str | None


class ApiClient:
    """Sends requests to the API handler as API Gateway would: v1 proxy events built from the
    sample events in events/, with the method, path, query and body of the request."""

    def __init__(self, context_factory: type[LambdaContext] = LambdaContext) -> None:
        self._context_factory = context_factory

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
        claims: dict[str, str] | None = None,
    ) -> ApiResponse:
        from src.handlers import api_handler

        event = self.event(
            method, path, body, query=query, headers=headers, raw_body=raw_body, claims=claims
        )
        response = api_handler.handler(event, self._context_factory())
        return self.parse(response)

    # The proxy event API Gateway sends for a request (shared with `make bench`).
    event = staticmethod(api_event)

    @staticmethod
    def parse(response: dict[str, Any]) -> ApiResponse:
        headers = {key: value for key, value in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers[key] = ",".join(values)
        raw = response.get("body")
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return ApiResponse(response["statusCode"], headers, parsed, raw)


@pytest.fixture
def api(users_table: str, orders_table: str, idempotency_table: str) -> ApiClient:
    """An API client over empty users, orders and idempotency tables."""
    return ApiClient()
