"""GET /uploads/{uploadId}: an upload followed from its ticket to its result, through the API
handler and the bucket processor (moto in-process, tables from template.yaml)."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
from PIL import Image

from tests.conftest import ApiClient, LambdaContext
from tests.uploads_bucket import Bucket, png, tickets


@pytest.fixture
def bucket(uploads_bucket: str, metadata_table: str) -> Bucket:
    return Bucket(uploads_bucket)


def ticket(api: ApiClient, filename: str, content_type: str, size: int) -> dict[str, Any]:
    response = api.request(
        "POST", "/uploads", {"filename": filename, "contentType": content_type, "size": size}
    )
    assert response.status == 201
    body: dict[str, Any] = response.body
    return body


def uploaded(bucket: Bucket, issued: dict[str, Any], body: bytes, content_type: str) -> None:
    """The client's PUT, then the bucket's notification to the processor."""
    from src.handlers import s3_handler

    put = requests.put(
        issued["uploadUrl"], data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert put.status_code == 200
    head = bucket.s3.head_object(Bucket=bucket.name, Key=issued["key"])
    record = bucket.record("ObjectCreated:Put", issued["key"], len(body), head["ETag"].strip('"'))
    s3_handler.handler({"Records": [record]}, LambdaContext(function_name="S3HandlerFunction"))


def status(api: ApiClient, upload_id: str) -> Any:
    return api.request("GET", f"/uploads/{upload_id}")


def test_a_ticket_is_pending_until_its_file_is_processed(api: ApiClient, bucket: Bucket) -> None:
    issued = ticket(api, "cat.png", "image/png", 4096)

    response = status(api, issued["uploadId"])

    assert issued["key"] == f"uploads/{issued['uploadId']}/cat.png"
    assert response.status == 200
    assert response.body == {
        "uploadId": issued["uploadId"],
        "key": issued["key"],
        "status": "pending",
    }


def test_a_processed_image_comes_with_working_download_and_thumbnail_urls(
    api: ApiClient, bucket: Bucket
) -> None:
    image = png((640, 320))
    issued = ticket(api, "cat.png", "image/png", len(image))
    uploaded(bucket, issued, image, "image/png")
    before = datetime.now(UTC)

    body = status(api, issued["uploadId"]).body

    assert {name: body[name] for name in ("status", "contentType", "size", "width", "height")} == {
        "status": "processed",
        "contentType": "image/png",
        "size": len(image),
        "width": 640,
        "height": 320,
    }
    assert requests.get(body["downloadUrl"], timeout=10).content == image
    thumbnail = requests.get(body["thumbnailUrl"], timeout=10)
    with Image.open(io.BytesIO(thumbnail.content)) as opened:
        assert opened.size == (256, 128)
    for name in ("downloadUrlExpiresAt", "thumbnailUrlExpiresAt"):
        expires = datetime.fromisoformat(body[name])
        assert 890 <= (expires - before).total_seconds() <= 910
    assert "error" not in body


def test_a_processed_json_file_has_its_record_count_and_no_thumbnail(
    api: ApiClient, bucket: Bucket
) -> None:
    rows = b'[{"a": 1}, {"a": 2}]'
    issued = ticket(api, "rows.json", "application/json", len(rows))
    uploaded(bucket, issued, rows, "application/json")

    body = status(api, issued["uploadId"]).body

    assert (body["status"], body["recordCount"]) == ("processed", 2)
    assert "thumbnailUrl" not in body
    assert requests.get(body["downloadUrl"], timeout=10).content == b'[{"a": 1}, {"a": 2}]'


def test_a_corrupt_image_has_failed_with_a_reason_a_person_can_read(
    api: ApiClient, bucket: Bucket
) -> None:
    corrupt = b"<html>not a png</html>"
    issued = ticket(api, "cat.png", "image/png", len(corrupt))
    uploaded(bucket, issued, corrupt, "image/png")

    body = status(api, issued["uploadId"]).body

    assert (body["status"], body["error"]) == (
        "failed",
        "not a valid PNG image: not an image format that can be read",
    )
    assert "downloadUrl" not in body


def test_a_removed_file_is_removed(api: ApiClient, bucket: Bucket) -> None:
    from src.handlers import s3_handler

    issued = ticket(api, "rows.json", "application/json", 2)
    uploaded(bucket, issued, b"[]", "application/json")

    s3_handler.handler(
        {"Records": [bucket.delete(issued["key"])]},
        LambdaContext(function_name="S3HandlerFunction"),
    )

    assert status(api, issued["uploadId"]).body == {
        "uploadId": issued["uploadId"],
        "key": issued["key"],
        "status": "removed",
    }


def test_an_id_never_issued_is_a_404(api: ApiClient, bucket: Bucket) -> None:
    response = status(api, "0" * 32)

    assert response.status == 404
    assert response.body == {"error": f"upload {'0' * 32} not found"}


@pytest.mark.parametrize("upload_id", ["abc", "0" * 31, "G" * 32, "0" * 33])
def test_an_id_of_another_shape_is_a_400(api: ApiClient, bucket: Bucket, upload_id: str) -> None:
    assert status(api, upload_id).status == 400


def test_an_unused_ticket_expires_after_a_day_and_a_used_one_stays(
    api: ApiClient, bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    unused = ticket(api, "never.png", "image/png", 4096)
    used = ticket(api, "rows.json", "application/json", 2)
    uploaded(bucket, used, b"[]", "application/json")

    kept = tickets(dynamodb, metadata_table)

    assert 24 * 3600 - 5 <= int(kept[unused["uploadId"]]["expiresAt"]) - time.time() <= 24 * 3600
    assert "expiresAt" not in kept[used["uploadId"]]
    # Past its expiry, before DynamoDB's TTL has deleted it, the unused ticket is gone already.
    boto3.client("dynamodb").update_item(
        TableName=metadata_table,
        Key={"objectKey": {"S": f"upload#{unused['uploadId']}"}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert status(api, unused["uploadId"]).status == 404
    assert status(api, used["uploadId"]).body["status"] == "processed"


def test_a_replayed_ticket_request_records_one_ticket(
    api: ApiClient, bucket: Bucket, dynamodb: Any, metadata_table: str
) -> None:
    request = {"filename": "cat.png", "contentType": "image/png", "size": 4096}
    headers = {"Idempotency-Key": "upload-1"}

    first = api.request("POST", "/uploads", request, headers=headers)
    again = api.request("POST", "/uploads", request, headers=headers)

    assert again.body == first.body
    assert list(tickets(dynamodb, metadata_table)) == [first.body["uploadId"]]
