"""Idempotency-Key on POST /users and POST /uploads, through the API handler (moto in-process,
tables from template.yaml): replays, conflicts, requests in flight, crashed and failed first
attempts, and the fault that matters most: the write happened and the error came back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from src.core.access import ADMIN_SCOPE
from tests.conftest import ApiClient, ApiResponse, LambdaContext

USER = {"email": "ada@example.com", "name": "Ada"}


def post(
    api: ApiClient, path: str, body: Any, key: str | None, subject: str | None = None
) -> ApiResponse:
    from src.handlers import api_handler

    event = api.event("POST", path, body, headers={} if key is None else {"Idempotency-Key": key})
    if subject is not None:
        event["requestContext"]["authorizer"] = {"claims": {"sub": subject, "scope": ADMIN_SCOPE}}
    return api.parse(api_handler.handler(event, LambdaContext()))


def users(users_table: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=users_table, ConsistentRead=True)["Items"]
    return [item for item in items if item["kind"]["S"] == "user"]


def records(idempotency_table: str) -> list[dict[str, Any]]:
    table = boto3.client("dynamodb").scan(TableName=idempotency_table, ConsistentRead=True)
    items: list[dict[str, Any]] = table["Items"]
    return items


def test_a_repeat_gets_the_first_response_and_creates_nothing(
    api: ApiClient, users_table: str
) -> None:
    first = post(api, "/users", USER, "key-1")
    again = post(api, "/users", USER, "key-1")

    assert first.status == 201
    assert "Idempotent-Replayed" not in first.headers
    assert (again.status, again.raw_body) == (201, first.raw_body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == "application/json"
    assert [item["userId"]["S"] for item in users(users_table)] == [first.body["userId"]]


def test_the_same_key_with_another_request_is_a_422(api: ApiClient, users_table: str) -> None:
    post(api, "/users", USER, "key-1")

    other = post(api, "/users", {**USER, "name": "Ada L."}, "key-1")

    assert other.status == 422
    assert other.body == {"error": "this Idempotency-Key was used with another request"}
    assert len(users(users_table)) == 1


def test_a_key_still_in_flight_is_a_409_with_retry_after(
    api: ApiClient, users_table: str, idempotency_table: str
) -> None:
    from src.handlers import api_handler
    from src.handlers.idempotency import KeyedRequest

    # The first request with the key, still running: its invocation ends in 30 s.
    event = api.event("POST", "/users", USER, headers={"Idempotency-Key": "key-1"})
    running = KeyedRequest.of(api_handler.idempotency_records(), event, "key-1", USER)
    now = datetime.now(UTC)
    assert running.claim(now, now + timedelta(seconds=30)) is None

    second = post(api, "/users", USER, "key-1")

    assert second.status == 409
    assert second.body == {
        "error": "a request with this Idempotency-Key is still running; retry later"
    }
    assert 28 <= int(second.headers["Retry-After"]) <= 30
    assert users(users_table) == []


def test_a_crashed_first_attempt_never_blocks_its_retry(api: ApiClient, users_table: str) -> None:
    from src.handlers import api_handler
    from src.handlers.idempotency import KeyedRequest

    # The first attempt claimed the key and died: its invocation's deadline has passed.
    event = api.event("POST", "/users", USER, headers={"Idempotency-Key": "key-1"})
    crashed = KeyedRequest.of(api_handler.idempotency_records(), event, "key-1", USER)
    now = datetime.now(UTC)
    assert crashed.claim(now - timedelta(seconds=11), now - timedelta(seconds=1)) is None

    retry = post(api, "/users", USER, "key-1")

    assert retry.status == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert [item["userId"]["S"] for item in users(users_table)] == [retry.body["userId"]]


@pytest.mark.parametrize("key", ["", "a b", "x" * 256, "clé", "tab\there", "\x7f"], ids=repr)
def test_a_malformed_key_is_a_400_and_nothing_runs(
    api: ApiClient, users_table: str, idempotency_table: str, key: str
) -> None:
    response = post(api, "/users", USER, key)

    assert response.status == 400
    assert response.body == {"error": "Idempotency-Key must be 1 to 255 visible ASCII characters"}
    assert users(users_table) == []
    assert records(idempotency_table) == []


def test_the_longest_key_is_taken(api: ApiClient) -> None:
    assert post(api, "/users", USER, "~" * 255).status == 201


def test_a_refusal_is_kept_and_replayed(api: ApiClient) -> None:
    post(api, "/users", USER, None)  # the email is taken

    refused = post(api, "/users", USER, "key-1")
    again = post(api, "/users", USER, "key-1")

    assert refused.status == 409
    assert (again.status, again.raw_body) == (409, refused.raw_body)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_invalid_request_does_not_use_up_the_key(api: ApiClient) -> None:
    invalid = post(api, "/users", {"email": "not an email", "name": "Ada"}, "key-1")
    valid = post(api, "/users", USER, "key-1")

    assert invalid.status == 400
    assert valid.status == 201
    assert "Idempotent-Replayed" not in valid.headers


def test_a_record_expires_after_24_hours(api: ApiClient, idempotency_table: str) -> None:
    before = time.time()
    post(api, "/users", USER, "key-1")

    (record,) = records(idempotency_table)

    assert before + 24 * 3600 - 1 <= int(record["expiresAt"]["N"]) <= time.time() + 24 * 3600
    assert record["state"] == {"S": "completed"}
    assert record["status"] == {"N": "201"}


def test_keys_are_the_callers_own(api: ApiClient, users_table: str) -> None:
    ada = post(api, "/users", USER, "key-1", subject="subject-a")
    # Another caller with the same key and body: not a replay of the first caller's user.
    other = post(api, "/users", USER, "key-1", subject="subject-b")
    same = post(api, "/users", USER, "key-1", subject="subject-a")

    assert ada.status == 201
    assert other.status == 409  # its own request ran: the email is taken
    assert "Idempotent-Replayed" not in other.headers
    assert (same.status, same.body) == (201, ada.body)


def test_without_a_key_every_request_runs(api: ApiClient) -> None:
    assert post(api, "/users", USER, None).status == 201
    assert post(api, "/users", USER, None).status == 409


# --- faults -----------------------------------------------------------------------------------


class OneFault:
    """A DynamoDB client whose next `operation` fails once: before taking effect (throttled)
    or after (the response lost on the way back)."""

    def __init__(self, client: Any, operation: str, *, after: bool) -> None:
        self._client, self._operation, self._after = client, operation, after
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs: Any) -> Any:
            if not self.armed:
                return attribute(**kwargs)
            self.armed = False
            if self._after:
                attribute(**kwargs)
                raise ReadTimeoutError(endpoint_url="https://injected")
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                name,
            )

        return call


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, OneFault]]:
    """Install a OneFault on the API's DynamoDB client: faulty["client"] = OneFault(...)."""
    from src.handlers import api_handler

    installed: dict[str, OneFault] = {}
    real = boto3.client("dynamodb")
    monkeypatch.setattr(api_handler, "dynamodb_client", lambda: installed.get("client", real))
    for cached in (api_handler.user_service, api_handler.idempotency_records):
        cached.cache_clear()
    yield installed
    for cached in (api_handler.user_service, api_handler.idempotency_records):
        cached.cache_clear()


