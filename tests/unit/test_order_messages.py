"""Parsing order messages: raw or SNS-wrapped, exact numbers, refusals with a reason, and each
rule of the contract at its edges."""

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
    order_event,
    parse_order_message,
)
from tests.order_documents import VALID

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


def test_a_creation_without_items_or_total_has_none_and_costs_0() -> None:
    # As producers written for the original service send it.
    bare = {"type": "order_created", "orderId": "o-1", "customerId": "c-1"}

    event = parse_order_message(json.dumps(bare))
    listed_empty = parse_order_message(json.dumps({**bare, "items": [], "total": 0}))

    assert event == OrderCreated(
        type="order_created", orderId="o-1", customerId="c-1", items=(), total=Decimal(0)
    )
    assert listed_empty.event_id == event.event_id


def test_sns_wrapped_and_raw_are_the_same_event() -> None:
    raw = parse_order_message(json.dumps(CREATED))
    wrapped = parse_order_message(sns(CREATED))

    assert wrapped == raw
    assert wrapped.event_id == raw.event_id


def test_fingerprint_ignores_number_spelling_but_not_content() -> None:
    a = parse_order_message(json.dumps({**CREATED, "total": 10.5}))
    b = parse_order_message(json.dumps(CREATED).replace("19.99", "10.50"))
    c = parse_order_message(json.dumps({**CREATED, "total": 10.51}))

    assert a.event_id == b.event_id
    assert a.event_id != c.event_id


@pytest.mark.parametrize(
    ("message", "event_id"),
    [
        # Stored orders hold these ids: a change to the canonical form would make every stored
        # order take its redelivered events for new ones.
        (CREATED, "9b3175a3d1474888738ba52ae1b9d730"),
        (
            {"type": "order_created", "orderId": "o-1", "customerId": "c-1"},
            "6cf532fcb6451b3dfc6dbfa56e24ca7f",
        ),
        (
            {
                "type": "order_updated",
                "orderId": "o-1",
                "updates": {
                    "status": "shipped",
                    "shippingAddress": {"street": "1 Main St", "city": "Springfield"},
                },
            },
            "92bab1285f62fccd229c70aad436b022",
        ),
        (
            {
                "type": "order_updated",
                "orderId": "o-1",
                "updates": {"items": [{"productId": "p-2", "quantity": 1}], "total": 5},
            },
            "36a979c7015afdbc04cadae3ee74dc7d",
        ),
        (
            {"type": "order_cancelled", "orderId": "o-1", "reason": "changed mind"},
            "28022ec8adf2125e50513e6d4fa875b3",
        ),
        ({"type": "order_cancelled", "orderId": "o-1"}, "fb3f5d212f1ce3e86247112bebf49601"),
    ],
)
def test_event_ids_never_change(message: dict[str, Any], event_id: str) -> None:
    assert parse_order_message(json.dumps(message)).event_id == event_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("", "not JSON"),
        ('{"type": "order_created", "total": NaN}', "not JSON"),
        ("[" * 100_000, "not JSON"),
        (json.dumps({"type": "order_shipped", "orderId": "o"}), "type: should be one of"),
        (json.dumps({"orderId": "o"}), "type"),
        (json.dumps([CREATED]), "not a valid order event"),
        (json.dumps({**CREATED, "total": -1}), "total"),
        (json.dumps(CREATED).replace("19.99", "1e400"), "total"),
        (json.dumps(CREATED).replace("19.99", "0.00001"), "total"),
        *[
            (
                json.dumps(CREATED).replace(replaced, number),
                "^not a valid order event: a number with more digits or a larger exponent than "
                "any field takes$",
            )
            for replaced, number in [
                ("19.99", "1e-999999999"),
                ("19.99", "1E+999999999"),
                ("19.99", "0.0001" + "0" * 30 + "1"),
                ('"quantity": 2', '"quantity": 1E+999999999'),
                ('"quantity": 2', '"quantity": 2.' + "0" * 30 + "1"),
            ]
        ],
        (json.dumps({**CREATED, "total": "19.99"}), "total"),
        (
            json.dumps({"type": "order_updated", "orderId": "o-1", "updates": {"items": []}}),
            "items",
        ),
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


def test_the_valid_events_are_accepted() -> None:
    assert [order_event(document).type for document in VALID.values()] == list(VALID)


@pytest.mark.parametrize("quantity", ["2", " 2 ", True])
def test_a_quantity_is_a_number_not_a_string_or_a_boolean(quantity: Any) -> None:
    # The one place the pydantic models were laxer: they took these as 2, 2 and 1.
    with pytest.raises(InvalidOrderMessage, match="quantity"):
        parse_order_message(
            json.dumps({**CREATED, "items": [{"productId": "p", "quantity": quantity}]})
        )


def test_a_refusal_names_ten_problems_at_most() -> None:
    # The reason is logged at every receive; a message may hold thousands of unknown fields.
    body = json.dumps({**CREATED, **{f"field{number}": 1 for number in range(5000)}})

    with pytest.raises(InvalidOrderMessage) as caught:
        parse_order_message(body)

    assert str(caught.value).endswith("; and 4990 more")
    assert str(caught.value).count("is not allowed") == 10
