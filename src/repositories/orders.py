"""Orders in DynamoDB (partition key `orderId`).

Each event is applied by one conditional write, whose condition is the event's rules
(src/models/order_rules.py). The write also adds the event's identity (and, for an event with an
eventId, its content) to the order's `appliedEvents` set, and sets the order's `version` to the
event's when it has one. When the condition fails, DynamoDB returns the order as it was
(ReturnValuesOnConditionCheckFailure), from which the service reads why without another read.
Attribute names in expressions come from ORDER_FIELDS, never from a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from src.core.clock import iso_utc
from src.core.errors import OrderNotFound
from src.models.order_rules import Placeholders, write_condition
from src.models.orders import (
    Order,
    OrderCancelled,
    OrderCreated,
    OrderEvent,
    OrderStatus,
    OrderUpdated,
)
from src.repositories.dynamodb import from_item, to_attribute, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The only attributes an update may write: field name -> expression attribute name.
ORDER_FIELDS = {
    "status": "#status",
    "items": "#items",
    "total": "#total",
    "shippingAddress": "#shippingAddress",
}


@dataclass(frozen=True, slots=True)
class Written:
    """The event's conditional write went through."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The event's conditional write did not happen; the order as it was (None: no order)."""

    current: Order | None


type WriteOutcome = Written | Refused


def _from_item(item: dict[str, Any]) -> Order:
    return Order.model_validate(from_item(item))


class OrderRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, order_id: str) -> Order:
        response = self._client.get_item(
            TableName=self._table, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        )
        if "Item" not in response:
            raise OrderNotFound(order_id)
        return _from_item(response["Item"])

    def apply(self, event: OrderEvent, now: datetime) -> WriteOutcome:
        """Apply the event to its order in one conditional write, whose condition is the
        event's rules (src/models/order_rules.py), and which also records the event's
        fingerprint on the order."""
        placeholders = Placeholders({}, {})
        condition = write_condition(event, placeholders)
        if isinstance(event, OrderCreated):
            return self._conditional(
                "put_item",
                Item=_new_order(event, now),
                ConditionExpression=condition,
                **_expression_attributes(placeholders),
            )
        placeholders.values[":now"] = {"S": iso_utc(now)}
        placeholders.values[":events"] = {"SS": event.applied_marks}
        assignments = _assignments(event, placeholders)
        return self._conditional(
            "update_item",
            Key={"orderId": {"S": event.orderId}},
            UpdateExpression=f"SET {', '.join(assignments)} ADD appliedEvents :events",
            ConditionExpression=condition,
            **_expression_attributes(placeholders),
        )

    def _conditional(self, operation: str, **request: Any) -> WriteOutcome:
        """Run a conditional write; Refused with the old order when its condition failed."""
        try:
            getattr(self._client, operation)(
                TableName=self._table, ReturnValuesOnConditionCheckFailure="ALL_OLD", **request
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            return Refused(_from_item(old) if old else None)
        return Written()


def _new_order(event: OrderCreated, now: datetime) -> dict[str, Any]:
    order = Order(
        orderId=event.orderId,
        customerId=event.customerId,
        status=OrderStatus.PENDING,
        items=event.items,
        total=event.total,
        createdAt=now,
    )
    item = to_item(order.to_record())
    item["appliedEvents"] = {"SS": event.applied_marks}
    if event.version is not None:
        item["version"] = {"N": str(event.version)}
    return item


def _assignments(event: OrderUpdated | OrderCancelled, placeholders: Placeholders) -> list[str]:
    """What an update or a cancellation sets on the order."""
    names, values = placeholders.names, placeholders.values
    assignments = []
    if isinstance(event, OrderUpdated):
        assignments.append("updatedAt = :now")
        for field, value in event.updates.given().items():
            name = ORDER_FIELDS[field]
            names[name] = field
            values[f":{field}"] = to_attribute(value)
            assignments.append(f"{name} = :{field}")
    else:
        names["#status"] = "status"
        values[":cancelled"] = {"S": OrderStatus.CANCELLED.value}
        assignments += ["#status = :cancelled", "cancelledAt = :now"]
        if event.reason is not None:
            values[":reason"] = {"S": event.reason}
            assignments.append("cancelReason = :reason")
    if event.version is not None:
        names["#version"] = "version"
        values[":version"] = {"N": str(event.version)}
        assignments.append("#version = :version")
    return assignments


def _expression_attributes(placeholders: Placeholders) -> dict[str, Any]:
    """The request's expression attribute names and values (DynamoDB refuses empty ones)."""
    attributes: dict[str, Any] = {}
    if placeholders.names:
        attributes["ExpressionAttributeNames"] = placeholders.names
    if placeholders.values:
        attributes["ExpressionAttributeValues"] = placeholders.values
    return attributes