def test_a_write_that_happened_behind_an_error_is_replayed_on_retry(
    api: ApiClient, users_table: str, faulty: dict[str, OneFault]
) -> None:
    faulty["client"] = OneFault(boto3.client("dynamodb"), "transact_write_items", after=True)

    lost = post(api, "/users", USER, "key-1")
    retry = post(api, "/users", USER, "key-1")

    assert lost.status == 503
    (stored,) = users(users_table)
    # One user, and the retry gets the response its first attempt made (and lost).
    assert retry.status == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.body["userId"] == stored["userId"]["S"]
    assert retry.body["email"] == USER["email"]


def test_a_server_error_is_not_kept_and_the_retry_runs(
    api: ApiClient, users_table: str, idempotency_table: str, faulty: dict[str, OneFault]
) -> None:
    faulty["client"] = OneFault(boto3.client("dynamodb"), "transact_write_items", after=False)

    failed = post(api, "/users", USER, "key-1")
    between = records(idempotency_table)
    retry = post(api, "/users", USER, "key-1")

    assert failed.status == 503
    assert between == []  # the claim was released
    assert retry.status == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert len(users(users_table)) == 1


# --- uploads ----------------------------------------------------------------------------------


def test_an_upload_ticket_is_replayed(
    api: ApiClient, uploads_bucket: str, metadata_table: str
) -> None:
    request = {"filename": "cat.png", "contentType": "image/png", "size": 4096}

    first = post(api, "/uploads", request, "upload-1")
    again = post(api, "/uploads", request, "upload-1")
    other = post(api, "/uploads", request, "upload-2")

    assert first.status == 201
    assert (again.status, again.body) == (201, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.body["key"] != first.body["key"]


# --- the document -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/users", "/uploads"])
def test_the_document_shows_the_header_and_its_answers(api: ApiClient, path: str) -> None:
    operation = api.request("GET", "/openapi.json").body["paths"][path]["post"]

    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    assert not header["required"]
    assert header["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[\\x21-\\x7e]{1,255}$",
    }
    assert {"409", "422"} <= set(operation["responses"])
    assert operation["responses"]["201"]["headers"]["Idempotent-Replayed"]["schema"] == {
        "type": "string",
        "enum": ["true"],
    }
