"""The order events as pydantic models: how the consumer validated messages before
src.models.order_events replaced them (pydantic cost the consumer about 70 ms of cold start).
Kept as the reference the replacement is tested against (tests/unit/test_order_messages.py); a
change to the message rules changes both."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

UpdatableStatus = Literal["pending", "confirmed", "shipped", "delivered"]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@#/-]+$")
]
Money = Annotated[
    Decimal, Strict(), Field(ge=0, max_digits=15, decimal_places=4, allow_inf_nan=False)
]
Quantity = Annotated[int, Field(gt=0, le=1_000_000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500)]
ShippingAddress = (
    ShortText
    | Annotated[
        dict[Annotated[str, StringConstraints(max_length=64)], ShortText],
        Field(min_length=1, max_length=20),
    ]
)


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    productId: Identifier
    quantity: Quantity


Items = Annotated[list[OrderItem], Field(min_length=1, max_length=100)]
CreatedItems = Annotated[list[OrderItem], Field(max_length=100)]


class OrderCreated(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["order_created"]
    orderId: Identifier
    customerId: Identifier
    items: CreatedItems = []
    total: Money = Decimal(0)


class OrderChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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


class OrderUpdated(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["order_updated"]
    orderId: Identifier
    updates: OrderChanges


class OrderCancelled(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["order_cancelled"]
    orderId: Identifier
    reason: ShortText | None = None


ORDER_EVENT = TypeAdapter[OrderCreated | OrderUpdated | OrderCancelled](
    Annotated[OrderCreated | OrderUpdated | OrderCancelled, Discriminator("type")]
)


def fingerprint(event: BaseModel) -> str:
    canonical = json.dumps(
        event.model_dump(mode="python"), sort_keys=True, separators=(",", ":"), default=_canonical
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")
