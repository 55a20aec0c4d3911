"""Order events -> the orders table, exactly once, whatever the delivery order.

The outcome of each event is one of:
- applied: the conditional write went through;
- duplicate: its fingerprint is already on the order (or the order is already cancelled, for a
  cancellation): nothing changes;
- not applicable yet (OrderEventNotApplicableYet): the order does not exist yet; the caller
  reports the message failed and redelivery resolves it once the creation has arrived;
- rejected (OrderEventRejected): it can never apply (an illegal transition, a conflicting
  creation); the caller reports it failed until the queue's redrive moves it to the DLQ.

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
from src.models.order_events import (
    STATUS_SEQUENCE,
    OrderCancelled,
    OrderCreated,
    OrderEvent,
    OrderNotification,
    OrderStatus,
    OrderUpdated,
    StoredOrder,
    fingerprint,
)
from src.repositories.orders import Refused


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    notification: OrderNotification | None = None


class OrderStore(Protocol):
    def get(self, order_id: str) -> StoredOrder: ...
    def apply_creation(
        self, event: OrderCreated, event_id: str, now: datetime
    ) -> Refused | None: ...
    def apply_update(self, event: OrderUpdated, event_id: str, now: datetime) -> Refused | None: ...
    def apply_cancellation(
        self, event: OrderCancelled, event_id: str, now: datetime
    ) -> Refused | None: ...


class NotificationPublisher(Protocol):
    def publish(self, notifications: Sequence[OrderNotification]) -> set[int]:
        """Publish; return the positions of the notifications that were not published."""
        ...


class OrderService:
    def __init__(
        self,
        store: OrderStore,
        publisher: NotificationPublisher | None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    def get_order(self, order_id: str) -> StoredOrder:
        return self._store.get(order_id)

    def apply(self, event: OrderEvent) -> Result:
        """Apply one event; raises OrderEventNotApplicableYet or OrderEventRejected."""
        event_id = fingerprint(event)
        match event:
            case OrderCreated():
                return self._create(event, event_id)
            case OrderUpdated():
                return self._update(event, event_id)
            case OrderCancelled():
                return self._cancel(event, event_id)

    def notify(self, notifications: Mapping[str, OrderNotification]) -> set[str]:
        """Publish the notifications (keyed by message id); return the keys not published."""
        if self._publisher is None or not notifications:
            return set()
        keys = list(notifications)
        failed = self._publisher.publish([notifications[key] for key in keys])
        return {keys[position] for position in failed}

    def _create(self, event: OrderCreated, event_id: str) -> Result:
        now = self._clock()
        refused = self._store.apply_creation(event, event_id, now)
        if refused is None:
            return Result(Outcome.APPLIED, _created(event, now))
        current = _existing(refused, event)
        if event_id in current.applied_events:
            return Result(Outcome.DUPLICATE, _created(event, current.createdAt))
        raise OrderEventRejected(f"order {event.orderId} already exists with other content")

    def _update(self, event: OrderUpdated, event_id: str) -> Result:
        refused = self._store.apply_update(event, event_id, self._clock())
        if refused is None:
            return Result(Outcome.APPLIED)
        current = _existing(refused, event)
        if event_id in current.applied_events:
            return Result(Outcome.DUPLICATE)
        status = current.status
        if status is OrderStatus.CANCELLED:
            raise OrderEventRejected(f"order {event.orderId} is cancelled; updates cannot apply")
        new_status = event.updates.status
        if new_status is not None and _rank(status) > _rank(new_status):
            raise OrderEventRejected(
                f"order {event.orderId} status cannot move back from {status} to {new_status}"
            )
        raise OrderEventNotApplicableYet(f"order {event.orderId} changed during the update")

    def _cancel(self, event: OrderCancelled, event_id: str) -> Result:
        now = self._clock()
        refused = self._store.apply_cancellation(event, event_id, now)
        if refused is None:
            return Result(Outcome.APPLIED, _cancelled(event, now))
        current = _existing(refused, event)
        if event_id in current.applied_events:
            return Result(Outcome.DUPLICATE, _cancelled(event, current.cancelledAt or now))
        if current.status is OrderStatus.CANCELLED:
            # Cancelled by another cancellation event: terminal, and already announced.
            return Result(Outcome.DUPLICATE)
        raise OrderEventNotApplicableYet(f"order {event.orderId} changed during the cancellation")


def _existing(refused: Refused, event: OrderEvent) -> StoredOrder:
    if refused.current is None:
        raise OrderEventNotApplicableYet(f"order {event.orderId} has not been created yet")
    return refused.current


def _rank(status: OrderStatus) -> int:
    return STATUS_SEQUENCE.index(status)


def _created(event: OrderCreated, when: datetime) -> OrderNotification:
    return OrderNotification(
        type="order_created",
        orderId=event.orderId,
        customerId=event.customerId,
        total=event.total,
        occurredAt=when,
    )


def _cancelled(event: OrderCancelled, when: datetime) -> OrderNotification:
    return OrderNotification(
        type="order_cancelled", orderId=event.orderId, reason=event.reason, occurredAt=when
    )
