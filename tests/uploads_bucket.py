"""The uploads bucket as tests drive it: objects put and deleted in the (moto) bucket with the
S3 notification records AWS would send for them, the metadata items, and test images."""

from __future__ import annotations

import io
import itertools
from typing import Any
from urllib.parse import quote_plus

import boto3
from PIL import Image


class Bucket:
    """Puts and deletes objects, and makes the notification records S3 would send for them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.s3 = boto3.client("s3")
        self._sequence = itertools.count(0x0065F1A2B3C4D5E600)

    def put(self, key: str, body: bytes, content_type: str) -> dict[str, Any]:
        response = self.s3.put_object(
            Bucket=self.name, Key=key, Body=body, ContentType=content_type
        )
        return self.record("ObjectCreated:Put", key, len(body), response["ETag"].strip('"'))

    def delete(self, key: str) -> dict[str, Any]:
        self.s3.delete_object(Bucket=self.name, Key=key)
        return self.record("ObjectRemoved:Delete", key)

    def record(
        self, event_name: str, key: str, size: int | None = None, etag: str | None = None
    ) -> dict[str, Any]:
        s3_object: dict[str, Any] = {
            "key": quote_plus(key, safe="/"),
            "sequencer": f"{next(self._sequence):018X}",
        }
        if size is not None:
            s3_object["size"] = size
        if etag is not None:
            s3_object["eTag"] = etag
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-11-27T12:00:00.000Z",
            "eventName": event_name,
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": self.name, "arn": f"arn:aws:s3:::{self.name}"},
                "object": s3_object,
            },
        }

    def keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body


def metadata(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    """The metadata items (not tombstones, not upload tickets), by object key, as plain
    values."""
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items = dynamodb.scan(TableName=table)["Items"]
    return {
        item["objectKey"]["S"]: {key: plain.deserialize(value) for key, value in item.items()}
        for item in items
        if not item["objectKey"]["S"].startswith(("tombstone#", "upload#"))
    }


def png(size: tuple[int, int], color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def tickets(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    """The upload tickets, by upload id, as plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items = dynamodb.scan(TableName=table)["Items"]
    return {
        item["objectKey"]["S"].removeprefix("upload#"): {
            key: plain.deserialize(value) for key, value in item.items()
        }
        for item in items
        if item["objectKey"]["S"].startswith("upload#")
    }
