"""The users API under AWS faults: DynamoDB throttling, 5xx and timeouts, before and after a
write takes effect, with a client that retries what the API asks it to retry.

Whatever the faults, the API answers a fault with 503 and Retry-After (never a 500), and once
the client's retries have gone through, the table is exactly what the requests made it, in the
order they were sent: no user lost or invented, and no user without its email claim or claim
without its user (nothing half-written).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ApiClient, ApiResponse
from tests.faults import AFTER, BEFORE, FaultyClient

EMAILS = ["ada@example.com", "bob@example.com", "cy@example.com"]
MAX_ATTEMPTS = 40  # at a 30% fault rate, 40 failures in a row: about 1e-21

operations = st.lists(
    st.tuples(
        st.sampled_from(["create", "rename", "delete", "get"]),
        st.sampled_from(EMAILS),
        st.text("abcdefgh", min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def faulty_dynamodb(users_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyClient]:
    """The API's users service, rebuilt over a DynamoDB client that fails on demand."""
    from src.handlers import api_handler

    faulty = FaultyClient(
        boto3.client("dynamodb"),
        random.Random(),  # each test seeds it: a fresh, printed seed or hypothesis's draw
        rate=0.0,
        operations={"transact_write_items", "get_item", "update_item", "scan"},
    )
    api_handler.user_service.cache_clear()
    monkeypatch.setattr(api_handler, "dynamodb_client", lambda: faulty)
    yield faulty
    api_handler.user_service.cache_clear()


def send(api: ApiClient, method: str, path: str, body: Any = None) -> tuple[ApiResponse, int]:
    """The request, sent again after each 503 as the API asks; the final response and how
    many 503s came before it."""
    for attempt in range(MAX_ATTEMPTS):
        response = api.request(method, path, body)
        assert response.status != 500, response.body
        if response.status != 503:
            return response, attempt
        assert response.headers["Retry-After"] == "1"
        assert response.body["error"]
    raise AssertionError("still unavailable after every attempt")


def table_users(users_table: str) -> dict[str, dict[str, Any]]:
    """email -> user item; asserts that users and email claims pair up one to one."""
    items = boto3.client("dynamodb").scan(TableName=users_table, ConsistentRead=True)["Items"]
    users = {i["userId"]["S"]: i for i in items if i["kind"]["S"] == "user"}
    claims = {i["userId"]["S"]: i["ownerId"]["S"] for i in items if i["kind"]["S"] == "email"}
    assert sorted(claims.values()) == sorted(users), "a claim without its user or a user without"
    for claim_key, owner in claims.items():
        assert claim_key == f"email#{users[owner]['email']['S']}"
    return {user["email"]["S"]: user for user in users.values()}


class Expected:
    """What the table must hold: the requests applied once each, in the order sent."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.names: dict[str, str] = {}  # email -> name
        self.ids: dict[str, str] = {}  # email -> userId, for the users the client saw created

    def create(self, email: str, name: str) -> None:
        response, retried = send(self.api, "POST", "/users", {"email": email, "name": name})
        if response.status == 201:
            self.ids[email] = response.body["userId"]
        else:
            # Used before, or taken by this request's own attempt whose response was lost.
            assert response.status == 409
            assert email in self.names or retried
        self.names.setdefault(email, name)

    def rename(self, email: str, name: str) -> None:
        response, _ = send(self.api, "PUT", f"/users/{self.ids[email]}", {"name": name})
        assert response.status == 200
        self.names[email] = name

    def delete(self, email: str, _: str) -> None:
        response, retried = send(self.api, "DELETE", f"/users/{self.ids.pop(email)}")
        # A 404 only when an attempt whose response was lost did the deletion.
        assert response.status == 204 or (response.status == 404 and retried)
        del self.names[email]

    def get(self, email: str, _: str) -> None:
        response, _ = send(self.api, "GET", f"/users/{self.ids[email]}")
        assert response.status == 200
        assert response.body["name"] == self.names[email]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=operations, seed=st.integers(0, 2**32 - 1))
def test_faults_never_lose_invent_or_half_write_a_user(
    faulty_dynamodb: FaultyClient, users_table: str, ops: list[tuple[str, str, str]], seed: int
) -> None:
    api = ApiClient()
    faulty_dynamodb.rate = 0.0
    for user in table_users(users_table).values():  # a fresh table for each example
        send(api, "DELETE", f"/users/{user['userId']['S']}")
    faulty_dynamodb.rng.seed(seed)
    faulty_dynamodb.rate = 0.3
    expected = Expected(api)
    for action, email, name in ops:
        if action == "create" or email in expected.ids:
            getattr(expected, action)(email, name)

    faulty_dynamodb.rate = 0.0
    stored = table_users(users_table)
    assert {email: item["name"]["S"] for email, item in stored.items()} == expected.names


def test_the_fault_injection_really_injects(
    faulty_dynamodb: FaultyClient, users_table: str
) -> None:
    seed = random.randrange(2**32)
    print(f"fault injection seed: {seed}")
    faulty_dynamodb.rng.seed(seed)
    faulty_dynamodb.rate = 0.5
    api = ApiClient()
    unavailable = 0
    # Creates until every kind of fault has been drawn, whatever the seed: each call draws a
    # given kind with probability 1/12 at least, and 100 creates make over 200 calls (a kind
    # missing from 200 calls: (11/12) ** 200, about 3e-8).
    for index in range(100):
        _, retried = send(api, "POST", "/users", {"email": f"u{index}@example.com", "name": "U"})
        unavailable += retried
        if set(faulty_dynamodb.injected) == {*BEFORE, *AFTER}:
            break

    assert unavailable > 0
    assert set(faulty_dynamodb.injected) == {*BEFORE, *AFTER}


def test_an_sdk_retry_of_an_applied_create_answers_201_not_a_false_409(api: ApiClient) -> None:
    # Given the response to the create's transaction lost after DynamoDB applied it, so that
    # botocore retries the same request (the same ClientRequestToken)
    from moto.core.models import botocore_stubber

    from src.core.aws import dynamodb_client

    lost: list[int] = []

    def lose_the_first_response(request: Any, event_name: str, **_: Any) -> None:
        if not lost:
            applied = botocore_stubber(event_name, request)
            lost.append(applied.status_code if applied is not None else 0)
            raise ReadTimeoutError(endpoint_url=request.url)

    events = dynamodb_client().meta.events
    event = "before-send.dynamodb.TransactWriteItems"
    events.register_first(event, lose_the_first_response, unique_id="lose-response")
    try:
        # When a client creates a user
        response = api.request("POST", "/users", {"email": "ada@example.com", "name": "Ada"})
    finally:
        events.unregister(event, unique_id="lose-response")

    # Then the first attempt was applied and its answer lost, and the retry answers 201 with the
    # one user stored
    assert lost == [200]
    assert response.status == 201, response.body
    users = boto3.client("dynamodb").scan(TableName=os.environ["USERS_TABLE"])["Items"]
    assert [item["userId"]["S"] for item in users if "email" in item] == [response.body["userId"]]
