"""Exactly-once effects under at-least-once, unordered delivery and AWS faults.

Generated order histories are sent through a simulated queue (tests/order_queue.py) that
duplicates, shuffles and redelivers; DynamoDB and SNS (moto) are reached through clients that
fail before or after a call takes effect (tests/faults.py: throttling, 5xx, timeouts). Whatever
happens, every message must end applied, recognised as a duplicate, or in the DLQ, and the
table must be exactly what the applied messages make it, with every created and cancelled order
announced at least once.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from src.models.orders import OrderCancelled, OrderEvent, OrderUpdated
from src.repositories.notifications import SnsNotificationPublisher
from src.repositories.orders import OrderRepository
from src.services.orders import OrderEventService, Outcome, Result
from tests.conftest import NotificationInbox, create_tables_from_template
from tests.faults import AFTER, BEFORE, FaultyClient
from tests.order_queue import OrderQueue

# The table the consumer's role grants (tests/roles.py).
ORDERS = os.environ["ORDERS_TABLE"]

STATUSES = ["pending", "confirmed", "shipped", "delivered"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class History:
    """What producers sent for one order."""

    order_id: str
    total: Decimal
    status_updates: list[str]
    field_update: Decimal | None
    cancel: bool
    # Each event with an eventId and a version, in the order the producer made them.
    versioned: bool = False
    bodies: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.created = json.dumps(
            {
                "type": "order_created",
                "orderId": self.order_id,
                "customerId": f"c-{self.order_id}",
                "items": [{"productId": "p", "quantity": 1}],
                "total": str(self.total),
            }
        ).replace(f'"{self.total}"', str(self.total))
        self.updates = [
            json.dumps(
                {"type": "order_updated", "orderId": self.order_id, "updates": {"status": s}}
            )
            for s in self.status_updates
        ]
        self.total_update = (
            json.dumps(
                {"type": "order_updated", "orderId": self.order_id, "updates": {"total": "X"}}
            ).replace('"X"', str(self.field_update))
            if self.field_update is not None
            else None
        )
        self.cancellation = (
            json.dumps({"type": "order_cancelled", "orderId": self.order_id, "reason": "r"})
            if self.cancel
            else None
        )
        if self.versioned:
            versions = itertools.count(1)
            self.created, *self.updates = [
                _stamped(body, self.order_id, next(versions))
                for body in [self.created, *self.updates]
            ]
            if self.total_update:
                self.total_update = _stamped(self.total_update, self.order_id, next(versions))
            if self.cancellation:
                self.cancellation = _stamped(self.cancellation, self.order_id, next(versions))
        self.bodies = [self.created, *self.updates]
        if self.total_update:
            self.bodies.append(self.total_update)
        if self.cancellation:
            self.bodies.append(self.cancellation)


def _stamped(body: str, order_id: str, version: int) -> str:
    """`body` with the eventId and version its producer gives it."""
    return body[:-1] + f', "eventId": "{order_id}/{version}", "version": {version}}}'


money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def histories(draw: st.DrawFn) -> list[History]:
    count = draw(st.integers(min_value=1, max_value=4))
    result = []
    for index in range(count):
        statuses = draw(st.lists(st.sampled_from(STATUSES[1:]), max_size=3, unique=True))
        result.append(
            History(
                order_id=f"o-{index}",
                total=draw(money),
                status_updates=sorted(statuses, key=STATUSES.index),
                field_update=draw(st.none() | money),
                cancel=draw(st.booleans()),
                versioned=draw(st.booleans()),
            )
        )
    return result


class RecordingService(OrderEventService):
    """The consumer's service, keeping each event's outcome in the order they came."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[tuple[OrderEvent, Outcome]] = []

    def apply(self, event: OrderEvent) -> Result:
        result = super().apply(event)
        self.outcomes.append((event, result.outcome))
        return result


@dataclass
class Run:
    queue: OrderQueue
    service: RecordingService
    dynamodb: Any
    inbox: NotificationInbox
    dynamodb_faults: FaultyClient
    sns_faults: FaultyClient


@functools.cache
def client(service: str) -> Any:
    """Clients outlive each example's mock_aws(): building them costs more than a delivery."""
    return boto3.client(service)  # type: ignore[call-overload]


