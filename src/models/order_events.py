"""Orders on the queue consumer's path: the events producers send, the order as stored, and the
notifications about it. The API's view of an order is in src.models.orders.

Plain classes validated here, not pydantic models, unlike the rest of src/models
(docs/decisions.md, "Cold starts: what each function imports"). The rules are those of the
pydantic models in tests/order_reference.py, one exception aside (a quantity must be a number,
not "2" or true), and tests/unit/test_order_messages.py holds the two to the same answers.

Messages come from producers we do not control, so every object refuses unknown fields and bounds
its sizes, and a refusal names where the problem is but never echoes a value. Money and
quantities are exact: message bodies are parsed with Decimal for every number, never float.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from src.core.clock import iso_utc
from src.core.errors import InvalidOrderMessage


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The forward order of the statuses an update may set; cancelled is reached only by cancelling.
STATUS_SEQUENCE: tuple[OrderStatus, ...] = (
    OrderStatus.PENDING,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@#/-]+$"
MAX_IDENTIFIER_LENGTH = 128
MAX_TEXT_LENGTH = 500
MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000
MAX_ADDRESS_LINES = 20
MAX_ADDRESS_LABEL_LENGTH = 64
# Non-negative, at most 4 decimal places and 11 digits before the point (15 significant digits
# in all): exact in DynamoDB (38 digits) and in a JSON number. NaN and infinities are refused.
MONEY_DECIMAL_PLACES = 4
MONEY_WHOLE_DIGITS = 11
# A refusal names this many problems at most: its reason is logged at every receive, and a
# 256 KB message can hold thousands of unknown fields.
MAX_PROBLEMS_NAMED = 10

# A shipping address is one line, or a flat object of lines (street, city...).
Address = str | dict[str, str]


@dataclass(frozen=True, slots=True)
class OrderItem:
    productId: str
    quantity: int

    def to_record(self) -> dict[str, Any]:
        return {"productId": self.productId, "quantity": self.quantity}


@dataclass(frozen=True, slots=True)
class OrderCreated:
    """A new order. Producers written for the original service send neither items nor total:
    an order without them has no items and a total of 0."""

    orderId: str
    customerId: str
    items: tuple[OrderItem, ...] = ()
    total: Decimal = Decimal(0)
    type: Literal["order_created"] = "order_created"

    def to_record(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "orderId": self.orderId,
            "customerId": self.customerId,
            "items": [item.to_record() for item in self.items],
            "total": self.total,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderChanges:
    """The fields an update changes; None is a field the update does not change (an update
    cannot set one to null)."""

    status: OrderStatus | None = None
    items: tuple[OrderItem, ...] | None = None
    total: Decimal | None = None
    shippingAddress: Address | None = None

    def given(self) -> dict[str, Any]:
        """The changed fields and their new values, as stored: items as plain maps, amounts as
        Decimal."""
        return {name: value for name, value in self.to_record().items() if value is not None}

    def to_record(self) -> dict[str, Any]:
        return {
            "status": None if self.status is None else self.status.value,
            "items": None if self.items is None else [item.to_record() for item in self.items],
            "total": self.total,
            "shippingAddress": self.shippingAddress,
        }


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    orderId: str
    updates: OrderChanges
    type: Literal["order_updated"] = "order_updated"

    def to_record(self) -> dict[str, Any]:
        return {"type": self.type, "orderId": self.orderId, "updates": self.updates.to_record()}


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    orderId: str
    reason: str | None = None
    type: Literal["order_cancelled"] = "order_cancelled"

    def to_record(self) -> dict[str, Any]:
        return {"type": self.type, "orderId": self.orderId, "reason": self.reason}


OrderEvent = OrderCreated | OrderUpdated | OrderCancelled


def fingerprint(event: OrderEvent) -> str:
    """A stable identity of an event's content: the same event delivered twice (as one SQS
    message redelivered, or sent twice by a producer, raw or through SNS) has one fingerprint.
    Numbers are normalised first, so 10.5 and 10.50 are the same amount."""
    canonical = json.dumps(
        event.to_record(), sort_keys=True, separators=(",", ":"), default=_canonical
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredOrder:
    """An order as the orders table holds it, with the fingerprints of the events applied."""

    orderId: str
    customerId: str
    status: OrderStatus
    items: tuple[OrderItem, ...]
    total: Decimal
    createdAt: datetime
    shippingAddress: Address | None = None
    updatedAt: datetime | None = None
    cancelledAt: datetime | None = None
    cancelReason: str | None = None
    applied_events: frozenset[str] = frozenset()

    def to_record(self) -> dict[str, Any]:
        """The order's attributes as plain values (timestamps as ISO 8601 UTC strings), unset
        ones left out; the applied events are the repository's to write."""
        record: dict[str, Any] = {
            "orderId": self.orderId,
            "customerId": self.customerId,
            "status": self.status.value,
            "items": [item.to_record() for item in self.items],
            "total": self.total,
            "shippingAddress": self.shippingAddress,
            "createdAt": iso_utc(self.createdAt),
            "updatedAt": _iso_or_none(self.updatedAt),
            "cancelledAt": _iso_or_none(self.cancelledAt),
            "cancelReason": self.cancelReason,
        }
        return {name: value for name, value in record.items() if value is not None}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StoredOrder:
        """The order from stored plain values (numbers come back as Decimal)."""
        return cls(
            orderId=record["orderId"],
            customerId=record["customerId"],
            status=OrderStatus(record["status"]),
            items=tuple(
                OrderItem(item["productId"], int(item["quantity"])) for item in record["items"]
            ),
            total=record["total"],
            createdAt=datetime.fromisoformat(record["createdAt"]),
            shippingAddress=record.get("shippingAddress"),
            updatedAt=_datetime_or_none(record.get("updatedAt")),
            cancelledAt=_datetime_or_none(record.get("cancelledAt")),
            cancelReason=record.get("cancelReason"),
            applied_events=frozenset(record.get("appliedEvents", ())),
        )


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def _datetime_or_none(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderNotification:
    """Published to the notification topic when an order is created or cancelled."""

    type: Literal["order_created", "order_cancelled"]
    orderId: str
    occurredAt: datetime
    customerId: str | None = None
    total: Decimal | None = None
    reason: str | None = None

    def to_json(self) -> str:
        """The message: unset fields left out, the amount as a JSON number, the time in UTC."""
        message = {
            "type": self.type,
            "orderId": self.orderId,
            "customerId": self.customerId,
            "total": None if self.total is None else json_number(self.total),
            "reason": self.reason,
            "occurredAt": iso_utc(self.occurredAt),
        }
        return json.dumps(
            {name: value for name, value in message.items() if value is not None},
            separators=(",", ":"),
            ensure_ascii=False,
        )


def json_number(value: Decimal) -> int | float:
    """An amount for JSON. It has 15 significant digits at most (MONEY_*), so the float's
    shortest repr is the exact decimal: JSON gets a number, not a string, and no digit changes."""
    return int(value) if value == value.to_integral_value() else float(value)


# --- parsing -------------------------------------------------------------------------------


def parse_order_message(body: str) -> OrderEvent:
    """The order event in a queue message body, raw or wrapped in an SNS notification.

    Every number becomes a Decimal, so no amount passes through a float.
    Raises InvalidOrderMessage, whose text names what is wrong but never echoes the content.
    """
    document = _load_json(body)
    if (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
    ):
        document = _load_json(document["Message"])
    return order_event(document)


def order_event(document: Any) -> OrderEvent:
    """The order event a JSON document (parsed, numbers as Decimal) holds; InvalidOrderMessage
    naming every problem found when it holds none."""
    try:
        return _event(document)
    except _Refused as refused:
        problems = refused.problems[:MAX_PROBLEMS_NAMED]
        if len(refused.problems) > MAX_PROBLEMS_NAMED:
            problems.append(f"and {len(refused.problems) - MAX_PROBLEMS_NAMED} more")
        raise InvalidOrderMessage(f"not a valid order event: {'; '.join(problems)}") from None


def _load_json(text: str) -> Any:
    try:
        return json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constants
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidOrderMessage("body is not JSON") from exc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class _Refused(Exception):
    """What is wrong with a value, and where: one or more "path: problem" lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems


def _refused(where: str, what: str) -> _Refused:
    return _Refused([f"{where or 'message'}: {what}"])


# Each check takes a value and where it is (a dotted path); it returns the value validated or
# raises _Refused.
type Check[V] = Callable[[Any, str], V]
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN.strip("^$"))


def _event(document: Any) -> OrderEvent:
    if not isinstance(document, dict):
        raise _refused("", "should be an object")
    if "type" not in document:
        raise _refused("type", "is required")
    kind = document["type"]
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise _refused("type", f"does not match any of {', '.join(EVENT_TYPES)}")
    fields = _fields(document, "", FIELDS_BY_TYPE[kind])
    del fields["type"]  # the class's own
    return EVENT_TYPES[kind](**fields)


def _fields(
    value: Any, where: str, fields: Mapping[str, tuple[Check[Any], bool]]
) -> dict[str, Any]:
    """An object with these fields (name -> check, and whether it is required), nothing else.
    Every problem in it is reported, not only the first."""
    if not isinstance(value, dict):
        raise _refused(where, "should be an object")
    problems = [
        f"{_at(where, str(name)[:MAX_ADDRESS_LABEL_LENGTH])}: is not allowed"
        for name in value.keys() - fields.keys()
    ]
    checked: dict[str, Any] = {}
    for name, (check, required) in fields.items():
        if name in value:
            try:
                checked[name] = check(value[name], _at(where, name))
            except _Refused as refused:
                problems += refused.problems
        elif required:
            problems.append(f"{_at(where, name)}: is required")
    if problems:
        raise _Refused(problems)
    return checked


def _accept(value: Any, where: str) -> Any:
    return value


def _identifier(value: Any, where: str) -> str:
    if not _is_text(value):
        raise _refused(where, "should be a string")
    if not 1 <= len(value) <= MAX_IDENTIFIER_LENGTH or not _IDENTIFIER.fullmatch(value):
        raise _refused(
            where, f"should be 1 to {MAX_IDENTIFIER_LENGTH} of A-Z a-z 0-9 . _ : @ # / -"
        )
    return str(value)


def _text(value: Any, where: str) -> str:
    if not _is_text(value):
        raise _refused(where, "should be a string")
    if not 1 <= len(value) <= MAX_TEXT_LENGTH:
        raise _refused(where, f"should have 1 to {MAX_TEXT_LENGTH} characters")
    return str(value)


def _is_text(value: Any) -> bool:
    """A string that is valid Unicode (JSON's \\ud800 escapes can make one that is not)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _money(value: Any, where: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise _refused(where, "should be a number")
    if not value.is_finite():
        raise _refused(where, "should be a finite number")
    if value < 0:
        raise _refused(where, "should be greater than or equal to 0")
    _, digits, exponent = value.normalize().as_tuple()
    places, whole = max(0, -int(exponent)), len(digits) + int(exponent)
    if places > MONEY_DECIMAL_PLACES:
        raise _refused(where, f"should have no more than {MONEY_DECIMAL_PLACES} decimal places")
    if whole > MONEY_WHOLE_DIGITS:
        raise _refused(
            where, f"should have no more than {MONEY_WHOLE_DIGITS} digits before the point"
        )
    return value


def _quantity(value: Any, where: str) -> int:
    # A JSON number with an integral value: 2 and 2.0 are 2; strings and booleans are refused.
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _refused(where, "should be an integer")
    if not 0 < value <= MAX_QUANTITY:  # bounded before int(): 1e999999 stays cheap
        raise _refused(where, f"should be from 1 to {MAX_QUANTITY}")
    if value != value.to_integral_value():
        raise _refused(where, "should be an integer")
    return int(value)


def _items(value: Any, where: str, fewest: int = 1) -> tuple[OrderItem, ...]:
    if not isinstance(value, list):
        raise _refused(where, "should be a list")
    if not fewest <= len(value) <= MAX_ITEMS:
        raise _refused(where, f"should have {fewest} to {MAX_ITEMS} items")
    return tuple(_each(value, where, lambda item, at: OrderItem(**_fields(item, at, ITEM_FIELDS))))


def _created_items(value: Any, where: str) -> tuple[OrderItem, ...]:
    # A creation may list no items (as leaving them out does); an update's items replace the
    # order's and list at least one.
    return _items(value, where, fewest=0)


def _address(value: Any, where: str) -> Address:
    if isinstance(value, str):
        return _text(value, where)
    if not isinstance(value, dict):
        raise _refused(where, "should be a string or an object of strings")
    if not 1 <= len(value) <= MAX_ADDRESS_LINES:
        raise _refused(where, f"should have 1 to {MAX_ADDRESS_LINES} lines")
    for index, label in enumerate(value):
        if not _is_text(label) or len(label) > MAX_ADDRESS_LABEL_LENGTH:
            # Named by position: the label is the producer's content.
            raise _refused(
                _at(where, f"#{index}"),
                f"labels should be strings of at most {MAX_ADDRESS_LABEL_LENGTH} characters",
            )
    lines = _each(list(value.values()), where, _text)
    return dict(zip(value, lines, strict=True))


def _each[V](values: list[Any], where: str, check: Check[V]) -> list[V]:
    """`check` on every member (at where.0, where.1...), every problem reported."""
    checked: list[V] = []
    problems: list[str] = []
    for index, member in enumerate(values):
        try:
            checked.append(check(member, _at(where, str(index))))
        except _Refused as refused:
            problems += refused.problems
    if problems:
        raise _Refused(problems)
    return checked


def _status(value: Any, where: str) -> OrderStatus:
    if isinstance(value, str) and value in STATUS_SEQUENCE:
        return OrderStatus(value)
    raise _refused(where, f"should be one of {', '.join(STATUS_SEQUENCE)}")


def _changes(value: Any, where: str) -> OrderChanges:
    given = _fields(value, where, CHANGE_FIELDS)
    if not given:
        raise _refused(where, "updates is empty")
    nulls = sorted(name for name, change in given.items() if change is None)
    if nulls:
        raise _refused(where, f"updates cannot set {', '.join(nulls)} to null")
    return OrderChanges(**given)


def _or_null[U](check: Check[U]) -> Check[U | None]:
    """`check`, with null let through (to be refused or taken by the caller)."""

    def checked(value: Any, where: str) -> U | None:
        return None if value is None else check(value, where)

    return checked


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


ITEM_FIELDS: dict[str, tuple[Check[Any], bool]] = {
    "productId": (_identifier, True),
    "quantity": (_quantity, True),
}
CREATED_FIELDS: dict[str, tuple[Check[Any], bool]] = {
    "type": (_accept, True),
    "orderId": (_identifier, True),
    "customerId": (_identifier, True),
    "items": (_created_items, False),
    "total": (_money, False),
}
CHANGE_FIELDS: dict[str, tuple[Check[Any], bool]] = {
    "status": (_or_null(_status), False),
    "items": (_or_null(_items), False),
    "total": (_or_null(_money), False),
    "shippingAddress": (_or_null(_address), False),
}
UPDATED_FIELDS: dict[str, tuple[Check[Any], bool]] = {
    "type": (_accept, True),
    "orderId": (_identifier, True),
    "updates": (_changes, True),
}
CANCELLED_FIELDS: dict[str, tuple[Check[Any], bool]] = {
    "type": (_accept, True),
    "orderId": (_identifier, True),
    "reason": (_or_null(_text), False),
}
EVENT_TYPES: dict[str, type[OrderEvent]] = {
    "order_created": OrderCreated,
    "order_updated": OrderUpdated,
    "order_cancelled": OrderCancelled,
}
FIELDS_BY_TYPE = {
    "order_created": CREATED_FIELDS,
    "order_updated": UPDATED_FIELDS,
    "order_cancelled": CANCELLED_FIELDS,
}
