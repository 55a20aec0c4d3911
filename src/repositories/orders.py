"""Orders in DynamoDB (partition key `orderId`).

Each event is applied by one conditional write. The write also adds the event's identity (and,
for an event with an eventId, its content) to the order's `appliedEvents` set, and its condition
refuses an event already applied, so a redelivered event cannot apply twice; an event with a
version applies only above the order's `version`, which it sets. When a condition fails,
DynamoDB returns the order as it was (ReturnValuesOnConditionCheckFailure), which tells the
service why without another read.
Attribute names in expressions come from ORDER_FIELDS, never from a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from src.core.clock import iso_utc
from src.core.errors import OrderNotFound
from src.models.orders import (
    STATUS_SEQUENCE,
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
        """Apply the event to its order in one conditional write, which also records the
        event's fingerprint on the order."""
        match event:
            case OrderCreated():
                return self._create(event, now)
            case OrderUpdated():
                return self._update(event, now)
            case OrderCancelled():
                return self._cancel(event, now)

    def _create(self, event: OrderCreated, now: datetime) -> WriteOutcome:
        """Store the new order; Refused when the order exists."""
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
        return self._conditional(
            "put_item",
            Item=item,
            # Created once: a redelivered creation never overwrites a later state.
            ConditionExpression="attribute_not_exists(orderId)",
        )

    def _update(self, event: OrderUpdated, now: datetime) -> WriteOutcome:
        """Change the given fields; Refused when a condition failed."""
        event_id = event.event_id
        changes = event.updates.given()
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":now": {"S": iso_utc(now)},
            ":event": {"S": event_id},
            ":events": {"SS": event.applied_marks},
            ":cancelled": {"S": OrderStatus.CANCELLED.value},
        }
        assignments = ["updatedAt = :now"]
        for field, value in changes.items():
            name = ORDER_FIELDS[field]
            names[name] = field
            values[f":{field}"] = to_attribute(value)
            assignments.append(f"{name} = :{field}")
        # Exists (never created by an update), not cancelled (never reopened), not applied yet.
        condition = (
            "attribute_exists(orderId) AND #status <> :cancelled"
            " AND NOT contains(appliedEvents, :event)"
        )
        if "status" in changes:
            # Forward only: the current status must not be past the new one.
            reachable_from = STATUS_SEQUENCE[: STATUS_SEQUENCE.index(changes["status"]) + 1]
            placeholders = []
            for index, status in enumerate(reachable_from):
                values[f":from{index}"] = {"S": status.value}
                placeholders.append(f":from{index}")
            condition += f" AND #status IN ({', '.join(placeholders)})"
        condition += _newer_version(event, names, values, assignments)
        return self._conditional(
            "update_item",
            Key={"orderId": {"S": event.orderId}},
            UpdateExpression=f"SET {', '.join(assignments)} ADD appliedEvents :events",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _cancel(self, event: OrderCancelled, now: datetime) -> WriteOutcome:
        """Cancel the order; Refused when a condition failed."""
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":now": {"S": iso_utc(now)},
            ":event": {"S": event.event_id},
            ":events": {"SS": event.applied_marks},
            ":cancelled": {"S": OrderStatus.CANCELLED.value},
        }
        assignments = ["#status = :cancelled", "cancelledAt = :now"]
        if event.reason is not None:
            values[":reason"] = {"S": event.reason}
            assignments.append("cancelReason = :reason")
        # Exists, not cancelled already (cancellation is terminal and happens once), and its
        # eventId not applied already.
        condition = (
            "attribute_exists(orderId) AND #status <> :cancelled"
            " AND NOT contains(appliedEvents, :event)"
        )
        condition += _newer_version(event, names, values, assignments)
        return self._conditional(
            "update_item",
            Key={"orderId": {"S": event.orderId}},
            UpdateExpression=f"SET {', '.join(assignments)} ADD appliedEvents :events",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
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


def _newer_version(
    event: OrderUpdated | OrderCancelled,
    names: dict[str, str],
    values: dict[str, Any],
    assignments: list[str],
) -> str:
    """For an event with a version: the condition that it is above the order's (an order
    without one takes any), and the order's version set to it. Empty for one without."""
    if event.version is None:
        return ""
    names["#version"] = "version"
    values[":version"] = {"N": str(event.version)}
    assignments.append("#version = :version")
    return " AND (attribute_not_exists(#version) OR #version < :version)"
