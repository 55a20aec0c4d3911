"""POST /uploads: a presigned PUT under uploads/, and the round trip through the bucket (moto) to
the upload processor."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
from PIL import Image

from tests.conftest import ApiClient, LambdaContext


@pytest.fixture
def uploads_api(api: ApiClient, uploads_bucket: str, metadata_table: str) -> ApiClient:
    return api


def test_issues_a_presigned_put_under_uploads_that_expires_within_15_minutes(
    uploads_api: ApiClient,
) -> None:
    response = uploads_api.request(
        "POST", "/uploads", {"filename": "holiday photo.png", "contentType": "image/png"}
    )

    assert response.status == 201
    ticket = response.body
    assert ticket["key"].startswith("uploads/")
    assert ticket["key"].endswith("/holiday photo.png")
    assert 0 < ticket["expiresIn"] <= 900
    query = parse_qs(urlparse(ticket["uploadUrl"]).query)
    assert query["X-Amz-Expires"] == [str(ticket["expiresIn"])]
    assert "content-type" in query["X-Amz-SignedHeaders"][0]
    assert urlparse(ticket["uploadUrl"]).path.endswith("/holiday%20photo.png")


def test_each_ticket_gets_its_own_key(uploads_api: ApiClient) -> None:
    body = {"filename": "a.json", "contentType": "application/json"}

    first = uploads_api.request("POST", "/uploads", body).body["key"]
    second = uploads_api.request("POST", "/uploads", body).body["key"]

    assert first != second


def test_a_presigned_upload_round_trip_reaches_the_processor(
    uploads_api: ApiClient, uploads_bucket: str, dynamodb: Any, metadata_table: str
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (512, 256), (0, 128, 0)).save(buffer, format="JPEG")
    ticket = uploads_api.request(
        "POST", "/uploads", {"filename": "field.jpg", "contentType": "image/jpeg"}
    ).body

    put = requests.put(
        ticket["uploadUrl"],
        data=buffer.getvalue(),
        headers={"Content-Type": "image/jpeg"},
        timeout=10,
    )

    assert put.status_code == 200
    s3 = boto3.client("s3")
    head = s3.head_object(Bucket=uploads_bucket, Key=ticket["key"])
    assert head["ContentType"] == "image/jpeg"
    from src.handlers import s3_handler

    s3_handler.handler(
        {
            "Records": [
                {
                    "eventTime": "2026-11-27T12:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": uploads_bucket},
                        "object": {
                            "key": ticket["key"].replace(" ", "+"),
                            "size": head["ContentLength"],
                            "eTag": head["ETag"].strip('"'),
                            "sequencer": "0065F1A2B3C4D5E6F7",
                        },
                    },
                }
            ]
        },
        LambdaContext(function_name="S3HandlerFunction"),
    )
    item = dynamodb.get_item(
        TableName=metadata_table, Key={"objectKey": {"S": f"s3://{uploads_bucket}/{ticket['key']}"}}
    )["Item"]
    assert (item["width"]["N"], item["height"]["N"]) == ("512", "256")


@pytest.mark.parametrize(
    "body",
    [
        {"filename": "../etc/passwd", "contentType": "text/plain"},
        {"filename": "a/b.png", "contentType": "image/png"},
        {"filename": ".hidden", "contentType": "text/plain"},
        {"filename": "", "contentType": "text/plain"},
        # The document's pattern refuses surrounding whitespace, so the server does too.
        {"filename": " ", "contentType": "text/plain"},
        {"filename": " cat.png", "contentType": "image/png"},
        {"filename": "cat.png\t", "contentType": "image/png"},
        {"filename": "cat.png\u0085", "contentType": "image/png"},  # a C1 control character
        {"filename": "x" * 201, "contentType": "text/plain"},
        {"filename": "evil\n.png", "contentType": "image/png"},
        {"filename": "a.exe", "contentType": "application/x-msdownload"},
        {"filename": "a.svg", "contentType": "image/svg+xml"},
        {"filename": "a.png"},
        {"filename": "a.png", "contentType": "image/png", "key": "uploads/mine.png"},
    ],
)
def test_invalid_requests_are_400(uploads_api: ApiClient, body: dict[str, Any]) -> None:
    response = uploads_api.request("POST", "/uploads", body)

    assert response.status == 400
    assert "error" in response.body


def test_is_in_the_openapi_document(uploads_api: ApiClient) -> None:
    document = uploads_api.request("GET", "/openapi.json").body

    operation = document["paths"]["/uploads"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/UploadRequest"
    )
    assert "201" in operation["responses"]
    content_types = document["components"]["schemas"]["UploadRequest"]["properties"]["contentType"]
    assert "image/png" in content_types["enum"]
