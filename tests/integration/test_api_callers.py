"""Who may do what to users, by the claims of the token API Gateway's authorizer checked (the
API handler with moto, in-process): an administrator everything, a user their own record only.
API Gateway refuses the administrators' routes to a user's token first (tests/unit/
test_template.py); the handler refuses them too."""

from __future__ import annotations

from typing import Any

import pytest

from src.core.access import ADMIN_SCOPE, SELF_SCOPE
from tests.conftest import ApiClient

ADMIN = {"sub": "admin-1", "scope": f"{SELF_SCOPE} {ADMIN_SCOPE}", "email": "root@example.com"}
ADA = {"sub": "ada-1", "scope": SELF_SCOPE, "email": "Ada@Example.com"}
BOB = {"sub": "bob-1", "scope": SELF_SCOPE, "email": "bob@example.com"}


@pytest.fixture
def users(api: ApiClient) -> dict[str, Any]:
    """Ada's and Bob's records, created by an administrator."""
    return {
        name: api.request("POST", "/users", {"email": email, "name": name}, claims=ADMIN).body
        for name, email in (("Ada", "ada@example.com"), ("Bob", "bob@example.com"))
    }


def test_a_user_reads_and_changes_their_own_record(api: ApiClient, users: dict[str, Any]) -> None:
    ada = users["Ada"]["userId"]

    assert api.request("GET", f"/users/{ada}", claims=ADA).body["name"] == "Ada"
    changed = api.request("PUT", f"/users/{ada}", {"name": "Augusta"}, claims=ADA)
    assert (changed.status, changed.body["name"]) == (200, "Augusta")


def test_another_users_record_is_not_found_for_a_user(
    api: ApiClient, users: dict[str, Any]
) -> None:
    bob = users["Bob"]["userId"]

    for method, body in (("GET", None), ("PUT", {"name": "Mallory"})):
        response = api.request(method, f"/users/{bob}", body, claims=ADA)
        assert (response.status, response.body) == (404, {"error": f"user {bob} not found"})
    assert api.request("GET", f"/users/{bob}", claims=ADMIN).body["name"] == "Bob"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users", None),
        ("POST", "/users", {"email": "eve@example.com", "name": "Eve"}),
        ("DELETE", "/users/{bob}", None),
        ("DELETE", "/users/{ada}", None),
    ],
)
def test_listing_creating_and_deleting_are_for_administrators(
    api: ApiClient, users: dict[str, Any], method: str, path: str, body: Any
) -> None:
    target = path.format(ada=users["Ada"]["userId"], bob=users["Bob"]["userId"])

    refused = api.request(method, target, body, claims=ADA)

    assert (refused.status, refused.body) == (403, {"error": "only an administrator may do this"})
    # Nothing changed: both users are still there, and no third.
    listed = api.request("GET", "/users", claims=ADMIN).body
    assert sorted(user["name"] for user in listed["users"]) == ["Ada", "Bob"]
    assert api.request(method, target, body, claims=ADMIN).status < 300


def test_an_administrator_changes_and_deletes_any_user(
    api: ApiClient, users: dict[str, Any]
) -> None:
    bob = users["Bob"]["userId"]

    assert api.request("PUT", f"/users/{bob}", {"age": 40}, claims=ADMIN).body["age"] == 40
    assert api.request("DELETE", f"/users/{bob}", claims=ADMIN).status == 204
    assert api.request("GET", f"/users/{bob}", claims=ADMIN).status == 404


def test_a_token_without_an_email_reads_no_record(api: ApiClient, users: dict[str, Any]) -> None:
    ada = users["Ada"]["userId"]

    response = api.request("GET", f"/users/{ada}", claims={"sub": "x", "scope": SELF_SCOPE})

    assert response.status == 404


def test_an_api_without_an_authorizer_lets_every_caller_do_everything(
    api: ApiClient, users: dict[str, Any]
) -> None:
    # The local stack, and a development stack deployed with UnsafeOpenDevelopmentApi=yes.
    assert api.request("GET", "/users").body["count"] == 2
    assert api.request("DELETE", f"/users/{users['Bob']['userId']}").status == 204


def test_a_user_stored_before_emails_were_folded_still_reads_their_record(
    api: ApiClient, users_table: str
) -> None:
    import boto3

    # An address stored in lower case only, as the service stored it before NFKC folding.
    created = api.request("POST", "/users", {"email": "ann@example.com", "name": "Ann"})
    boto3.client("dynamodb").update_item(
        TableName=users_table,
        Key={"userId": {"S": created.body["userId"]}},
        UpdateExpression="SET email = :old",
        ExpressionAttributeValues={":old": {"S": "straße@example.com"}},
    )
    caller = {"sub": "ann-1", "scope": SELF_SCOPE, "email": "Straße@example.com"}

    response = api.request("GET", f"/users/{created.body['userId']}", claims=caller)

    assert (response.status, response.body["name"]) == (200, "Ann")


def test_an_integer_beyond_any_bound_is_refused_naming_its_field(api: ApiClient) -> None:
    body = '{"email": "ada@example.com", "name": "Ada", "age": ' + "9" * 5000 + "}"

    response = api.request("POST", "/users", raw_body=body)

    assert response.status == 400
    assert [problem["loc"] for problem in response.body["details"]] == [["age"]]
