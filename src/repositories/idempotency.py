"""Idempotency records in DynamoDB (partition key `idempotencyKey`: the caller's scope and the
key the client sent), one per key, expiring after RECORD_SECONDS (the table's TTL attribute
`expiresAt`; reads treat an expired record as absent, since TTL deletes it only eventually).

A record is claimed `in_progress` when a request starts, with the request's fingerprint and a
deadline (the invocation's); it becomes `completed`, holding the response, in the same write
as the request's effect where it has one (`completion`, a TransactWriteItems item). A claim
whose deadline has passed belongs to a crashed attempt and is taken over.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from src.repositories.dynamodb import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RECORD_SECONDS = 24 * 3600
IN_PROGRESS = "in_progress"
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first request answered: replayed to its repeats."""

    status: int
    body: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """The key is this request's to run."""


@dataclass(frozen=True, slots=True)
class Held:
    """The key is taken: by a completed request (`response`) or one still running (None)."""

    fingerprint: str
    response: StoredResponse | None
    deadline: datetime


type Claim = Claimed | Held


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


class IdempotencyRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def claim(self, key: str, fingerprint: str, now: datetime, deadline: datetime) -> Claim:
        """Mark the key in progress for this request until `deadline`, unless a live record
        holds it."""
        item = to_item(
            {
                "idempotencyKey": key,
                "state": IN_PROGRESS,
                "fingerprint": fingerprint,
                "deadline": _seconds(deadline),
                "expiresAt": _seconds(now + timedelta(seconds=RECORD_SECONDS)),
            }
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                # Free, expired, or held by an attempt whose invocation has ended.
                ConditionExpression=(
                    "attribute_not_exists(idempotencyKey) OR expiresAt < :now"
                    " OR (#state = :in_progress AND deadline < :now)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_item(
                    {":now": _seconds(now), ":in_progress": IN_PROGRESS}
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            held = from_item(exc.response.get("Item", {}))  # type: ignore[arg-type]
            response = None
            if held["state"] == COMPLETED:
                response = StoredResponse(int(held["status"]), held["body"], held["contentType"])
            return Held(
                held["fingerprint"],
                response,
                datetime.fromtimestamp(int(held["deadline"]), now.tzinfo),
            )
        return Claimed()

    def completion(self, key: str, fingerprint: str, response: StoredResponse) -> dict[str, Any]:
        """The TransactWriteItems item that records the response, for the transaction that
        makes the request's effect: it holds only while this request's claim does."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item({"idempotencyKey": key}),
                "UpdateExpression": (
                    "SET #state = :completed, #status = :status, body = :body,"
                    " contentType = :contentType"
                ),
                "ConditionExpression": "#state = :in_progress AND fingerprint = :fingerprint",
                "ExpressionAttributeNames": {"#state": "state", "#status": "status"},
                "ExpressionAttributeValues": to_item(
                    {
                        ":completed": COMPLETED,
                        ":in_progress": IN_PROGRESS,
                        ":fingerprint": fingerprint,
                        ":status": response.status,
                        ":body": response.body,
                        ":contentType": response.content_type,
                    }
                ),
            }
        }

    def complete(self, key: str, fingerprint: str, response: StoredResponse) -> None:
        """Record the response of a request whose effect was written without it."""
        update = self.completion(key, fingerprint, response)["Update"]
        # Refused only when taken over after this invocation's deadline: the later attempt
        # records its own.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(**update)

    def release(self, key: str, fingerprint: str) -> None:
        """Drop this request's claim (its attempt failed with no effect): a retry runs again."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.delete_item(
                TableName=self._table,
                Key=to_item({"idempotencyKey": key}),
                ConditionExpression="#state = :in_progress AND fingerprint = :fingerprint",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_item(
                    {":in_progress": IN_PROGRESS, ":fingerprint": fingerprint}
                ),
            )
