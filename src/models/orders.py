"""Orders through the API: `GET /orders/{orderId}` and the order it answers with. The queue's
events, the stored order and the notifications are in src.models.order_events (plain classes:
the queue consumer imports no pydantic)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from src.models.common import Timestamp, omit_none
from src.models.order_events import (
    IDENTIFIER_PATTERN,
    MAX_IDENTIFIER_LENGTH,
    MAX_QUANTITY,
    MONEY_DECIMAL_PLACES,
    MONEY_WHOLE_DIGITS,
    OrderStatus,
    StoredOrder,
    json_number,
)

# The rules the consumer applied to the order's events (src.models.order_events), stated in the
# OpenAPI document.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_IDENTIFIER_LENGTH, pattern=IDENTIFIER_PATTERN),
]
Money = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=MONEY_WHOLE_DIGITS + MONEY_DECIMAL_PLACES,
        decimal_places=MONEY_DECIMAL_PLACES,
    ),
    PlainSerializer(json_number, return_type=int | float, when_used="json"),
]
# One line, or a flat object of lines (street, city...).
ShippingAddress = str | dict[str, str]


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    productId: Identifier
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


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

    @classmethod
    def from_stored(cls, order: StoredOrder) -> Order:
        return cls.model_validate(order.to_record())


class OrderPath(BaseModel):
    """Path of `/orders/{orderId}`."""

    model_config = ConfigDict(defer_build=True)

    orderId: str = Field(
        min_length=1, max_length=MAX_IDENTIFIER_LENGTH, description="The order's id"
    )