def run(
    histories_: list[History],
    seed: int,
    fault_rate: float,
    duplicate_rate: float,
    max_receives: int = 12,
) -> Run:
    rng = random.Random(seed)
    dynamodb = client("dynamodb")
    create_tables_from_template(dynamodb, {"OrdersTable": ORDERS})
    sns = client("sns")
    sqs = client("sqs")
    topic = sns.create_topic(Name="order-notifications")["TopicArn"]
    assert topic == os.environ["NOTIFICATION_TOPIC_ARN"]  # the topic the role grants
    inbox_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    dynamodb_faults = FaultyClient(dynamodb, rng, fault_rate, {"put_item", "update_item"})
    sns_faults = FaultyClient(sns, rng, fault_rate, {"publish_batch"})
    ticks = itertools.count()
    service = RecordingService(
        OrderRepository(dynamodb_faults, ORDERS),  # type: ignore[arg-type]
        SnsNotificationPublisher(sns_faults, topic),  # type: ignore[arg-type]
        # A clock that moves a second per call, so the order of writes shows in timestamps.
        clock=lambda: EPOCH + timedelta(seconds=next(ticks)),
    )
    # A budget of receives that faults (failing 12 times in a row: 0.3**12, about 5e-7) and
    # waiting for a creation (about one pass of the queue) do not exhaust: what reaches the
    # DLQ here is what can never apply.
    queue = OrderQueue(service, rng, max_receives=max_receives, redeliver_succeeded=duplicate_rate)
    bodies = [body for history in histories_ for body in history.bodies]
    bodies += [rng.choice(bodies) for _ in range(len(bodies) // 3)]  # producer duplicates
    queue.run(bodies)
    return Run(
        queue, service, dynamodb, NotificationInbox(topic, inbox_url), dynamodb_faults, sns_faults
    )


def check_exact(histories_: list[History], outcome: Run) -> None:
    dlq = set(outcome.queue.dlq)
    notes = outcome.inbox.drain()
    for history in histories_:
        item = outcome.dynamodb.get_item(
            TableName=ORDERS, Key={"orderId": {"S": history.order_id}}
        )["Item"]
        if history.versioned:
            check_versioned(history, item, outcome.service.outcomes, dlq)
            continue
        # Creations and cancellations always apply once the order exists.
        assert history.created not in dlq
        assert history.cancellation not in dlq
        # Status: cancelled if cancelled, else the furthest update sent (it always applies);
        # an update refused (cancelled order, or status behind) is in the DLQ, never lost.
        applied_updates = [
            u for u, s in zip(history.updates, history.status_updates, strict=True) if u not in dlq
        ]
        expected_status = (
            "cancelled"
            if history.cancel
            else (history.status_updates[-1] if history.status_updates else "pending")
        )
        assert item["status"]["S"] == expected_status
        if not history.cancel and history.status_updates:
            assert history.updates[-1] in applied_updates
        # The total is the update's if that update applied (not in the DLQ), else the creation's.
        expected_total = (
            history.field_update
            if history.total_update is not None and history.total_update not in dlq
            else history.total
        )
        assert Decimal(item["total"]["N"]) == expected_total
        assert item["customerId"]["S"] == f"c-{history.order_id}"
        kinds = {n["type"] for n in notes if n["orderId"] == history.order_id}
        assert "order_created" in kinds
        assert ("order_cancelled" in kinds) == history.cancel
        # A cancelled order never changes after its cancellation.
        if history.cancel and "updatedAt" in item:
            assert item["updatedAt"]["S"] <= item["cancelledAt"]["S"]
    # Nothing in the DLQ that could have applied: only refused updates.
    for body in dlq:
        assert json.loads(body)["type"] == "order_updated"
    # Exactly once: with everything settled, delivering every message again changes nothing.
    before = outcome.dynamodb.scan(TableName=ORDERS)["Items"]
    again = OrderQueue(outcome.queue.service, random.Random(), max_receives=12)
    again.run([body for history in histories_ for body in history.bodies if body not in dlq])
    assert again.dlq == []
    assert _by_id(outcome.dynamodb.scan(TableName=ORDERS)["Items"]) == _by_id(before)


def check_versioned(
    history: History,
    item: dict[str, Any],
    outcomes: list[tuple[OrderEvent, Outcome]],
    dlq: set[str],
) -> None:
    """An order whose events carry ids and versions: nothing in the DLQ, each event applied
    at most once and only above every version applied before it, and the order exactly what
    its applied events make in version order, ending at the last version."""
    assert not dlq & set(history.bodies)
    mine = {
        event.version: (event, result)
        for event, result in outcomes
        if event.orderId == history.order_id
    }
    # What took effect, as the order records it (a write that failed after it happened is
    # recognised on redelivery): in version order, it makes the order.
    marks = set(item["appliedEvents"]["SS"])
    applied = [mine[version][0] for version in sorted(mine) if mine[version][0].event_id in marks]
    assert applied[-1].version == len(history.bodies)  # the last version always applies
    assert int(item["version"]["N"]) == len(history.bodies)
    expected_status, expected_total = "pending", history.total
    for event in applied:
        match event:
            case OrderUpdated(updates=changes):
                expected_status = changes.status or expected_status
                expected_total = changes.total if changes.total is not None else expected_total
            case OrderCancelled():
                expected_status = "cancelled"
    assert item["status"]["S"] == expected_status
    assert Decimal(item["total"]["N"]) == expected_total
    # Every event is accounted for: it took effect, or it was set aside as stale.
    stale = {version for version, (_, result) in mine.items() if result is Outcome.STALE}
    assert stale.isdisjoint(event.version for event in applied)
    assert len(applied) + len(stale) == len(history.bodies)


def _by_id(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["orderId"]["S"]: item for item in items}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(histories=histories(), seed=st.integers(0, 2**32 - 1))
def test_duplicated_and_shuffled_delivery_converges_to_the_exact_state(
    histories: list[History], seed: int
) -> None:
    with mock_aws():
        outcome = run(histories, seed, fault_rate=0.0, duplicate_rate=0.3)
        check_exact(histories, outcome)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories=histories(), seed=st.integers(0, 2**32 - 1))
def test_faults_before_and_after_writes_and_publishes_lose_nothing(
    histories: list[History], seed: int
) -> None:
    with mock_aws():
        outcome = run(histories, seed, fault_rate=0.3, duplicate_rate=0.2)
        check_exact(histories, outcome)


def test_the_fault_injection_really_injects() -> None:
    # Enough calls that every kind of fault is drawn whatever the seed, and enough receives
    # that no message fails them all (0.75 ** 60 is about 3e-8).
    histories_ = [
        History(f"o-{n}", Decimal("5.00"), ["confirmed", "shipped"], Decimal("7.5"), cancel=True)
        for n in range(20)
    ]
    seed = random.randrange(2**32)
    print(f"fault injection seed: {seed}")
    with mock_aws():
        outcome = run(histories_, seed, fault_rate=0.5, duplicate_rate=0.0, max_receives=60)

        injected = outcome.dynamodb_faults.injected + outcome.sns_faults.injected
        assert set(injected) == {*BEFORE, *AFTER}
        assert outcome.sns_faults.injected.total() > 0
        assert outcome.queue.deliveries > 1
        check_exact(histories_, outcome)
