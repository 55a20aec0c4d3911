"""Parsing order messages: raw or SNS-wrapped, exact numbers, refusals with a reason, and the
same answers as the pydantic models the parsing replaced (tests/order_reference.py)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from src.core.errors import InvalidOrderMessage
from src.models.order_events import (
    OrderCancelled,
    OrderCreated,
    OrderUpdated,
    fingerprint,
    order_event,
    parse_order_message,
)
from tests import order_reference as reference

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

    assert event == OrderCreated(orderId="o-1", customerId="c-1", items=(), total=Decimal(0))
    assert fingerprint(listed_empty) == fingerprint(event)


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


# --- the rules the pydantic models had -------------------------------------------------------
# A valid event with one value changed: to each of the edge values listed for that place, then to
# values hypothesis draws. The answer turns on that one value, so a rule that differs shows.
ILLEGAL = "a\ud800"  # a JSON string that is not valid Unicode
NOT_TEXT = [None, True, Decimal(1), [], {}]
VALID_ITEM = {"productId": "p-1", "quantity": Decimal(2)}
IDENTIFIERS = ["", "x" * 128, "x" * 129, "o 1", "o\n", "ö", ILLEGAL, *NOT_TEXT]
TEXTS = ["", "x" * 500, "x" * 501, ILLEGAL, *NOT_TEXT]
AMOUNTS = [
    *map(Decimal, ["0", "-0", "0E-9", "0.0001", "0.00001", "1.10000", "-0.01", "19.99"]),
    *map(Decimal, ["1E+10", "1E+11", "99999999999.9999", "100000000000", "1E+400", "1E-400"]),
    *map(Decimal, ["NaN", "Infinity"]),  # not from JSON, but order_event takes any document
    "19.99",
    *NOT_TEXT,
]
# "2" and true are left out: the models took them (as 2 and 1), the consumer does not.
QUANTITIES = [
    *map(Decimal, ["0", "-0", "1", "-1", "1.5", "2.0", "1E+6", "1000000", "1000001", "1E+400"]),
    *map(Decimal, ["NaN", "Infinity"]),
    None,
    [],
]
ITEMS = [
    [],
    [VALID_ITEM] * 100,
    [VALID_ITEM] * 101,
    [VALID_ITEM, {**VALID_ITEM, "price": 1}],
    [{"productId": "p"}],
    VALID_ITEM,
    "p",
    None,
]
ADDRESSES = [
    *TEXTS,
    {},
    {"": "x"},
    {"k" * 64: "x"},
    {"k" * 65: "x"},
    {ILLEGAL: "x"},
    {"a": ""},
    {"a": ILLEGAL},
    {"a": 1},
    {f"line{n}": "x" for n in range(20)},
    {f"line{n}": "x" for n in range(21)},
]
STATUSES = ["pending", "confirmed", "shipped", "delivered", "cancelled", "Shipped", None, 1]
UPDATES = [{}, None, [], "status", {"status": None}, {"total": None, "items": None}, {"x": 1}]
VALID = {
    "order_created": {
        "type": "order_created",
        "orderId": "o-1",
        "customerId": "c-1",
        "items": [VALID_ITEM],
        "total": Decimal("19.99"),
    },
    "order_updated": {
        "type": "order_updated",
        "orderId": "o-1",
        "updates": {
            "status": "shipped",
            "items": [VALID_ITEM],
            "total": Decimal("19.99"),
            "shippingAddress": "1 Main St",
        },
    },
    "order_cancelled": {"type": "order_cancelled", "orderId": "o-1", "reason": "no longer needed"},
}
# Each place: the event, the path to the value, its edge values, and values drawn at random.
DECIMALS = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.sampled_from([0, 0, 0, 1]),
    st.lists(st.integers(0, 9), min_size=1, max_size=17),
    st.integers(-7, 13),
)
RANDOM_ITEMS = st.lists(
    st.fixed_dictionaries(
        {"productId": st.text(max_size=4), "quantity": DECIMALS},
        optional={"x": st.none()},
    ),
    max_size=3,
)
RANDOM_ADDRESSES = st.text(max_size=5) | st.dictionaries(
    st.text(max_size=4), st.text(max_size=4) | st.integers(), max_size=4
)
PLACES: list[tuple[str, tuple[str | int, ...], list[Any], st.SearchStrategy[Any]]] = [
    *[(kind, ("type",), ["order_shipped", "", 1, None], st.text()) for kind in VALID],
    *[(kind, ("orderId",), IDENTIFIERS, st.text(max_size=130)) for kind in VALID],
    ("order_created", ("customerId",), IDENTIFIERS, st.text(max_size=130)),
    ("order_created", ("items",), ITEMS, RANDOM_ITEMS),
    ("order_created", ("items", 0, "productId"), IDENTIFIERS, st.text(max_size=130)),
    ("order_created", ("items", 0, "quantity"), QUANTITIES, DECIMALS),
    ("order_created", ("total",), AMOUNTS, DECIMALS),
    ("order_updated", ("updates",), UPDATES, st.dictionaries(st.text(max_size=8), st.none())),
    ("order_updated", ("updates", "status"), STATUSES, st.text(max_size=10)),
    ("order_updated", ("updates", "items"), ITEMS, RANDOM_ITEMS),
    ("order_updated", ("updates", "total"), AMOUNTS, DECIMALS),
    ("order_updated", ("updates", "shippingAddress"), ADDRESSES, RANDOM_ADDRESSES),
    ("order_cancelled", ("reason",), TEXTS, st.text(max_size=8)),
]


# Two more changes at every place: the value left out, and an unknown field beside it.
LEFT_OUT, UNKNOWN_BESIDE = object(), object()


def with_value(kind: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(VALID[kind])
    *parents, last = path
    target: Any = document
    for step in parents:
        target = target[step]
    if value is LEFT_OUT:
        del target[last]
    elif value is UNKNOWN_BESIDE:
        target["extra"] = 1
    else:
        target[last] = value
    return document


def assert_same_answers(document: Any) -> None:
    """Accepted by both with the same event and fingerprint, or refused by both."""
    try:
        expected = reference.ORDER_EVENT.validate_python(document)
    except ValidationError:
        expected = None

    try:
        event = order_event(document)
    except InvalidOrderMessage:
        assert expected is None, "refused what the models accepted"
        return

    assert expected is not None, "accepted what the models refused"
    assert event.to_record() == expected.model_dump(mode="python")
    assert fingerprint(event) == reference.fingerprint(expected)
    if isinstance(event, OrderUpdated):
        assert isinstance(expected, reference.OrderUpdated)
        assert event.updates.given() == expected.updates.model_dump(exclude_unset=True)


EDGES = [
    (kind, path, value)
    for kind, path, values, _ in PLACES
    for value in [*values, LEFT_OUT, UNKNOWN_BESIDE]
]


@pytest.mark.parametrize(("kind", "path", "value"), EDGES, ids=range(len(EDGES)))
def test_edge_values_get_the_answers_of_the_pydantic_models(
    kind: str, path: tuple[str | int, ...], value: Any
) -> None:
    assert_same_answers(with_value(kind, path, value))


@pytest.mark.parametrize(
    ("kind", "path", "values"),
    [(kind, path, values) for kind, path, _, values in PLACES],
    ids=[f"{kind}:{'.'.join(map(str, path))}" for kind, path, _, _ in PLACES],
)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_drawn_values_get_the_answers_of_the_pydantic_models(
    kind: str, path: tuple[str | int, ...], values: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    assert_same_answers(with_value(kind, path, data.draw(values)))


def test_the_valid_events_are_accepted() -> None:
    for document in VALID.values():
        assert_same_answers(document)
        order_event(document)


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
