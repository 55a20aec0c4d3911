"""Orders: the events producers put on the order queue, the order as stored (and as
`GET /orders/{orderId}` returns it), and the notifications about it.

These models are the one definition of the queue contract: docs/schemas/order-event.schema.json
and docs/schemas/order-notification.schema.json are generated from them (`make schemas`).

Messages come from producers we do not control, so every object refuses unknown fields and bounds
its sizes, and a refusal names where the problem is but never echoes a value. Money and
quantities are exact: message bodies are parsed with Decimal for every number, never float.
Strings must be valid Unicode (a lone surrogate escape such as \\ud800 is refused).
"""

from __future__ import annotations

import functools
import hashlib
import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

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


def _integral(value: Any) -> Any:
    """A JSON number with an integral value (2 and 2.0) as an int; anything else unchanged, for
    the strict int check to refuse (strings and booleans are not quantities)."""
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and abs(value) < 10**18  # bounded before int(): 1e999999 stays cheap
        and value == value.to_integral_value()
    ):
        return int(value)
    return value


def json_number(value: Decimal) -> int | float:
    """An amount for JSON. It has 15 significant digits at most (MONEY_*), so the float's
    shortest repr is the exact decimal: JSON gets a number, not a string, and no digit changes."""
    return int(value) if value == value.to_integral_value() else float(value)


# A producer's event id: printable ASCII without spaces.
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
# Versions stay exact in a JSON number read as a double (2^53 - 1).
MAX_VERSION = 2**53 - 1
Version = Annotated[int, Strict(), Field(ge=1, le=MAX_VERSION), BeforeValidator(_integral)]
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_IDENTIFIER_LENGTH, pattern=IDENTIFIER_PATTERN),
]
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH),
]
Quantity = Annotated[int, Strict(), Field(gt=0, le=MAX_QUANTITY), BeforeValidator(_integral)]
MONEY_LIMIT = 10**MONEY_WHOLE_DIGITS
Money = Annotated[
    Decimal,
    Strict(),
    Field(ge=0, lt=MONEY_LIMIT, decimal_places=MONEY_DECIMAL_PLACES, allow_inf_nan=False),
    PlainSerializer(json_number, return_type=int | float, when_used="json"),
    # A JSON number, as the messages carry it (pydantic would also describe a numeric string).
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": MONEY_LIMIT,
            "multipleOf": 10**-MONEY_DECIMAL_PLACES,
        }
    ),
]
# One line, or a flat object of lines (street, city...).
AddressLines = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=MAX_ADDRESS_LABEL_LENGTH)],
        Text,
    ],
    Field(min_length=1, max_length=MAX_ADDRESS_LINES),
]
ShippingAddress = Annotated[
    Annotated[Text, Tag("line")] | Annotated[AddressLines, Tag("lines")],
    Discriminator(lambda value: "line" if isinstance(value, str) else "lines"),
]
UpdatableStatus = Literal["pending", "confirmed", "shipped", "delivered"]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    productId: Identifier
    quantity: Quantity


class _Message(BaseModel):
    """A queue message's object: unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Event(_Message):
    eventId: EventId | None = Field(
        default=None,
        description=(
            "The producer's unique id of this event. When given it is the event's identity: a"
            " second delivery with the same eventId and content is a duplicate, the same eventId"
            " with other content is rejected. Without it, events are told apart by content."
        ),
    )
    version: Version | None = Field(
        default=None,
        description=(
            "The order's version this event makes, from 1, increasing with each event the"
            " producer makes for the order. An event whose version is not above the last one"
            " applied to its order is stale: acknowledged and set aside, never applied."
        ),
    )

    @functools.cached_property
    def fingerprint(self) -> str:
        """A stable digest of the event's content: the same event delivered twice (as one SQS
        message redelivered, or sent twice by a producer, raw or through SNS) has one.
        Numbers are normalised first, so 10.5 and 10.50 are the same amount; eventId and
        version count only when given. Stored orders hold these digests, so the canonical form
        never changes."""
        unset = {name for name in ("eventId", "version") if getattr(self, name) is None}
        canonical = json.dumps(
            self.model_dump(mode="python", exclude=unset),
            sort_keys=True,
            separators=(",", ":"),
            default=_canonical,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    @functools.cached_property
    def event_id(self) -> str:
        """The event's identity on its order: its eventId's digest when it has one, else its
        content's fingerprint."""
        if self.eventId is None:
            return self.fingerprint
        return "e" + hashlib.sha256(self.eventId.encode()).hexdigest()[:32]

    @property
    def applied_marks(self) -> list[str]:
        """What the order records of this event once applied: its identity, and for an event
        with an eventId the identity with its content, which tells a repeat from a reuse."""
        if self.eventId is None:
            return [self.event_id]
        return [self.event_id, self.content_mark]

    @property
    def content_mark(self) -> str:
        return f"{self.event_id}.{self.fingerprint}"


