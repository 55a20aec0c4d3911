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
from src.models.order_rules import Verdict, first_broken
from src.models.orders import (
    Order,
    OrderCancelled,
    OrderCreated,
    OrderEvent,
    OrderNotification,
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
        """Apply one event; raises OrderEventNotApplicableYet or OrderEventRejected. A refused
        write's outcome is the first of the event's rules the order breaks
        (src/models/order_rules.py)."""
        now = self._clock()
        written = self._store.apply(event, now)
        if not isinstance(written, Refused):
            return Result(Outcome.APPLIED, _notice(event, now))
        current = written.current
        broken = first_broken(event, current)
        if current is None or broken is None or broken.verdict is Verdict.NOT_YET:
            why = "has not been created yet" if current is None else "changed during the write"
            raise OrderEventNotApplicableYet(f"order {event.orderId} {why}")
        if broken.verdict is Verdict.REJECTED:
            raise OrderEventRejected(broken.reason(event, current), broken.rejection)
        if broken.verdict is Verdict.REPEATED:
            return Result(Outcome.DUPLICATE, _notice(event, _applied_at(event, current, now)))
        if broken.verdict is Verdict.ALREADY_CANCELLED:
            return Result(Outcome.DUPLICATE)  # announced by the cancellation that applied
        return Result(Outcome.STALE)

    def notify(self, notifications: Mapping[str, OrderNotification]) -> set[str]:
        """Publish the notifications (keyed by message id); return the keys not published."""
        if not notifications:
            return set()
        keys = list(notifications)
        failed = self._publisher.publish([notifications[key] for key in keys])
        return {keys[position] for position in failed}


def _notice(event: OrderEvent, when: datetime) -> OrderNotification | None:
    """What applying the event announces: a creation or a cancellation, nothing for updates."""
    match event:
        case OrderCreated():
            return _creation_notice(event, when)
        case OrderCancelled():
            return _cancellation_notice(event, when)
        case OrderUpdated():
            return None


def _applied_at(event: OrderEvent, current: Order, now: datetime) -> datetime:
    """When the event applied, for its repeated notice."""
    if isinstance(event, OrderCreated):
        return current.createdAt
    return current.cancelledAt or now


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
