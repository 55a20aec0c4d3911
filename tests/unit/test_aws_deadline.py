"""AWS calls fit the invocation's time (src.core.aws): against a dependency that accepts
connections and never answers, a call gives up with OutOfTime, a transient fault, while the
invocation still has time to answer, instead of running into Lambda's timeout."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from devtools.lambda_events import LambdaContext
from src.core import aws
from tests.conftest import JsonLogs
from tests.order_queue import SetAside


@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """A listener that never accepts: connections open (the kernel completes them) and no byte
    ever comes back, as from a stopped emulator or a black-holed route."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


class Deadline(LambdaContext):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._end = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._end - time.monotonic()) * 1000)


def test_a_hung_dependency_is_given_up_with_time_left_to_answer(
    hung_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", hung_endpoint)
    client = aws._client("dynamodb", aws.CLIENT_CONFIG)
    context = Deadline(seconds=7)

    with aws.invocation_deadline(context), pytest.raises(aws.OutOfTime) as gave_up:
        client.get_item(TableName="users", Key={"userId": {"S": "u"}})

    assert aws.is_transient(gave_up.value)
    # At least one attempt ran into its read timeout before the call gave up, with time left.
    assert context.get_remaining_time_in_millis() >= 500
    assert context.get_remaining_time_in_millis() <= 7000 - aws.READ_TIMEOUT * 1000


def test_outside_an_invocation_calls_are_not_held_to_a_deadline(
    hung_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", hung_endpoint)
    client = aws._client("dynamodb", aws.CLIENT_CONFIG.merge(Config(retries={"max_attempts": 1})))
    with pytest.raises(ReadTimeoutError):
        client.get_item(TableName="users", Key={"userId": {"S": "u"}})


def test_the_order_consumer_reports_a_hung_dependency_as_retriable_within_its_time(
    hung_endpoint: str, monkeypatch: pytest.MonkeyPatch, json_logs: JsonLogs
) -> None:
    # Given the orders table unreachable (connections open, nothing answers) and a batch of
    # events for two orders, which the consumer applies in threads of their own
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", hung_endpoint)
    from src.handlers.sqs_handler import process_batch
    from src.repositories.notifications import NoNotifications
    from src.repositories.orders import OrderRepository
    from src.services.orders import OrderEventService

    service = OrderEventService(
        OrderRepository(aws._client("dynamodb", aws.CLIENT_CONFIG), os.environ["ORDERS_TABLE"]),
        NoNotifications(),
    )
    records = [
        {
            "messageId": f"m-{order}",
            "body": json.dumps({"type": "order_created", "orderId": order, "customerId": "c"}),
        }
        for order in ("o-1", "o-2")
    ]
    context = Deadline(seconds=7)

    # When the batch is processed within an invocation of 7 s
    with aws.invocation_deadline(context):
        response = process_batch({"Records": records}, service, SetAside())

    # Then both messages are reported for redelivery, with time left to answer
    assert response == {
        "batchItemFailures": [{"itemIdentifier": "m-o-1"}, {"itemIdentifier": "m-o-2"}]
    }
    assert context.get_remaining_time_in_millis() >= 500
    failures = [r for r in json_logs.records() if r["message"].startswith("order event failed")]
    assert len(failures) == 2
    assert all("src.core.aws.OutOfTime" in record["exc_info"] for record in failures)
    failures = [r for r in json_logs.records() if r["message"].startswith("order event failed")]
    assert len(failures) == 2
    assert all("src.core.aws.OutOfTime" in record["exc_info"] for record in failures)


def test_publishing_out_of_time_reports_the_notifications_unpublished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an invocation with less time left than one attempt needs
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:1")
    from src.models.orders import OrderNotification
    from src.repositories.notifications import SnsNotificationPublisher

    publisher = SnsNotificationPublisher(
        aws._client("sns", aws.CLIENT_CONFIG), os.environ["NOTIFICATION_TOPIC_ARN"]
    )
    created = OrderNotification(
        type="order_created", orderId="o-1", customerId="c-1", occurredAt="2026-12-04T10:00:00Z"
    )

    # When it publishes two notifications
    with aws.invocation_deadline(Deadline(seconds=1)):
        unpublished = publisher.publish([created, created])

    # Then both are reported unpublished (for the consumer to retry), nothing raised
    assert unpublished == {0, 1}
