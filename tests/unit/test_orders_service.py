"""OrderEventService with OrderRepository on DynamoDB (moto, table from template.yaml): each event
type, duplicates, reordering, and the rules that make an event wait or be rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from src.core.errors import OrderEventNotApplicableYet, OrderEventRejected, OrderNotFound
from src.models.orders import Order, OrderStatus, parse_order_message
from src.repositories.notifications import NoNotifications
from src.repositories.orders import OrderRepository
from src.services.orders import OrderEventService, OrderReadService, Outcome, Result


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Orders:
    """Both services over one table: the consumer's, applying events, and the API's, reading."""

    def __init__(self, repository: OrderRepository) -> None:
        self._events = OrderEventService(repository, NoNotifications(), clock=Clock())
        self._reads = OrderReadService(repository)

    def apply(self, event: Any) -> Result:
        return self._events.apply(event)

    def get_order(self, order_id: str) -> Order:
        return self._reads.get_order(order_id)


@pytest.fixture
def service(dynamodb: Any, orders_table: str) -> Orders:
    return Orders(OrderRepository(dynamodb, orders_table))


def created(order_id: str = "o-1", total: str = "19.99", **extra: Any) -> Any:
    return parse_order_message(
        json.dumps(
            {
                "type": "order_created",
                "orderId": order_id,
                "customerId": "c-1",
                "items": [{"productId": "p-1", "quantity": 2}],
                "total": Decimal(total),
                **extra,
            },
            default=str,
        ).replace(f'"{total}"', total)
    )


def updated(order_id: str = "o-1", **updates: Any) -> Any:
    return parse_order_message(
        json.dumps({"type": "order_updated", "orderId": order_id, "updates": updates})
    )


def cancelled(order_id: str = "o-1", reason: str | None = "changed mind") -> Any:
    body: dict[str, Any] = {"type": "order_cancelled", "orderId": order_id}
    if reason is not None:
        body["reason"] = reason
    return parse_order_message(json.dumps(body))


def stored(dynamodb: Any, table: str, order_id: str = "o-1") -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=table, Key={"orderId": {"S": order_id}})[
        "Item"
    ]
    return item


class TestCreated:
    def test_stores_a_pending_order_with_exact_amounts(
        self, service: Orders, dynamodb: Any, orders_table: str
    ) -> None:
        result = service.apply(created(total="0.1"))

        assert result.outcome is Outcome.APPLIED
        assert result.notification is not None
        assert result.notification.type == "order_created"
        item = stored(dynamodb, orders_table)
        assert item["status"] == {"S": "pending"}
        assert item["total"] == {"N": "0.1"}
        assert item["items"] == {"L": [{"M": {"productId": {"S": "p-1"}, "quantity": {"N": "2"}}}]}
        order = service.get_order("o-1")
        assert order.total == Decimal("0.1")
        assert order.createdAt.tzinfo is not None

    def test_the_same_creation_twice_is_a_duplicate_that_notifies_again(
        self, service: Orders
    ) -> None:
        service.apply(created())

        again = service.apply(created())

        assert again.outcome is Outcome.DUPLICATE
        assert again.notification is not None

    def test_a_redelivered_creation_never_overwrites_a_later_state(self, service: Orders) -> None:
        service.apply(created())
        service.apply(updated(status="confirmed", total=25))
        service.apply(cancelled())

        assert service.apply(created()).outcome is Outcome.DUPLICATE
        order = service.get_order("o-1")
        assert order.status is OrderStatus.CANCELLED
        assert order.total == Decimal(25)

    def test_a_conflicting_creation_is_rejected(self, service: Orders) -> None:
        service.apply(created(total="19.99"))

        with pytest.raises(OrderEventRejected, match="already exists"):
            service.apply(created(total="20.00"))
        assert service.get_order("o-1").total == Decimal("19.99")


class TestUpdated:
    def test_changes_only_the_given_fields(self, service: Orders) -> None:
        service.apply(created())

        result = service.apply(updated(shippingAddress={"line1": "1 Main St", "city": "X"}))

        assert result.outcome is Outcome.APPLIED
        assert result.notification is None
        order = service.get_order("o-1")
        assert order.shippingAddress == {"line1": "1 Main St", "city": "X"}
        assert order.status is OrderStatus.PENDING
        assert order.total == Decimal("19.99")
        assert order.updatedAt is not None

    def test_status_moves_forward_and_may_skip(self, service: Orders) -> None:
        service.apply(created())

        service.apply(updated(status="shipped"))
        service.apply(updated(status="delivered"))

        assert service.get_order("o-1").status is OrderStatus.DELIVERED

    def test_status_never_moves_back(self, service: Orders) -> None:
        service.apply(created())
        service.apply(updated(status="shipped"))

        with pytest.raises(OrderEventRejected, match="cannot move back from shipped"):
            service.apply(updated(status="confirmed", total=1))
        order = service.get_order("o-1")
        assert order.status is OrderStatus.SHIPPED
        assert order.total == Decimal("19.99")

    def test_the_same_update_twice_is_a_duplicate(self, service: Orders) -> None:
        service.apply(created())
        service.apply(updated(status="confirmed"))
        service.apply(updated(status="shipped"))

        assert service.apply(updated(status="confirmed")).outcome is Outcome.DUPLICATE
        assert service.get_order("o-1").status is OrderStatus.SHIPPED

    def test_before_the_creation_it_waits_and_creates_nothing(self, service: Orders) -> None:
        with pytest.raises(OrderEventNotApplicableYet):
            service.apply(updated(status="confirmed"))

        with pytest.raises(OrderNotFound):
            service.get_order("o-1")

    def test_never_reopens_a_cancelled_order(self, service: Orders) -> None:
        service.apply(created())
        service.apply(cancelled())

        with pytest.raises(OrderEventRejected, match="cancelled"):
            service.apply(updated(status="shipped"))
        assert service.get_order("o-1").status is OrderStatus.CANCELLED


class TestCancelled:
    def test_cancels_with_reason_and_time(self, service: Orders) -> None:
        service.apply(created())

        result = service.apply(cancelled(reason="out of stock"))

        assert result.outcome is Outcome.APPLIED
        assert result.notification is not None
        assert result.notification.reason == "out of stock"
        order = service.get_order("o-1")
        assert order.status is OrderStatus.CANCELLED
        assert order.cancelReason == "out of stock"
        assert order.cancelledAt is not None

    def test_cancel_before_create_waits_then_applies_after_the_creation(
        self, service: Orders
    ) -> None:
        with pytest.raises(OrderEventNotApplicableYet):
            service.apply(cancelled())

        service.apply(created())
        assert service.apply(cancelled()).outcome is Outcome.APPLIED
        assert service.get_order("o-1").status is OrderStatus.CANCELLED

    def test_is_terminal_the_first_reason_stays(self, service: Orders) -> None:
        service.apply(created())
        service.apply(cancelled(reason="first"))

        again = service.apply(cancelled(reason="first"))
        other = service.apply(cancelled(reason="second"))

        assert again.outcome is Outcome.DUPLICATE
        assert again.notification is not None
        assert other.outcome is Outcome.DUPLICATE
        assert other.notification is None
        assert service.get_order("o-1").cancelReason == "first"


def test_unknown_order_is_not_found(service: Orders) -> None:
    with pytest.raises(OrderNotFound):
        service.get_order("nope")
