"""The acceptance run's schemathesis hooks: which requests count as valid by the document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.schemas import OPENAPI_FILE
from tests.integration.schemathesis_hooks import query_is_valid

DOCUMENT = json.loads(OPENAPI_FILE.read_text())
LIST_USERS: list[dict[str, Any]] = DOCUMENT["paths"]["/users"]["get"]["parameters"]
POSITION = "A" * 21 + "Q"


@pytest.mark.parametrize(
    "query",
    ["", "limit=74", f"lastKey={POSITION}", f"limit=1&lastKey={POSITION}", "limit=100"],
)
def test_a_query_the_document_allows_is_valid(query: str) -> None:
    assert query_is_valid(LIST_USERS, query)


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=0",
        "limit=101",
        "limit=1.5",
        "limit=",
        "lastKey=x",
        f"lastKey={POSITION}x",
        "lastKey=",
        "lastKey=null",
        f"lastKey={POSITION}&lastKey={POSITION}",
        "limit=1&limit=2",
        "other=1",
        f"limit=1&lastKey={POSITION}&page=2",
    ],
)
def test_a_query_the_document_does_not_allow_is_not(query: str) -> None:
    assert not query_is_valid(LIST_USERS, query)


def test_a_required_parameter_must_be_sent() -> None:
    required = [{**LIST_USERS[0], "required": True}, LIST_USERS[1]]

    assert not query_is_valid(required, f"lastKey={POSITION}")
    assert query_is_valid(required, "limit=5")
