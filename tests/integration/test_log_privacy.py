"""No personal data in logs: emails, names, addresses and request or file bodies never reach a
log line, at DEBUG, on success and on every error path of the three handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from src.core.logging import configure_logging
from tests.conftest import ApiClient, JsonLogs, LambdaContext
from tests.order_queue import sqs_record
from tests.uploads_bucket import Bucket

EMAIL = "ada.private@example.com"
NAME = "Ada Privatename"
ADDRESS = "221B Privet Street"
FILE_SECRET = "file-body-secret-7f3a"
SECRETS = (EMAIL, NAME, ADDRESS, FILE_SECRET, "ada.private", "Privatename", "Privet")


@pytest.fixture
def debug_logs(json_logs: JsonLogs) -> Iterator[JsonLogs]:
    configure_logging("DEBUG")
    yield json_logs
    configure_logging("INFO")


def assert_no_personal_data(logs: JsonLogs) -> None:
    records = logs.records()
    assert records, "nothing was logged: the check would prove nothing"
    text = json.dumps(records)
    for secret in SECRETS:
        assert secret not in text, secret


def test_the_api_logs_no_personal_data(
    api: ApiClient, debug_logs: JsonLogs, dynamodb: Any, users_table: str
) -> None:
    created = api.request("POST", "/users", {"email": EMAIL, "name": NAME, "age": 36})
    user_id = created.body["userId"]
    api.request("POST", "/users", {"email": EMAIL, "name": NAME})  # 409
    api.request("POST", "/users", {"email": EMAIL, "name": NAME, "age": "old"})  # 400
    api.request("POST", "/users", raw_body=f'{{"email": "{EMAIL}", "name": ')  # bad JSON
    api.request("PUT", f"/users/{user_id}", {"name": NAME, "nickname": EMAIL})  # 400
    api.request("GET", f"/users/{user_id}")
    api.request("GET", "/users", query={"lastKey": EMAIL})  # 400
    api.request(
        "POST", "/uploads", {"filename": f"{EMAIL}.json", "contentType": "text/x-no", "size": 1}
    )
    # An unexpected error: the table is gone, so the request is a 500 logged with its stack.
    dynamodb.delete_table(TableName=users_table)
    assert api.request("POST", "/users", {"email": EMAIL, "name": NAME}).status == 500

    assert_no_personal_data(debug_logs)


def test_the_order_consumer_logs_no_personal_data(
    orders_table: str, notifications: Any, debug_logs: JsonLogs
) -> None:
    from src.handlers import sqs_handler

    created = {
        "type": "order_created",
        "orderId": "o-1",
        "customerId": EMAIL,
        "items": [{"productId": "p-1", "quantity": 1}],
        "total": 10,
    }
    records = [
        sqs_record(json.dumps(created)),
        sqs_record(json.dumps({**created, "customerId": NAME})),  # conflicting creation
        sqs_record(
            json.dumps(
                {"type": "order_updated", "orderId": "o-1", "updates": {"shippingAddress": ADDRESS}}
            )
        ),
        sqs_record(json.dumps({**created, "total": EMAIL})),  # invalid
        sqs_record(f"not json {EMAIL} {ADDRESS}"),
        sqs_record(json.dumps({"type": "order_updated", "orderId": "o-2", "updates": {}})),
    ]
    sqs_handler.handler({"Records": records}, LambdaContext(function_name="SqsHandlerFunction"))
    # An AWS fault: the table is gone.
    boto3.client("dynamodb").delete_table(TableName=orders_table)
    sqs_handler.handler(
        {"Records": [sqs_record(json.dumps({**created, "orderId": "o-3"}))]},
        LambdaContext(function_name="SqsHandlerFunction"),
    )

    assert_no_personal_data(debug_logs)


def test_the_upload_processor_logs_no_file_contents(
    metadata_table: str, uploads_bucket: str, debug_logs: JsonLogs
) -> None:
    from src.handlers import s3_handler

    bucket = Bucket(uploads_bucket)
    records = [
        bucket.put(
            "uploads/a.json", json.dumps([{"email": EMAIL}] * 3).encode(), "application/json"
        ),
        bucket.put("uploads/b.json", f"{{broken {FILE_SECRET}".encode(), "application/json"),
        bucket.put("uploads/c.png", f"not a png {FILE_SECRET}".encode(), "image/png"),
        bucket.put("uploads/d.txt", FILE_SECRET.encode(), "text/plain"),
    ]
    s3_handler.handler({"Records": records}, LambdaContext(function_name="S3HandlerFunction"))

    assert_no_personal_data(debug_logs)


def test_the_upload_processor_logs_no_file_names(
    metadata_table: str, uploads_bucket: str, debug_logs: JsonLogs
) -> None:
    from src.handlers import s3_handler

    bucket = Bucket(uploads_bucket)
    upload_id = "0f9e8d7c6b5a41f3a2b1c0d9e8f7a6b5"
    key = f"uploads/{upload_id}/{EMAIL} {NAME}.json"
    records = [bucket.put(key, b"[1, 2]", "application/json")]
    s3_handler.handler({"Records": records}, LambdaContext(function_name="S3HandlerFunction"))

    assert_no_personal_data(debug_logs)
    (applied,) = [r for r in debug_logs.records() if r["message"] == "object change applied"]
    assert applied["uploadId"] == upload_id
    assert applied["outcome"] == "recorded"


def test_a_response_that_breaks_its_model_is_logged_without_its_values(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, debug_logs: JsonLogs
) -> None:
    from src.handlers import api_handler

    def broken_get(self: Any, caller: Any, user_id: str) -> Any:
        return {"userId": user_id, "email": EMAIL, "name": NAME, "age": "thirty"}

    monkeypatch.setattr(type(api_handler.user_service()), "get_user", broken_get)

    assert api.request("GET", "/users/abc").status == 500
    (error,) = [record for record in debug_logs.records() if record["level"] == "ERROR"]
    assert "get_user returned dict, not User" in error["exc_info"]  # still there to debug
    assert_no_personal_data(debug_logs)
