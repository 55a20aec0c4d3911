"""DynamoDB helpers shared by the repositories.

Attribute values are converted here by boto3's TypeSerializer/TypeDeserializer rules (the same
types, the same number context), without importing the boto3 package, which the handlers do not
load (src.core.aws).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# What a DynamoDB number can hold: 38 significant digits, exponents -130..125. A value that would
# be rounded or clamped raises (decimal.Inexact, Rounded...) rather than being stored changed.
NUMBER_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values (str, Decimal, int, bool, None, bytes, lists, dicts, sets) as DynamoDB
    attribute values."""
    return {key: to_attribute(value) for key, value in values.items()}


def to_attribute(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB attribute value. Floats are refused: use Decimal."""
    if isinstance(value, set | frozenset):
        return _set(value)
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(member) for member in value]}
    if isinstance(value, Mapping):
        return {"M": to_item(value)}
    return _scalar(value)


def _scalar(value: Any) -> dict[str, Any]:
    content: Any = value
    if value is None:
        kind, content = "NULL", True
    elif isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int | Decimal):
        kind, content = "N", _number(value)
    elif isinstance(value, str):
        kind = "S"
    elif isinstance(value, bytes | bytearray):
        kind, content = "B", bytes(value)
    else:
        raise TypeError(f"cannot store {type(value).__name__} in DynamoDB (floats: use Decimal)")
    return {kind: content}


def _number(value: int | Decimal) -> str:
    if isinstance(value, Decimal) and not value.is_finite():
        raise TypeError("Infinity and NaN cannot be stored in DynamoDB")
    return str(NUMBER_CONTEXT.create_decimal(value))


def _set(values: set[Any] | frozenset[Any]) -> dict[str, Any]:
    if all(isinstance(member, int | Decimal) and not isinstance(member, bool) for member in values):
        return {"NS": [_number(member) for member in values]}
    if all(isinstance(member, str) for member in values):
        return {"SS": list(values)}
    if all(isinstance(member, bytes | bytearray) for member in values):
        return {"BS": [bytes(member) for member in values]}
    raise TypeError("a DynamoDB set holds numbers, strings or bytes, one kind only")


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain values (numbers as Decimal, sets as sets)."""
    return {key: from_attribute(value) for key, value in item.items()}


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as a plain value."""
    ((kind, value),) = attribute.items()
    if kind not in _PLAIN:
        raise TypeError(f"unknown DynamoDB attribute type {kind!r}")
    return _PLAIN[kind](value)


_PLAIN: dict[str, Callable[[Any], Any]] = {
    "S": lambda value: value,
    "B": bytes,
    "BOOL": lambda value: value,
    "NULL": lambda _: None,
    "N": NUMBER_CONTEXT.create_decimal,
    "SS": set,
    "BS": set,
    "NS": lambda members: {NUMBER_CONTEXT.create_decimal(member) for member in members},
    "L": lambda members: [from_attribute(member) for member in members],
    "M": from_item,
}


# A transaction that collides with another one in flight is cancelled with TransactionConflict;
# the other one's outcome decides ours, so retry briefly before giving up.
CONFLICT_RETRIES = 4


def transact_write(client: DynamoDBClient, items: list[Any]) -> list[dict[str, Any]] | None:
    """Run a write transaction. None when it committed; when a condition failed, the
    cancellation reasons, one per item (`Code`, and `Item` where the item asked for
    ReturnValuesOnConditionCheckFailure)."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            client.transact_write_items(TransactItems=items)
        except client.exceptions.TransactionCanceledException as exc:
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
            codes = [reason.get("Code") for reason in reasons]
            if "ConditionalCheckFailed" in codes:
                return reasons
            if "TransactionConflict" not in codes or attempt == CONFLICT_RETRIES:
                raise
            time.sleep(0.02 * 2**attempt)
        else:
            return None
    raise AssertionError("unreachable")  # pragma: no cover
