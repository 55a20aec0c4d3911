"""Orders: queue messages, the stored order, and notifications.

Messages come from producers we do not control, so every model rejects unknown fields and bounds
its sizes. Money and quantities are exact: message bodies are parsed with Decimal for every
non-integer number, never float.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from src.core.errors import InvalidOrderMessage
from src.models.common import Timestamp, omit_none


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
UpdatableStatus = Literal["pending", "confirmed", "shipped", "delivered"]


def _json_number(value: Decimal) -> int | float:
    # 15 significant digits at most (see Money), so the float's shortest repr is the exact
    # decimal: JSON gets a number, not a string, and no digit changes.
    return int(value) if value == value.to_integral_value() else float(value)


Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@#/-]+$")
]
# Non-negative, at most 15 significant digits and 4 decimal places: exact in DynamoDB (38
# digits) and in a JSON number. NaN and infinities are refused.
Money = Annotated[
    Decimal,
    Strict(),  # a JSON number (parsed as Decimal), not a string
    Field(ge=0, max_digits=15, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(_json_number, return_type=int | float, when_used="json"),
]
Quantity = Annotated[int, Field(gt=0, le=1_000_000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500)]
# Producers send an address as one line or as a flat object of lines (street, city...).
ShippingAddress = (
    ShortText
    | Annotated[
        dict[Annotated[str, StringConstraints(max_length=64)], ShortText],
        Field(min_length=1, max_length=20),
    ]
)


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    productId: Identifier
    quantity: Quantity


Items = Annotated[list[OrderItem], Field(min_length=1, max_length=100)]


class OrderCreated(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: Literal["order_created"]
    orderId: Identifier
    customerId: Identifier
    items: Items
    total: Money


class OrderChanges(BaseModel):
    """The fields an update may change; anything else is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    status: UpdatableStatus | None = None
    items: Items | None = None
    total: Money | None = None
    shippingAddress: ShippingAddress | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> OrderChanges:
        if not self.model_fields_set:
            raise ValueError("updates is empty")
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"updates cannot set {', '.join(sorted(nulls))} to null")
        return self

    def given(self) -> dict[str, Any]:
        """The changed fields and their new values, as stored: items as plain maps, amounts as
        Decimal."""
        return self.model_dump(mode="python", exclude_unset=True)


class OrderUpdated(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: Literal["order_updated"]
    orderId: Identifier
    updates: OrderChanges


class OrderCancelled(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: Literal["order_cancelled"]
    orderId: Identifier
    reason: ShortText | None = None


OrderEvent = Annotated[OrderCreated | OrderUpdated | OrderCancelled, Discriminator("type")]
# Built on first use: only the queue consumer validates events.
ORDER_EVENT = TypeAdapter[OrderEvent](OrderEvent, config=ConfigDict(defer_build=True))


def fingerprint(event: OrderCreated | OrderUpdated | OrderCancelled) -> str:
    """A stable identity of an event's content: the same event delivered twice (as one SQS
    message redelivered, or sent twice by a producer, raw or through SNS) has one fingerprint.
    Numbers are normalised first, so 10.5 and 10.50 are the same amount."""
    canonical = json.dumps(
        event.model_dump(mode="python"), sort_keys=True, separators=(",", ":"), default=_canonical
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


class Order(BaseModel):
    """A stored order, as `GET /orders/{orderId}` returns it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    orderId: str
    customerId: str
    status: OrderStatus
    items: list[OrderItem]
    total: Money
    shippingAddress: ShippingAddress | None = Field(default=None, exclude_if=omit_none)
    createdAt: Timestamp
    updatedAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
    cancelledAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
    cancelReason: str | None = Field(default=None, exclude_if=omit_none)


class OrderPath(BaseModel):
    """Path of `/orders/{orderId}`."""

    model_config = ConfigDict(defer_build=True)

    orderId: str = Field(min_length=1, max_length=128, description="The order's id")


class OrderNotification(BaseModel):
    """Published to the notification topic when an order is created or cancelled."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    type: Literal["order_created", "order_cancelled"]
    orderId: str
    customerId: str | None = Field(default=None, exclude_if=omit_none)
    total: Money | None = Field(default=None, exclude_if=omit_none)
    reason: str | None = Field(default=None, exclude_if=omit_none)
    occurredAt: Timestamp


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
    try:
        return ORDER_EVENT.validate_python(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidOrderMessage(f"not a valid order event: {problems}") from exc


def _load_json(text: str) -> Any:
    try:
        return json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constants
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidOrderMessage("body is not JSON") from exc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
