"""Orders: reading one for the API, and applying order events to the orders table exactly
once, whatever the delivery order.

An event's identity is its eventId when it has one, else its content. The outcome of each
event is one of:
- applied: the conditional write went through;
- duplicate: its identity is already on the order with the same content (or the order is
  already cancelled, for a cancellation): nothing changes;
- stale: it has a version, and the order has applied one as high: nothing changes;
- not applicable yet (OrderEventNotApplicableYet): the order does not exist yet; the caller
  reports the message failed and redelivery resolves it once the creation has arrived;
- rejected (OrderEventRejected): it can never apply (an illegal transition, a conflicting
  creation, an eventId reused with other content); the caller sets it aside in the DLQ.

Created and cancelled orders are announced through the publisher. A duplicate creation or
cancellation is announced again, because the first attempt's publish may have failed after the
write: notifications are at least once, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from src.core.clock import utc_now
from src.core.errors import OrderEventNotApplicableYet, OrderEventRejected
from src.models.orders import (
    STATUS_SEQUENCE,
    Order,
    OrderCancelled,
    OrderCreated,
    OrderEvent,
    OrderNotification,
    OrderStatus,
    OrderUpdated,
)
from src.repositories.orders import Refused, WriteOutcome


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    notification: OrderNotification | None = None


class OrderReader(Protocol):
    def get(self, order_id: str) -> Order: ...


class OrderWriter(Protocol):
    def apply(self, event: OrderEvent, now: datetime) -> WriteOutcome: ...


class NotificationPublisher(Protocol):
    def publish(self, notifications: Sequence[OrderNotification]) -> set[int]:
        """Publish; return the positions of the notifications that were not published."""
        ...


class OrderReadService:
    """The API's view: orders are written by the queue consumer only."""

    def __init__(self, store: OrderReader) -> None:
        self._store = store

    def get_order(self, order_id: str) -> Order:
        return self._store.get(order_id)


class OrderEventService:
    """The queue consumer's: events applied, notifications published."""

    def __init__(
        self,
        store: OrderWriter,
        publisher: NotificationPublisher,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    def apply(self, event: OrderEvent) -> Result:
        """Apply one event; raises OrderEventNotApplicableYet or OrderEventRejected."""
        now = self._clock()
        written = self._store.apply(event, now)
        match event:
            case OrderCreated():
                return self._created(event, written, now)
            case OrderUpdated():
                return self._updated(event, written)
            case OrderCancelled():
                return self._cancelled(event, written, now)

    def notify(self, notifications: Mapping[str, OrderNotification]) -> set[str]:
        """Publish the notifications (keyed by message id); return the keys not published."""
        if not notifications:
            return set()
        keys = list(notifications)
        failed = self._publisher.publish([notifications[key] for key in keys])
        return {keys[position] for position in failed}

    def _created(self, event: OrderCreated, written: WriteOutcome, now: datetime) -> Result:
        if not isinstance(written, Refused):
            return Result(Outcome.APPLIED, _creation_notice(event, now))
        current = _existing(written, event)
        if _seen(event, current):
            return Result(Outcome.DUPLICATE, _creation_notice(event, current.createdAt))
        raise OrderEventRejected(
            f"order {event.orderId} already exists with other content", "order-exists"
        )

    def _updated(self, event: OrderUpdated, written: WriteOutcome) -> Result:
        if not isinstance(written, Refused):
            return Result(Outcome.APPLIED)
        current = _existing(written, event)
        if _seen(event, current):
            return Result(Outcome.DUPLICATE)
        if _stale(event, current):
            return Result(Outcome.STALE)
        status = current.status
        if status is OrderStatus.CANCELLED:
            raise OrderEventRejected(
                f"order {event.orderId} is cancelled; updates cannot apply", "order-cancelled"
            )
        new_status = event.updates.status
        if new_status is not None and _rank(status) > _rank(new_status):
            raise OrderEventRejected(
                f"order {event.orderId} status cannot move back from {status} to {new_status}",
                "status-backwards",
            )
        raise OrderEventNotApplicableYet(f"order {event.orderId} changed during the update")

    def _cancelled(self, event: OrderCancelled, written: WriteOutcome, now: datetime) -> Result:
        if not isinstance(written, Refused):
            return Result(Outcome.APPLIED, _cancellation_notice(event, now))
        current = _existing(written, event)
        if _seen(event, current):
            return Result(
                Outcome.DUPLICATE, _cancellation_notice(event, current.cancelledAt or now)
            )
        if current.status is OrderStatus.CANCELLED:
            # Cancelled by another cancellation event: terminal, and already announced.
            return Result(Outcome.DUPLICATE)
        if _stale(event, current):
            return Result(Outcome.STALE)
        raise OrderEventNotApplicableYet(f"order {event.orderId} changed during the cancellation")


def _seen(event: OrderEvent, current: Order) -> bool:
    """Whether the order has applied this event; OrderEventRejected when it has applied its
    eventId with other content."""
    if event.event_id not in current.appliedEvents:
        return False
    if event.eventId is not None and event.content_mark not in current.appliedEvents:
        raise OrderEventRejected(
            f"order {event.orderId}: eventId already applied with other content",
            "event-id-reused",
        )
    return True


def _stale(event: OrderUpdated | OrderCancelled, current: Order) -> bool:
    return (
        event.version is not None
        and current.version is not None
        and event.version <= current.version
    )


def _existing(refused: Refused, event: OrderEvent) -> Order:
    if refused.current is None:
        raise OrderEventNotApplicableYet(f"order {event.orderId} has not been created yet")
    return refused.current


def _rank(status: str) -> int:
    return STATUS_SEQUENCE.index(status)


def _creation_notice(event: OrderCreated, when: datetime) -> OrderNotification:
    return OrderNotification(
        type="order_created",
        orderId=event.orderId,
        customerId=event.customerId,
        total=event.total,
        occurredAt=when,
    )


def _cancellation_notice(event: OrderCancelled, when: datetime) -> OrderNotification:
    return OrderNotification(
        type="order_cancelled", orderId=event.orderId, reason=event.reason, occurredAt=when
    )
