"""Order event documents for the contract's tests: a valid event of each type, and edge values
for each place in them with the answer the contract gives (accepted or refused).

Documents are parsed JSON with every number a Decimal, as the consumer parses message bodies;
`json_text` writes one back with its numbers exactly as they are.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

ILLEGAL = "a\ud800"  # a JSON string (written "a\\ud800") that is not valid Unicode
NOT_TEXT = [None, True, Decimal(1), [], {}]
VALID_ITEM = {"productId": "p-1", "quantity": Decimal(2)}
VALID: dict[str, dict[str, Any]] = {
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

# Edge values of each kind of place, and whether the contract accepts them.
IDENTIFIERS = [
    ("o", True),
    ("A-z_0.9:@#/", True),
    ("x" * 128, True),
    ("", False),
    ("x" * 129, False),
    ("o 1", False),
    ("o\n", False),
    ("ö", False),
    (ILLEGAL, False),
    *[(value, False) for value in NOT_TEXT],
]
TEXTS = [
    ("x", True),
    ("x" * 500, True),
    ("ö 🎉", True),
    ("", False),
    ("x" * 501, False),
    (ILLEGAL, False),
    *[(value, False) for value in NOT_TEXT if value is not None],
]
AMOUNTS = [
    *[
        (Decimal(value), True)
        for value in [
            "0",
            "-0",
            "0E-9",
            "0E-999999999",
            "0.0001",
            "1.10000",
            "19.99",
            "1E+10",
            "99999999999.9999",
            "1." + "0" * 40,
        ]
    ],
    *[
        (Decimal(value), False)
        for value in [
            "0.00001",
            "-0.01",
            "1E+11",
            "100000000000",
            "1E+400",
            "1E-400",
            "1." + "0" * 40 + "1",
            "0.0001" + "0" * 30 + "1",
        ]
    ],
    ("19.99", False),
    *[(value, False) for value in NOT_TEXT if not isinstance(value, Decimal)],
]
QUANTITIES = [
    *[(Decimal(value), True) for value in ["1", "2.0", "1E+6", "1000000", "1." + "0" * 40]],
    *[(Decimal(value), False) for value in ["0", "-0", "-1", "1.5", "1000001", "1E+400"]],
    ("2", False),
    (" 2 ", False),
    (True, False),
    (None, False),
    ([], False),
]
ITEMS = [
    ([VALID_ITEM] * 100, True),
    ([VALID_ITEM] * 101, False),
    ([VALID_ITEM, {**VALID_ITEM, "price": Decimal(1)}], False),
    ([{"productId": "p"}], False),
    (VALID_ITEM, False),
    ("p", False),
]
ADDRESSES = [
    *TEXTS,
    ({"": "x"}, True),
    ({"k" * 64: "x"}, True),
    ({f"line{n}": "x" for n in range(20)}, True),
    ({}, False),
    ({"k" * 65: "x"}, False),
    ({ILLEGAL: "x"}, False),
    ({"a": ""}, False),
    ({"a": ILLEGAL}, False),
    ({"a": Decimal(1)}, False),
    ({f"line{n}": "x" for n in range(21)}, False),
]
STATUSES = [
    *[(status, True) for status in ["pending", "confirmed", "shipped", "delivered"]],
    *[(status, False) for status in ["cancelled", "Shipped", None, Decimal(1)]],
]
UPDATES = [
    ({"status": "shipped"}, True),
    ({}, False),
    (None, False),
    ([], False),
    ("status", False),
    ({"status": None}, False),
    ({"total": None, "items": None}, False),
    ({"x": Decimal(1)}, False),
]
# The value left out, and an unknown field beside it.
LEFT_OUT, UNKNOWN_BESIDE = "<left out>", "<unknown field beside>"
EVENT_IDS = [
    ("e-1", True),
    ("!~", True),
    ("x" * 128, True),
    (None, True),
    (LEFT_OUT, True),
    ("", False),
    ("x" * 129, False),
    ("a b", False),
    ("é", False),
    ("a\n", False),
    (ILLEGAL, False),
    (Decimal(1), False),
    (True, False),
]
VERSIONS = [
    *[(Decimal(value), True) for value in ["1", "2.0", "1E+3", str(2**53 - 1)]],
    *[(Decimal(value), False) for value in ["0", "-1", "1.5", str(2**53), "1E+400", "1E-400"]],
    (None, True),
    (LEFT_OUT, True),
    ("1", False),
    (True, False),
]

# Each place: the event, the path to the value, its edge values.
PLACES: list[tuple[str, tuple[str | int, ...], list[tuple[Any, bool]]]] = [
    *[
        (kind, ("type",), [("order_shipped", False), ("", False), (Decimal(1), False)])
        for kind in VALID
    ],
    *[(kind, ("orderId",), [*IDENTIFIERS, (LEFT_OUT, False)]) for kind in VALID],
    ("order_created", ("type",), [(LEFT_OUT, False), (UNKNOWN_BESIDE, False)]),
    ("order_created", ("customerId",), [*IDENTIFIERS, (LEFT_OUT, False)]),
    ("order_created", ("items",), [*ITEMS, ([], True), (None, False), (LEFT_OUT, True)]),
    ("order_created", ("items", 0, "productId"), [*IDENTIFIERS, (UNKNOWN_BESIDE, False)]),
    ("order_created", ("items", 0, "quantity"), [*QUANTITIES, (LEFT_OUT, False)]),
    ("order_created", ("total",), [*AMOUNTS, (LEFT_OUT, True)]),
    ("order_updated", ("updates",), [*UPDATES, (LEFT_OUT, False), (UNKNOWN_BESIDE, False)]),
    ("order_updated", ("updates", "status"), [*STATUSES, (LEFT_OUT, True)]),
    ("order_updated", ("updates", "items"), [*ITEMS, ([], False), (None, False)]),
    ("order_updated", ("updates", "total"), [*AMOUNTS, (LEFT_OUT, True)]),
    ("order_updated", ("updates", "shippingAddress"), [*ADDRESSES, (None, False)]),
    ("order_cancelled", ("reason",), [*TEXTS, (None, True), (LEFT_OUT, True)]),
    ("order_cancelled", ("orderId",), [(UNKNOWN_BESIDE, False)]),
    *[(kind, ("eventId",), EVENT_IDS) for kind in VALID],
    *[(kind, ("version",), VERSIONS) for kind in VALID],
]
EDGES: list[tuple[str, tuple[str | int, ...], Any, bool]] = [
    (kind, path, value, accepted) for kind, path, values in PLACES for value, accepted in values
]


def with_value(kind: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """VALID[kind] with the value at `path` replaced (or LEFT_OUT, or UNKNOWN_BESIDE it)."""
    document: dict[str, Any] = copy.deepcopy(VALID[kind])
    *parents, last = path
    target: Any = document
    for step in parents:
        target = target[step]
    if value == LEFT_OUT:
        target.pop(last, None)
    elif value == UNKNOWN_BESIDE:
        target["extra"] = Decimal(1)
    else:
        target[last] = value
    return document


_NUMBER = re.compile(r'"\\u0000number:([^"]*)\\u0000"')


def json_text(document: Any) -> str:
    """The document as JSON, each Decimal written as the number it is (never through a float),
    a lone surrogate as its escape."""
    marked = json.dumps(document, default=lambda number: f"\0number:{number}\0")
    return _NUMBER.sub(r"\1", marked)


# --- drawn documents ----------------------------------------------------------------------------
# Messages of every type drawn around the contract's edges, valid and not: identifiers of any
# length and alphabet, numbers with any digits and exponent, optional fields left out or null.
_SOME_TEXT = st.text(st.characters(codec="utf-8"), max_size=6)


def _mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nine draws in ten from `common`."""
    return st.integers(0, 9).flatmap(lambda n: common if n else rare)


