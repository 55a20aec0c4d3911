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

from src.models.uploads import MAX_UPLOAD_BYTES
from tests.conftest import ApiClient, LambdaContext


@pytest.fixture
def uploads_api(api: ApiClient, uploads_bucket: str, metadata_table: str) -> ApiClient:
    return api


def test_issues_a_presigned_put_under_uploads_that_expires_within_15_minutes(
    uploads_api: ApiClient,
) -> None:
    response = uploads_api.request(
        "POST",
        "/uploads",
        {"filename": "holiday photo.png", "contentType": "image/png", "size": 48213},
    )

    assert response.status == 201
    ticket = response.body
    assert ticket["key"].startswith("uploads/")
    assert ticket["key"].endswith("/holiday photo.png")
    assert 0 < ticket["expiresIn"] <= 900
    query = parse_qs(urlparse(ticket["uploadUrl"]).query)
    assert query["X-Amz-Expires"] == [str(ticket["expiresIn"])]
    # S3 refuses a PUT whose Content-Type or Content-Length is not the one signed.
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert ticket["headers"] == {"Content-Type": "image/png", "Content-Length": "48213"}
    assert urlparse(ticket["uploadUrl"]).path.endswith("/holiday%20photo.png")


def test_each_ticket_gets_its_own_key(uploads_api: ApiClient) -> None:
    body = {"filename": "a.json", "contentType": "application/json", "size": 2}

    first = uploads_api.request("POST", "/uploads", body).body["key"]
    second = uploads_api.request("POST", "/uploads", body).body["key"]

    assert first != second


def test_a_presigned_upload_round_trip_reaches_the_processor(
    uploads_api: ApiClient, uploads_bucket: str, dynamodb: Any, metadata_table: str
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (512, 256), (0, 128, 0)).save(buffer, format="JPEG")
    ticket = uploads_api.request(
        "POST",
        "/uploads",
        {"filename": "field.jpg", "contentType": "image/jpeg", "size": len(buffer.getvalue())},
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


VALID = {"filename": "a.png", "contentType": "image/png", "size": 10}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"filename": "../etc/passwd"}, "filename"),
        ({"filename": "a/b.png"}, "filename"),
        ({"filename": ".hidden"}, "filename"),
        ({"filename": ""}, "filename"),
        # The document's pattern refuses surrounding whitespace, so the server does too.
        ({"filename": " "}, "filename"),
        ({"filename": " cat.png"}, "filename"),
        ({"filename": "cat.png\t"}, "filename"),
        ({"filename": "cat.png\u0085"}, "filename"),  # a C1 control character
        ({"filename": "x" * 201}, "filename"),
        ({"filename": "evil\n.png"}, "filename"),
        ({"contentType": "application/x-msdownload"}, "contentType"),
        ({"contentType": "image/svg+xml"}, "contentType"),
        ({"contentType": None}, "contentType"),
        ({"size": None}, "size"),
        ({"size": 0}, "size"),
        ({"size": MAX_UPLOAD_BYTES + 1}, "size"),
        ({"size": "10"}, "size"),
        ({"size": True}, "size"),
        ({"size": 10.5}, "size"),
        ({"key": "uploads/mine.png"}, "key"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(
    uploads_api: ApiClient, change: dict[str, Any], field: str
) -> None:
    body = {name: value for name, value in {**VALID, **change}.items() if value is not None}

    response = uploads_api.request("POST", "/uploads", body)

    assert response.status == 400
    assert [problem["loc"] for problem in response.body["details"]] == [[field]]


def test_the_largest_size_a_ticket_admits_is_issued(uploads_api: ApiClient) -> None:
    issued = uploads_api.request("POST", "/uploads", {**VALID, "size": MAX_UPLOAD_BYTES})
    integral = uploads_api.request("POST", "/uploads", {**VALID, "size": 10.0})

    assert issued.status == 201
    assert issued.body["headers"]["Content-Length"] == str(MAX_UPLOAD_BYTES)
    assert (integral.status, integral.body["headers"]["Content-Length"]) == (201, "10")


def test_is_in_the_openapi_document(uploads_api: ApiClient) -> None:
    document = uploads_api.request("GET", "/openapi.json").body

    operation = document["paths"]["/uploads"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/UploadRequest"
    )
    assert "201" in operation["responses"]
    content_types = document["components"]["schemas"]["UploadRequest"]["properties"]["contentType"]
    assert "image/png" in content_types["enum"]
