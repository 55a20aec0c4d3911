"""The order consumer through its Lambda handler: the sample SQS events in events/, partial
batch failures, SNS-wrapped bodies, notifications and metrics."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    DeadLetterInbox,
    JsonLogs,
    LambdaContext,
    NotificationInbox,
    load_event,
)
from tests.order_queue import SetAside, sqs_event, sqs_record

pytestmark = pytest.mark.usefixtures("orders_table", "order_dlq")


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    from src.handlers import sqs_handler

    response: dict[str, Any] = sqs_handler.handler(
        event, LambdaContext(function_name="SqsHandlerFunction")
    )
    return response


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [entry["itemIdentifier"] for entry in response["batchItemFailures"]]


def order(dynamodb: Any, orders_table: str, order_id: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=orders_table, Key={"orderId": {"S": order_id}}
    ).get("Item")
    return item


def test_one_order_event_creates_the_order_and_notifies(
    notifications: NotificationInbox, dynamodb: Any, orders_table: str
) -> None:
    response = invoke(load_event("sqs_order_created.json"))

    assert response == {"batchItemFailures": []}
    item = order(dynamodb, orders_table, "ord-1001")
    assert item is not None
    assert item["total"] == {"N": "31.98"}
    assert item["status"] == {"S": "pending"}
    (notification,) = notifications.drain()
    assert notification["type"] == "order_created"
    assert notification["orderId"] == "ord-1001"
    assert notification["total"] == 31.98


def test_a_creation_as_the_original_service_s_producers_send_it_is_applied(
    notifications: NotificationInbox, dynamodb: Any, orders_table: str
) -> None:
    # Neither items nor total: the original service took them as [] and 0.
    bare = {"type": "order_created", "orderId": "ord-legacy-1", "customerId": "cus-7"}

    response = invoke(sqs_event(bare))

    assert response == {"batchItemFailures": []}
    item = order(dynamodb, orders_table, "ord-legacy-1")
    assert item is not None
    assert (item["items"], item["total"], item["status"]) == (
        {"L": []},
        {"N": "0"},
        {"S": "pending"},
    )
    (notification,) = notifications.drain()
    assert (notification["type"], notification["orderId"]) == ("order_created", "ord-legacy-1")


def test_a_full_batch_applies_every_record(
    notifications: NotificationInbox, dynamodb: Any, orders_table: str
) -> None:
    response = invoke(load_event("sqs_order_batch.json"))

    assert response == {"batchItemFailures": []}
    confirmed = order(dynamodb, orders_table, "ord-2000")
    assert confirmed is not None
    assert confirmed["status"] == {"S": "confirmed"}
    assert confirmed["shippingAddress"]["M"]["city"] == {"S": "Springfield"}
    assert order(dynamodb, orders_table, "ord-2001")["total"] == {"N": "29.97"}  # type: ignore[index]
    assert order(dynamodb, orders_table, "ord-2002")["status"] == {"S": "cancelled"}  # type: ignore[index]
    kinds = sorted(n["type"] for n in notifications.drain())
    # six creations (one of them delivered twice, so announced twice) and one cancellation
    assert kinds == ["order_cancelled"] + ["order_created"] * 7


def test_an_sns_wrapped_event_is_applied(
    notifications: NotificationInbox, dynamodb: Any, orders_table: str
) -> None:
    invoke(load_event("sqs_order_created.json"))

    response = invoke(load_event("sqs_sns_wrapped.json"))

    assert response == {"batchItemFailures": []}
    item = order(dynamodb, orders_table, "ord-1001")
    assert item is not None
    assert item["status"] == {"S": "cancelled"}
    assert item["cancelReason"] == {"S": "payment declined"}


def test_poison_records_go_to_the_dlq_at_once_with_their_reason(
    notifications: NotificationInbox, order_dlq: DeadLetterInbox, json_logs: JsonLogs
) -> None:
    event = load_event("sqs_poison.json")

    response = invoke(event)

    # Acknowledged, never retried: each is in the DLQ with why, as it was sent.
    assert failed_ids(response) == []
    letters = order_dlq.drain()
    assert sorted(letter["originalMessageId"] for letter in letters) == sorted(
        record["messageId"] for record in event["Records"]
    )
    by_id = {letter["originalMessageId"]: letter for letter in letters}
    for record in event["Records"]:
        letter = by_id[record["messageId"]]
        assert letter["body"] == record["body"]
        assert letter["rejectionRule"] == "invalid-message"
    assert by_id[event["Records"][0]["messageId"]]["rejectionReason"] == "body is not JSON"
    assert by_id[event["Records"][1]["messageId"]]["rejectionReason"] == (
        "not a valid order event: type: should be one of order_created, order_updated,"
        " order_cancelled"
    )
    assert (
        "total: Input should be greater than or equal to 0"
        in (by_id[event["Records"][2]["messageId"]]["rejectionReason"])
    )
    rejected = [
        line
        for line in json_logs.records()
        if line.get("message") == "order event rejected; moved to the DLQ"
    ]
    assert sorted(line["messageId"] for line in rejected) == sorted(by_id)
    assert {line["rule"] for line in rejected} == {"invalid-message"}
    assert notifications.drain() == []


def test_only_the_bad_records_of_a_batch_fail_or_go_to_the_dlq(
    notifications: NotificationInbox, order_dlq: DeadLetterInbox
) -> None:
    good = {
        "type": "order_created",
        "orderId": "o-1",
        "customerId": "c",
        "items": [{"productId": "p", "quantity": 1}],
        "total": 1,
    }
    event = sqs_event(
        good, "garbage", {**good, "orderId": "o-2"}, {"type": "order_cancelled", "orderId": "o-404"}
    )

    response = invoke(event)

    records = event["Records"]
    # The cancellation waits for its order's creation: retried. The garbage never applies.
    assert failed_ids(response) == [records[3]["messageId"]]
    assert [letter["body"] for letter in order_dlq.drain()] == ["garbage"]
    assert len(notifications.drain()) == 2


def test_a_rejected_record_the_dlq_does_not_take_is_retried(
    dynamodb: Any, orders_table: str, json_logs: JsonLogs
) -> None:
    import boto3

    from src.handlers.sqs_handler import process_batch
    from src.repositories.dead_letters import SqsDeadLetterQueue
    from src.repositories.notifications import NoNotifications
    from src.repositories.orders import OrderRepository
    from src.services.orders import OrderEventService

    service = OrderEventService(OrderRepository(dynamodb, orders_table), NoNotifications())
    gone = SqsDeadLetterQueue(boto3.client("sqs"), os.environ["DEAD_LETTER_QUEUE_URL"] + "-gone")
    event = sqs_event("garbage")

    response = process_batch(event, service, gone)

    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert [line["message"] for line in json_logs.records() if line.get("level") == "ERROR"] == [
        "setting a rejected message aside in the DLQ failed",
        "order event rejected but not moved to the DLQ; retried",
    ]


def test_the_same_message_twice_applies_once(
    notifications: NotificationInbox, dynamodb: Any, orders_table: str
) -> None:
    body = json.dumps(
        {
            "type": "order_updated",
            "orderId": "ord-1001",
            "updates": {"total": 40, "status": "confirmed"},
        }
    )
    invoke(load_event("sqs_order_created.json"))
    first = sqs_record(body)

    invoke({"Records": [first]})
    updated_at = order(dynamodb, orders_table, "ord-1001")["updatedAt"]  # type: ignore[index]
    response = invoke({"Records": [sqs_record(body, first["messageId"], receive_count=2)]})

    assert response == {"batchItemFailures": []}
    item = order(dynamodb, orders_table, "ord-1001")
    assert item is not None
    assert item["updatedAt"] == updated_at
    assert item["total"] == {"N": "40"}


def test_without_a_topic_nothing_is_published(
    notifications: NotificationInbox, dynamodb: Any, orders_table: str
) -> None:
    from src.handlers.sqs_handler import process_batch
    from src.repositories.notifications import NoNotifications
    from src.repositories.orders import OrderRepository
    from src.services.orders import OrderEventService

    service = OrderEventService(OrderRepository(dynamodb, orders_table), NoNotifications())

    response = process_batch(load_event("sqs_order_created.json"), service, SetAside())

    assert response == {"batchItemFailures": []}
    assert order(dynamodb, orders_table, "ord-1001") is not None
    assert notifications.drain() == []  # the topic exists and a subscriber hears nothing


def test_a_missing_topic_fails_the_records_whose_notification_was_lost(
    dynamodb: Any, orders_table: str
) -> None:
    # No `notifications` fixture: the configured topic does not exist, so publishing fails.
    event = load_event("sqs_order_batch.json")

    response = invoke(event)

    creations_and_cancellation = [
        record["messageId"]
        for record in event["Records"]
        if json.loads(record["body"])["type"] in ("order_created", "order_cancelled")
    ]
    assert failed_ids(response) == creations_and_cancellation
    assert order(dynamodb, orders_table, "ord-2003") is not None


def test_outcomes_are_counted_as_embedded_metrics(
    notifications: NotificationInbox, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(load_event("sqs_order_batch.json"))
    invoke(load_event("sqs_poison.json"))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    totals: dict[str, Decimal] = {}
    for line in lines:
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = line[metric["Name"]]
            totals[metric["Name"]] = totals.get(metric["Name"], Decimal(0)) + Decimal(
                str(sum(value) if isinstance(value, list) else value)
            )
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "UsersService"
    assert totals == {
        "OrderEventsApplied": 9,
        "OrderEventsDuplicate": 1,
        "OrderEventsRejected": 4,
    }
    # What docs/orders.md tells operators: the namespace, the dimensions and the metric names.
    documented = _readme_metrics()
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == documented["namespace"]
        assert directive["Dimensions"] == [documented["dimensions"]]
        assert {name: line[name] for name in documented["dimensions"]} == {
            "environment": "development",
            "service": "orders",
        }
    assert set(totals) <= set(documented["metrics"])


def _readme_metrics() -> dict[str, Any]:
    """docs/orders.md's sentence on metrics: "Metrics (... namespace `N`, dimensions `a` and `b`):
    `M1`, `M2`, ..."."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "orders.md").read_text()
    start = readme.index("Metrics (CloudWatch embedded metric format")
    sentence = " ".join(readme[start : readme.index(".", readme.index("):", start))].split())
    head, _, names = sentence.partition("):")
    namespace = re.search(r"namespace `(\w+)`", head)
    dimensions = re.search(r"dimensions `(\w+)` and `(\w+)`", head)
    assert namespace is not None
    assert dimensions is not None
    return {
        "namespace": namespace[1],
        "dimensions": sorted(dimensions.groups()),
        "metrics": re.findall(r"`(\w+)`", names),
    }