def _canonical(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


class OrderCreated(_Event):
    """A new order. Producers written for the original service send neither items nor total:
    an order without them has no items and a total of 0."""

    type: Literal["order_created"]
    orderId: Identifier
    customerId: Identifier
    items: Annotated[tuple[OrderItem, ...], Field(max_length=MAX_ITEMS)] = ()
    total: Money = Field(default=Decimal(0), json_schema_extra={"default": 0})


def _changes_schema(schema: dict[str, Any]) -> None:
    # What _changes_something enforces: at least one field, none of them null.
    schema["minProperties"] = 1
    for field in schema["properties"].values():
        field.pop("default", None)
        field["anyOf"] = [option for option in field["anyOf"] if option != {"type": "null"}]
        if len(field["anyOf"]) == 1:
            field.update(field.pop("anyOf")[0])


class OrderChanges(_Message):
    """The fields an update changes: at least one, none of them null (a field left out keeps its
    value). Items given replace the order's, so they list at least one."""

    model_config = ConfigDict(json_schema_extra=_changes_schema)

    status: UpdatableStatus | None = None
    items: Annotated[tuple[OrderItem, ...], Field(min_length=1, max_length=MAX_ITEMS)] | None = None
    total: Money | None = None
    shippingAddress: ShippingAddress | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> OrderChanges:
        if not self.model_fields_set:
            raise ValueError("updates is empty")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"updates cannot set {', '.join(nulls)} to null")
        return self

    def given(self) -> dict[str, Any]:
        """The changed fields and their new values, as stored: items as plain maps, amounts as
        Decimal."""
        return self.model_dump(mode="python", exclude_none=True)


class OrderUpdated(_Event):
    type: Literal["order_updated"]
    orderId: Identifier
    updates: OrderChanges


class OrderCancelled(_Event):
    type: Literal["order_cancelled"]
    orderId: Identifier
    reason: Text | None = None


# One message on the order queue: which event it is, its `type` says.
OrderEvent = OrderCreated | OrderUpdated | OrderCancelled
ORDER_EVENT: TypeAdapter[OrderEvent] = TypeAdapter(
    Annotated[
        OrderEvent,
        Discriminator("type"),
        Field(title="OrderEvent", description="One message on the order queue."),
    ],
    # Built by the first message it validates, as the models are: importing the module (the
    # API does, for `Order`) builds nothing.
    config=ConfigDict(defer_build=True),
)


class Order(BaseModel):
    """An order as the orders table holds it and `GET /orders/{orderId}` returns it. The
    fingerprints of the events applied to it are stored with it, never shown."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    orderId: Identifier
    customerId: Identifier
    status: OrderStatus
    items: tuple[OrderItem, ...]
    total: Money
    shippingAddress: ShippingAddress | None = Field(default=None, exclude_if=omit_none)
    createdAt: Timestamp
    updatedAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
    cancelledAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
    cancelReason: Text | None = Field(default=None, exclude_if=omit_none)
    version: int | None = Field(
        default=None,
        exclude_if=omit_none,
        description="The version of the last event applied that had one",
    )
    appliedEvents: frozenset[str] = Field(default=frozenset(), exclude=True)

    def to_record(self) -> dict[str, Any]:
        """The order's attributes as plain values (timestamps as ISO 8601 UTC strings, amounts
        as Decimal), unset ones left out; the applied events are the repository's to write."""
        return self.model_dump(mode="python")


def _left_out_not_null(schema: dict[str, Any]) -> None:
    # The optional fields of a notification are left out when unset, never null.
    for field in schema["properties"].values():
        if field.get("default", ...) is None:
            del field["default"]