IDENTIFIER_VALUES = _mostly(
    st.from_regex(r"[A-Za-z0-9._:@#/-]{1,4}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._:@#/-]{126,130}", fullmatch=True) | _SOME_TEXT,
)
TEXT_VALUES = _mostly(_SOME_TEXT, st.integers(495, 505).map(lambda length: "x" * length))
NUMBER_VALUES = _mostly(
    st.builds(
        lambda whole, places: Decimal(whole).scaleb(-places),
        st.integers(0, 10**6),
        st.integers(0, 4),
    ),
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
        st.sampled_from([0, 1]),
        st.lists(st.integers(0, 9), min_size=1, max_size=17),
        st.integers(-7, 13),
    ),
)
ANY_VALUE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), NUMBER_VALUES, _SOME_TEXT, st.just([]), st.just({})
)


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the values, sometimes something of another kind."""
    return _mostly(values, ANY_VALUE)


ITEM_VALUES = st.fixed_dictionaries(
    {"productId": _maybe(IDENTIFIER_VALUES), "quantity": _maybe(NUMBER_VALUES)},
    optional={"price": NUMBER_VALUES},
)
ITEM_LISTS = _maybe(st.lists(ITEM_VALUES, max_size=3))
ADDRESS_VALUES = _maybe(
    TEXT_VALUES
    | st.dictionaries(st.one_of(_SOME_TEXT, st.just("k" * 65)), _maybe(TEXT_VALUES), max_size=3)
)
STATUS_VALUES = _maybe(
    st.sampled_from(["pending", "confirmed", "shipped", "delivered", "cancelled", "Shipped"])
)
# What a producer may say of each event: who it is and which version of its order it makes.
STAMPS = {"eventId": _maybe(IDENTIFIER_VALUES), "version": _maybe(NUMBER_VALUES)}
DOCUMENTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("order_created"),
            "orderId": _maybe(IDENTIFIER_VALUES),
            "customerId": _maybe(IDENTIFIER_VALUES),
        },
        optional={"items": ITEM_LISTS, "total": _maybe(NUMBER_VALUES), **STAMPS},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("order_updated"),
            "orderId": _maybe(IDENTIFIER_VALUES),
            "updates": _maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "status": STATUS_VALUES,
                        "items": ITEM_LISTS,
                        "total": _maybe(NUMBER_VALUES),
                        "shippingAddress": ADDRESS_VALUES,
                    },
                )
            ),
        },
        optional=STAMPS,
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["order_cancelled", "order_canceled"]),
            "orderId": _maybe(IDENTIFIER_VALUES),
        },
        optional={"reason": st.one_of(st.none(), _maybe(TEXT_VALUES)), **STAMPS},
    ),
)