def test_ten_creations_cost_ten_writes_and_one_publish(
    notifications: NotificationInbox, orders_table: str
) -> None:
    import boto3

    from src.handlers.sqs_handler import process_batch
    from src.repositories.notifications import SnsNotificationPublisher
    from src.repositories.orders import OrderRepository
    from src.services.orders import OrderEventService

    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", maxsplit=1)[-1])

    dynamodb, sns = boto3.client("dynamodb"), boto3.client("sns")
    for client in (dynamodb, sns):
        client.meta.events.register("before-call.*.*", count)
    service = OrderEventService(
        OrderRepository(dynamodb, orders_table),
        SnsNotificationPublisher(sns, notifications.topic_arn),
    )
    bodies = [
        {
            "type": "order_created",
            "orderId": f"o-{index}",
            "customerId": "c",
            "items": [{"productId": "p", "quantity": 1}],
            "total": index,
        }
        for index in range(10)
    ]

    assert process_batch(sqs_event(*bodies), service, SetAside()) == {"batchItemFailures": []}

    assert sorted(calls) == ["PublishBatch"] + ["PutItem"] * 10
    assert len(notifications.drain()) == 10


def test_thirty_versioned_orders_shuffled_and_duplicated_end_exact_with_an_empty_dlq(
    notifications: NotificationInbox,
    order_dlq: DeadLetterInbox,
    dynamodb: Any,
    orders_table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import random

    seed = random.randrange(2**32)  # named in any failure below
    rng = random.Random(seed)
    bodies = []
    for number in range(30):
        order_id = f"o-{number}"
        events = [
            {"type": "order_created", "orderId": order_id, "customerId": "c", "total": 10},
            {"type": "order_updated", "orderId": order_id, "updates": {"total": 20}},
            {"type": "order_updated", "orderId": order_id, "updates": {"total": 30}},
            {"type": "order_updated", "orderId": order_id, "updates": {"total": 20}},
        ]
        if number % 2:
            events.append({"type": "order_cancelled", "orderId": order_id, "reason": "r"})
        for version, body in enumerate(events, start=1):
            bodies.append(
                json.dumps({**body, "eventId": f"{order_id}/{version}", "version": version})
            )
    bodies += rng.choices(bodies, k=len(bodies) // 2)  # delivered twice
    rng.shuffle(bodies)
    from src.handlers.sqs_handler import metrics

    metrics.flush()  # what earlier tests counted through process_batch alone
    capsys.readouterr()

    # Batches of 10 as SQS sends them; a record reported failed (its order not created yet)
    # comes back after the others.
    waiting = [sqs_record(body) for body in bodies]
    while waiting:
        batch, waiting = waiting[:10], waiting[10:]
        failed = set(failed_ids(invoke({"Records": batch})))
        waiting += [record for record in batch if record["messageId"] in failed]

    for number in range(30):
        item = order(dynamodb, orders_table, f"o-{number}")
        assert item is not None
        cancelled = bool(number % 2)
        assert item["version"]["N"] == ("5" if cancelled else "4")
        assert item["status"]["S"] == ("cancelled" if cancelled else "pending")
        if not cancelled:  # the last version always applies
            assert item["total"]["N"] == "20"
    assert order_dlq.drain() == []
    # Every delivery is counted once: applied, duplicate or stale; one creation per order.
    totals = metric_totals(capsys.readouterr().out)
    settled = sum(totals.get(f"OrderEvents{kind}", 0) for kind in ("Applied", "Duplicate", "Stale"))
    assert settled == len(bodies), (seed, totals)
    assert "OrderEventsRejected" not in totals
    created = [n for n in notifications.drain() if n["type"] == "order_created"]
    assert {n["orderId"] for n in created} == {f"o-{number}" for number in range(30)}


def metric_totals(output: str) -> dict[str, int]:
    """The sum of each metric in the EMF lines of `output`."""
    totals: dict[str, int] = {}
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = record[metric["Name"]]
            count = sum(value) if isinstance(value, list) else value
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + int(count)
    return totals


def test_a_reason_naming_characters_sqs_refuses_still_reaches_the_dlq(
    order_dlq: DeadLetterInbox,
) -> None:
    import boto3

    from src.repositories.dead_letters import SqsDeadLetterQueue

    dlq = SqsDeadLetterQueue(boto3.client("sqs"), os.environ["DEAD_LETTER_QUEUE_URL"])

    assert dlq.set_aside(
        "{}", "m-1", "not a valid order event: \x01\uffff: is not allowed", "invalid-message"
    )
    (letter,) = order_dlq.drain()
    assert letter["rejectionReason"] == "not a valid order event: ??: is not allowed"
