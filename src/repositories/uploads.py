"""Uploads: the objects in the bucket (S3) and the metadata kept for them (DynamoDB).

Metadata writes are ordered by the S3 event `sequencer`: a write happens only if it is newer
than what the table holds, so duplicate and late events change nothing. A removal leaves a
tombstone item (`objectKey = "tombstone#s3://bucket/key"`, expiring after TOMBSTONE_SECONDS) so a
creation event older than the removal cannot bring the metadata back; each metadata write checks
the tombstone in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from src.core.clock import iso_utc
from src.models.objects import (
    TICKET_PREFIX,
    ObjectChange,
    UploadMetadata,
    upload_id_of,
)
from src.repositories.dynamodb import from_item, to_item, transact_write

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

TOMBSTONE_PREFIX = "tombstone#"
# An unused ticket disappears a day after it was issued (its URL is good for 15 minutes); one
# whose file arrived stays, and says where the upload is.
TICKET_SECONDS = 24 * 3600
# Longer than any event can arrive late: Lambda's asynchronous retries give up after the
# template's MaximumEventAgeInSeconds (1 hour).
TOMBSTONE_SECONDS = 2 * 24 * 3600
NEWER = "attribute_not_exists(objectKey) OR #sequencer < :sequencer"


@dataclass(frozen=True, slots=True)
class NotRecorded:
    """A metadata write that lost to a newer event, or found its own version already recorded
    (a duplicate or retried event); the thumbnail the table keeps, if any."""

    current_thumbnail_key: str | None
    already_recorded: bool = False


class MetadataRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, object_key: str) -> UploadMetadata | None:
        response = self._client.get_item(
            TableName=self._table, Key={"objectKey": {"S": object_key}}, ConsistentRead=True
        )
        item = response.get("Item")
        return _from_item(item) if item else None

    def record(self, metadata: UploadMetadata, position: str) -> NotRecorded | None:
        """Store the object's metadata for the event at `position` (ObjectChange.position)
        unless a newer event (creation or removal) is recorded. None when stored; NotRecorded
        otherwise."""
        item = to_item(metadata.to_record())
        condition = self._newer(position)
        item["sequencer"] = condition["ExpressionAttributeValues"][":sequencer"]
        reasons = transact_write(
            self._client,
            [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": {"objectKey": {"S": TOMBSTONE_PREFIX + metadata.objectKey}},
                        **condition,
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        **condition,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                *self._ticket_kept(metadata.key, removed_at=None),
            ],
        )
        if reasons is None:
            return None
        current = reasons[1].get("Item")
        if current is None:
            kept = self.get(metadata.objectKey)
            return NotRecorded(kept.thumbnailKey if kept else None)
        return NotRecorded(
            current.get("thumbnailKey", {}).get("S"),
            already_recorded=current.get("sequencer") == item["sequencer"],
        )

    def record_removal(self, change: ObjectChange, now: datetime) -> bool:
        """Delete the object's metadata and leave a tombstone, unless a newer event is
        recorded. True when removed."""
        object_key = change.object_key
        expires = int((now + timedelta(seconds=TOMBSTONE_SECONDS)).timestamp())
        condition = self._newer(change.position)
        ticket = self._ticket_kept(change.key, removed_at=now)
        reasons = transact_write(
            self._client,
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "objectKey": {"S": TOMBSTONE_PREFIX + object_key},
                            "sequencer": condition["ExpressionAttributeValues"][":sequencer"],
                            "expiresAt": {"N": str(expires)},
                        },
                        **condition,
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"objectKey": {"S": object_key}},
                        **condition,
                    }
                },
                *ticket,
            ],
        )
        return reasons is None

    def _ticket_kept(self, key: str, removed_at: datetime | None) -> list[dict[str, Any]]:
        """For an object under uploads/<uploadId>/: the write, in the event's own transaction,
        that keeps its upload's ticket (no longer expiring) and says whether the file is
        removed. A ticket the API never issued (a file put there by other means) is made."""
        upload_id = upload_id_of(key)
        if upload_id is None:
            return []
        values: dict[str, Any] = {":key": key}
        update = "SET #key = :key"
        if removed_at is None:
            update += " REMOVE expiresAt, removedAt"
        else:
            values[":removedAt"] = iso_utc(removed_at)
            update += ", removedAt = :removedAt REMOVE expiresAt"
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"objectKey": {"S": TICKET_PREFIX + upload_id}},
                    "UpdateExpression": update,
                    "ExpressionAttributeNames": {"#key": "key"},
                    "ExpressionAttributeValues": to_item(values),
                }
            }
        ]

    @staticmethod
    def _newer(position: str) -> dict[str, Any]:
        return {
            "ConditionExpression": NEWER,
            "ExpressionAttributeNames": {"#sequencer": "sequencer"},
            "ExpressionAttributeValues": {":sequencer": {"S": position}},
        }


@dataclass(frozen=True, slots=True)
class Ticket:
    """An issued upload ticket: the key it is for, and when its file was removed, if it was."""

    upload_id: str
    key: str
    removed: bool


class TicketRepository:
    """Upload tickets, in the metadata table (objectKey "upload#<uploadId>")."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(
        self, upload_id: str, key: str, content_type: str, now: datetime, also: Sequence[Any] = ()
    ) -> None:
        """Record a ticket just issued (expiring unless its file arrives), with the transaction
        items `also` in the same transaction."""
        item = to_item(
            {
                "objectKey": TICKET_PREFIX + upload_id,
                "key": key,
                "contentType": content_type,
                "issuedAt": iso_utc(now),
                "expiresAt": int((now + timedelta(seconds=TICKET_SECONDS)).timestamp()),
            }
        )
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(objectKey)",
        }
        if not also:
            self._client.put_item(**put)
            return
        if transact_write(self._client, [{"Put": put}, *also]) is not None:
            raise RuntimeError("a fresh upload id was taken: the id generator is broken")

    def get(self, upload_id: str, now: datetime) -> Ticket | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={"objectKey": {"S": TICKET_PREFIX + upload_id}},
            ConsistentRead=True,
        )
        item = from_item(response.get("Item", {}))
        expires = item.get("expiresAt")
        if "key" not in item or (expires is not None and expires < int(now.timestamp())):
            return None  # never issued, or unused and expired (TTL deletes it eventually)
        return Ticket(upload_id, item["key"], "removedAt" in item)