class OrderNotification(BaseModel):
    """Published to the notification topic when an order is created or cancelled: creations
    carry customerId and total, cancellations their reason when they gave one."""

    model_config = ConfigDict(frozen=True, defer_build=True, json_schema_extra=_left_out_not_null)

    type: Literal["order_created", "order_cancelled"]
    orderId: Identifier
    customerId: Identifier | SkipJsonSchema[None] = Field(default=None, exclude_if=omit_none)
    total: Money | SkipJsonSchema[None] = Field(default=None, exclude_if=omit_none)
    reason: Text | SkipJsonSchema[None] = Field(default=None, exclude_if=omit_none)
    occurredAt: Timestamp

    def to_json(self) -> str:
        """The message: unset fields left out, the amount as a JSON number, the time in UTC."""
        return self.model_dump_json()


class OrderPath(BaseModel):
    """Path of `/orders/{orderId}`."""

    model_config = ConfigDict(defer_build=True)

    orderId: Identifier = Field(description="The order's id")


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
        return ORDER_EVENT.validate_python(document)
    except ValidationError as invalid:
        problems = [_problem(error) for error in invalid.errors(include_url=False)]
        named = problems[:MAX_PROBLEMS_NAMED]
        if len(problems) > MAX_PROBLEMS_NAMED:
            named.append(f"and {len(problems) - MAX_PROBLEMS_NAMED} more")
        raise InvalidOrderMessage(f"not a valid order event: {'; '.join(named)}") from None


class _NumberOutOfRange(ValueError):
    pass


# Past these a number is refused while the body is read: decimal arithmetic on it would round
# (more digits than the decimal context's 28) or overflow and underflow (exponents near the
# context's 999,999). No field takes such a number (money: 15 digits, exponents -4 to 10;
# quantities: 7 digits); within them, each field's own rule names the field.
MAX_NUMBER_DIGITS = 28
MAX_NUMBER_EXPONENT = 99_999


def _number(text: str) -> Decimal:
    """A JSON number as an exact Decimal without trailing zeros after the point (1.50 as 1.5,
    0E-9 as 0, 4.0E+1 as 40)."""
    sign, digits, exponent = Decimal(text).as_tuple()
    if not isinstance(exponent, int):  # NaN or an infinity: not JSON numbers
        raise _NumberOutOfRange(text[:20])
    kept = list(digits)
    while len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if kept == [0]:
        return Decimal(0)
    adjusted = exponent + len(kept) - 1
    if len(kept) > MAX_NUMBER_DIGITS or abs(adjusted) > MAX_NUMBER_EXPONENT:
        raise _NumberOutOfRange(text[:20])
    if exponent > 0 and adjusted < MAX_NUMBER_DIGITS:
        # A whole number is written out: 40, not 4E+1.
        kept, exponent = kept + [0] * exponent, 0
    return Decimal((sign, tuple(kept), exponent))


def _load_json(text: str) -> Any:
    try:
        return json.loads(
            text, parse_float=_number, parse_int=_number, parse_constant=_no_constants
        )
    except _NumberOutOfRange as exc:
        raise InvalidOrderMessage(
            "not a valid order event: a number with more digits or a larger exponent than any "
            "field takes"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidOrderMessage("body is not JSON") from exc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# The names a refusal may show: the contract's own. Anything else in an error's location is
# the producer's content (an address label, an unknown field) or pydantic's (a union member).
_FIELD_NAMES = frozenset(
    name
    for model in (OrderItem, OrderCreated, OrderChanges, OrderUpdated, OrderCancelled)
    for name in model.model_fields
)
_EVENT_TYPES = ", ".join(("order_created", "order_updated", "order_cancelled"))


def _problem(error: Any) -> str:
    """One "where: what" line of a refusal, echoing no content: an unknown field is named
    (shortened), an address label by nothing more than its address."""
    kind, location = error["type"], error["loc"]
    parts = [str(part) for part in location if isinstance(part, int) or part in _FIELD_NAMES]
    if kind == "extra_forbidden":
        parts.append(str(location[-1])[:MAX_ADDRESS_LABEL_LENGTH])
        what = "is not allowed"
    elif kind == "union_tag_invalid":
        parts.append("type")
        what = f"should be one of {_EVENT_TYPES}"
    elif kind == "union_tag_not_found":
        parts.append("type")
        what = "is required"
    elif kind == "missing":
        what = "is required"
    else:
        what = error["msg"].removeprefix("Value error, ")
    return f"{'.'.join(parts) or 'message'}: {what}"
