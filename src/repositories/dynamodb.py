"""DynamoDB helpers shared by the repositories."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values (str, Decimal, int, lists, dicts, sets) as DynamoDB attribute values."""
    return {key: _serializer.serialize(value) for key, value in values.items()}


def to_attribute(value: Any) -> Any:
    return _serializer.serialize(value)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain values (numbers as Decimal)."""
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


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
