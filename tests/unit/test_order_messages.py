"""Parsing order messages: raw or SNS-wrapped, exact numbers, and refusals with a reason."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from src.core.errors import InvalidOrderMessage
from src.models.orders import (
    OrderCancelled,
    OrderCreated,
    OrderUpdated,
    fingerprint,
    parse_order_message,
)

CREATED = {
    "type": "order_created",
    "orderId": "o-1",
    "customerId": "c-1",
    "items": [{"productId": "p-1", "quantity": 2}],
    "total": 19.99,
}


def sns(message: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:producer",
            "Message": json.dumps(message),
        }
    )


def test_each_type_parses_into_its_model() -> None:
    assert isinstance(parse_order_message(json.dumps(CREATED)), OrderCreated)
    updated = parse_order_message(
        json.dumps({"type": "order_updated", "orderId": "o-1", "updates": {"status": "shipped"}})
    )
    assert isinstance(updated, OrderUpdated)
    assert updated.updates.given() == {"status": "shipped"}
    cancelled = parse_order_message(json.dumps({"type": "order_cancelled", "orderId": "o-1"}))
    assert isinstance(cancelled, OrderCancelled)
    assert cancelled.reason is None


def test_amounts_are_exact_decimals() -> None:
    event = parse_order_message(
        '{"type":"order_created","orderId":"o","customerId":"c",'
        '"items":[{"productId":"p","quantity":3}],"total":0.1}'
    )

    assert isinstance(event, OrderCreated)
    assert event.total == Decimal("0.1")
    assert isinstance(event.total, Decimal)


def test_sns_wrapped_and_raw_are_the_same_event() -> None:
    raw = parse_order_message(json.dumps(CREATED))
    wrapped = parse_order_message(sns(CREATED))

    assert wrapped == raw
    assert fingerprint(wrapped) == fingerprint(raw)


def test_fingerprint_ignores_number_spelling_but_not_content() -> None:
    a = parse_order_message(json.dumps({**CREATED, "total": 10.5}))
    b = parse_order_message(json.dumps(CREATED).replace("19.99", "10.50"))
    c = parse_order_message(json.dumps({**CREATED, "total": 10.51}))

    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("", "not JSON"),
        ('{"type": "order_created", "total": NaN}', "not JSON"),
        ("[" * 100_000, "not JSON"),
        (json.dumps({"type": "order_shipped", "orderId": "o"}), "does not match"),
        (json.dumps({"orderId": "o"}), "type"),
        (json.dumps([CREATED]), "not a valid order event"),
        (json.dumps({**CREATED, "total": -1}), "total"),
        (json.dumps(CREATED).replace("19.99", "1e400"), "total"),
        (json.dumps(CREATED).replace("19.99", "0.00001"), "total"),
        (json.dumps({**CREATED, "total": "19.99"}), "total"),
        (json.dumps({**CREATED, "items": []}), "items"),
        (json.dumps({**CREATED, "items": [{"productId": "p", "quantity": 0}]}), "quantity"),
        (json.dumps({**CREATED, "items": [{"productId": "p", "quantity": 1.5}]}), "quantity"),
        (json.dumps({**CREATED, "status": "shipped"}), "status"),
        (json.dumps({"type": "order_updated", "orderId": "o", "updates": {}}), "empty"),
        (
            json.dumps({"type": "order_updated", "orderId": "o", "updates": {"customerId": "x"}}),
            "customerId",
        ),
        (
            json.dumps(
                {"type": "order_updated", "orderId": "o", "updates": {"status": "cancelled"}}
            ),
            "status",
        ),
        (
            json.dumps({"type": "order_updated", "orderId": "o", "updates": {"total": None}}),
            "null",
        ),
        (sns({"type": "order_cancelled"}), "orderId"),
    ],
)
def test_invalid_messages_are_refused_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(InvalidOrderMessage, match=reason):
        parse_order_message(body)


def test_the_reason_does_not_echo_the_content() -> None:
    secret = "221B Baker Street"
    body = json.dumps(
        {"type": "order_updated", "orderId": "o", "updates": {"shippingAddress": secret, "x": 1}}
    )

    with pytest.raises(InvalidOrderMessage) as caught:
        parse_order_message(body)

    assert secret not in str(caught.value)
