"""The rules an order event must meet to apply, in one table: for each kind of event, in order,
each rule's condition on the order as the event's conditional write states it to DynamoDB, the
same test on the order a refused write returns, and what the event is when that rule is the
first it breaks.

The repository's write carries the conditions (`write_condition`); the service reads a refused
write's outcome from the first rule the returned order breaks (`first_broken`). A refused write
that breaks none met an order that changed between its write and the answer: retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from src.models.orders import (
    STATUS_SEQUENCE,
    Order,
    OrderCancelled,
    OrderCreated,
    OrderEvent,
    OrderStatus,
    OrderUpdated,
)


class Verdict(StrEnum):
    """What an event is when it breaks a rule."""

    NOT_YET = "not yet"  # retried: the order has not been created yet
    REPEATED = "repeated"  # a duplicate: this event applied before (its notice is sent again)
    ALREADY_CANCELLED = "already cancelled"  # a duplicate: another cancellation came first
    STALE = "stale"  # acknowledged: the order has applied a version as high
    REJECTED = "rejected"  # can never apply: set aside in the DLQ


@dataclass
class Placeholders:
    """The expression attribute names and values a write's expressions use."""

    names: dict[str, str]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: the condition a write states (None: one the write's other conditions hold
    already), its test on the order a refused write returns (which is None when there is no
    order), and whether it concerns an event."""

    name: str
    condition: Callable[[Any, Placeholders], str] | None
    holds: Callable[[Any, Order | None], bool]
    concerns: Callable[[Any], bool] = lambda _: True


@dataclass(frozen=True, slots=True)
class Check:
    """A rule as one kind of event meets it: what breaking it makes of the event, and for a
    rejection its rule's name and reason."""

    rule: Rule
    verdict: Verdict
    rejection: str = ""
    reason: Callable[[Any, Order], str] = lambda _, __: ""


def _rank(status: str) -> int:
    return STATUS_SEQUENCE.index(OrderStatus(status))


def _cancelled(_: Any, placeholders: Placeholders) -> str:
    placeholders.names["#status"] = "status"
    placeholders.values[":cancelled"] = {"S": OrderStatus.CANCELLED.value}
    return "#status <> :cancelled"


def _not_applied(event: OrderEvent, placeholders: Placeholders) -> str:
    placeholders.values[":event"] = {"S": event.event_id}
    return "NOT contains(appliedEvents, :event)"


def _reachable(event: OrderUpdated, placeholders: Placeholders) -> str:
    """The statuses the new one may follow: itself and those before it."""
    placeholders.names["#status"] = "status"
    statuses = []
    for index, status in enumerate(STATUS_SEQUENCE[: _rank(str(event.updates.status)) + 1]):
        placeholders.values[f":from{index}"] = {"S": status.value}
        statuses.append(f":from{index}")
    return f"#status IN ({', '.join(statuses)})"


def _below(event: OrderUpdated | OrderCancelled, placeholders: Placeholders) -> str:
    placeholders.names["#version"] = "version"
    placeholders.values[":version"] = {"N": str(event.version)}
    return "(attribute_not_exists(#version) OR #version < :version)"


NEW = Rule("new", lambda _, __: "attribute_not_exists(orderId)", lambda _, order: order is None)
EXISTS = Rule("exists", lambda _, __: "attribute_exists(orderId)", lambda _, o: o is not None)
NOT_APPLIED = Rule(
    "not applied",
    _not_applied,
    lambda event, order: order is None or event.event_id not in order.appliedEvents,
)
# An eventId applied before must come with the content it came with then. The write's
# condition on the event's identity refuses it already.
SAME_CONTENT = Rule(
    "same content",
    None,
    lambda event, order: (
        order is None
        or event.eventId is None
        or event.event_id not in order.appliedEvents
        or event.content_mark in order.appliedEvents
    ),
    lambda event: event.eventId is not None,
)
NOT_CANCELLED = Rule(
    "not cancelled",
    _cancelled,
    lambda _, order: order is None or order.status is not OrderStatus.CANCELLED,
)


def _not_past(event: OrderUpdated, order: Order | None) -> bool:
    """The order's status is not past the new one (a cancelled order is another rule's)."""
    new = event.updates.status
    if order is None or new is None or order.status is OrderStatus.CANCELLED:
        return True
    return _rank(order.status) <= _rank(new)


FORWARD_ONLY = Rule(
    "forward only", _reachable, _not_past, lambda event: event.updates.status is not None
)
NEWER_VERSION = Rule(
    "newer version",
    _below,
    lambda event, order: order is None or order.version is None or event.version > order.version,
    lambda event: event.version is not None,
)

EVENT_ID_REUSED = Check(
    SAME_CONTENT,
    Verdict.REJECTED,
    "event-id-reused",
    lambda event, _: f"order {event.orderId}: eventId already applied with other content",
)
CHECKS: dict[type[OrderEvent], tuple[Check, ...]] = {
    # Created once: a redelivered creation never overwrites a later state.
    OrderCreated: (
        EVENT_ID_REUSED,
        Check(NOT_APPLIED, Verdict.REPEATED),
        Check(
            NEW,
            Verdict.REJECTED,
            "order-exists",
            lambda event, _: f"order {event.orderId} already exists with other content",
        ),
    ),
    # Never creates an order, applies once, never reopens a cancelled order, moves the status
    # forward only.
    OrderUpdated: (
        Check(EXISTS, Verdict.NOT_YET),
        EVENT_ID_REUSED,
        Check(NOT_APPLIED, Verdict.REPEATED),
        Check(NEWER_VERSION, Verdict.STALE),
        Check(
            NOT_CANCELLED,
            Verdict.REJECTED,
            "order-cancelled",
            lambda event, _: f"order {event.orderId} is cancelled; updates cannot apply",
        ),
        Check(
            FORWARD_ONLY,
            Verdict.REJECTED,
            "status-backwards",
            lambda event, order: (
                f"order {event.orderId} status cannot move back from {order.status} to "
                f"{event.updates.status}"
            ),
        ),
    ),
    # Terminal, and once: the first cancellation's reason stays.
    OrderCancelled: (
        Check(EXISTS, Verdict.NOT_YET),
        EVENT_ID_REUSED,
        Check(NOT_APPLIED, Verdict.REPEATED),
        Check(NOT_CANCELLED, Verdict.ALREADY_CANCELLED),
        Check(NEWER_VERSION, Verdict.STALE),
    ),
}


def write_condition(event: OrderEvent, placeholders: Placeholders) -> str:
    """The condition of the event's write: every rule that concerns it, as DynamoDB states it."""
    return " AND ".join(
        check.rule.condition(event, placeholders)
        for check in CHECKS[type(event)]
        if check.rule.condition is not None and check.rule.concerns(event)
    )


def first_broken(event: OrderEvent, order: Order | None) -> Check | None:
    """The first rule the event breaks on `order` (None: no order), in the table's order."""
    for check in CHECKS[type(event)]:
        if check.rule.concerns(event) and not check.rule.holds(event, order):
            return check
    return None
