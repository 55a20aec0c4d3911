"""src.repositories.dynamodb converts attribute values as boto3's TypeSerializer and
TypeDeserializer do (the handlers no longer import boto3 for them): same values, same errors."""

from __future__ import annotations

from decimal import Decimal, Inexact, Rounded
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from src.repositories.dynamodb import from_attribute, from_item, to_attribute, to_item

numbers = st.integers(min_value=-(10**37), max_value=10**37) | st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=20) | st.binary(max_size=20)
sets = (
    st.frozensets(st.text(max_size=8), min_size=1, max_size=5)
    | st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=5)
    | st.frozensets(st.binary(max_size=8), min_size=1, max_size=5)
).map(set)
values = st.recursive(
    scalars | sets,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(values)
def test_a_value_is_stored_as_boto3_stores_it(value: Any) -> None:
    assert to_attribute(value) == TypeSerializer().serialize(value)


@given(values)
def test_a_stored_value_reads_back_as_boto3_reads_it(value: Any) -> None:
    stored = TypeSerializer().serialize(value)

    assert from_attribute(stored) == TypeDeserializer().deserialize(stored)
    assert from_attribute(stored) == value


def test_an_item_round_trips_with_exact_numbers() -> None:
    item = {"total": Decimal("10.50"), "count": 3, "tags": {"a", "b"}, "note": None, "ok": True}

    stored = to_item(item)

    assert stored["total"] == {"N": "10.50"}
    assert from_item(stored) == {**item, "count": Decimal(3)}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1.5, TypeError),  # a float is never stored: it would not be exact
        (Decimal("NaN"), TypeError),
        (Decimal("Infinity"), TypeError),
        (Decimal("1." + "1" * 40), Inexact),  # more digits than DynamoDB keeps
        (Decimal("1" + "0" * 40), Rounded),
        ({1, "a"}, TypeError),  # a set holds one kind
        (object(), TypeError),
    ],
)
def test_what_dynamodb_cannot_hold_exactly_is_refused_as_boto3_refuses_it(
    value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        TypeSerializer().serialize(value)
    with pytest.raises(error):
        to_attribute(value)


def test_an_unknown_attribute_type_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown DynamoDB attribute type"):
        from_attribute({"X": "1"})