def _from_item(item: dict[str, Any]) -> UploadMetadata:
    plain = from_item(item)
    plain.pop("sequencer", None)
    return UploadMetadata.from_record(plain)


@dataclass(frozen=True)
class StoredObject:
    """An object opened for reading: its attributes and a stream of its bytes."""

    size: int
    content_type: str
    last_modified: datetime
    body: Any  # botocore StreamingBody: read(n), iter_chunks(), close()


class ObjectStore:
    """The uploads bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def open(self, bucket: str, key: str, etag: str | None) -> StoredObject | None:
        """The object as the event saw it; None when it is gone or has changed since (its
        own, later event will deal with it)."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            request["IfMatch"] = etag if etag.startswith('"') else f'"{etag}"'
        try:
            response = self._client.get_object(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "NoSuchKey",
                "404",
                "PreconditionFailed",
                "412",
            ):
                return None
            raise
        return StoredObject(
            size=response["ContentLength"],
            content_type=response.get("ContentType") or "application/octet-stream",
            last_modified=response["LastModified"],
            body=response["Body"],
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)

    def children(self, prefix: str) -> list[str]:
        """The keys of the objects directly under `prefix` (not deeper)."""
        paginator = self._client.get_paginator("list_objects_v2")
        return [
            listed["Key"]
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix, Delimiter="/")
            for listed in page.get("Contents", [])
        ]

    def presign_get(self, key: str, expires_in: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )

    def presign_put(self, key: str, content_type: str, size: int, expires_in: int) -> str:
        """A PUT URL whose signature covers the Content-Type and the Content-Length."""
        return self._client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size,
            },
            ExpiresIn=expires_in,
        )
