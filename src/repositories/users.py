"""Users in DynamoDB.

One table, partition key `userId`. Email uniqueness is enforced by DynamoDB itself: next to each
user item lives a claim item whose key is derived from the email (`userId = "email#<email>"`).
Creating a user puts both items in one transaction, each conditioned on not existing yet, so two
concurrent creates with one email cannot both succeed; deleting a user deletes both, so the email
is free again. Claim items carry `kind = "email"` and are never returned as users.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from src.core.clock import iso_utc
from src.core.errors import EmailAlreadyUsed, UserNotFound
from src.models.users import User
from src.repositories.dynamodb import from_item, to_attribute, to_item, transact_write

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

USER_KIND = "user"
EMAIL_CLAIM_KIND = "email"
EMAIL_CLAIM_PREFIX = "email#"
# The attributes an update may change: field -> expression attribute name.
UPDATABLE = {"name": "#name", "age": "#age"}


def _claim_key(email: str) -> dict[str, AttributeValueTypeDef]:
    return {"userId": {"S": EMAIL_CLAIM_PREFIX + email}}


def _to_item(user: User) -> dict[str, Any]:
    return to_item({**user.model_dump(mode="python"), "kind": USER_KIND})


def _from_item(item: dict[str, Any]) -> User:
    return User.model_validate(from_item(item))


class UserRepository:
    """Reads and writes users; every write is one conditional request or one transaction."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, user: User, also: Sequence[Any] = ()) -> None:
        """Store a new user, and the transaction items `also`, in one transaction;
        EmailAlreadyUsed when another user holds the email."""
        request: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item(user),
                    "ConditionExpression": "attribute_not_exists(userId)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_claim_key(user.email),
                        "kind": {"S": EMAIL_CLAIM_KIND},
                        "ownerId": {"S": user.userId},
                    },
                    # The claim: fails when any user already owns this email.
                    "ConditionExpression": "attribute_not_exists(userId)",
                }
            },
            *also,
        ]
        reasons = transact_write(self._client, request)
        if reasons is not None:
            if reasons[1].get("Code") == "ConditionalCheckFailed":
                raise EmailAlreadyUsed
            # The user id is a fresh UUID: its condition failing means a broken generator.
            raise RuntimeError(f"user creation cancelled: {reasons}")

    def get(self, user_id: str) -> User:
        """The user with this id; UserNotFound when there is none."""
        response = self._client.get_item(
            TableName=self._table, Key={"userId": {"S": user_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None or item.get("kind", {}).get("S") != USER_KIND:
            raise UserNotFound(user_id)
        return _from_item(item)

    def update(self, user_id: str, changes: Mapping[str, Any], updated_at: datetime) -> User:
        """Change an existing user's attributes in one conditional write: each of `changes`
        (name, age) is set to its value, or removed when its value is None."""
        assignments = ["updatedAt = :updatedAt"]
        removals = []
        values: dict[str, Any] = {
            ":updatedAt": to_attribute(iso_utc(updated_at)),
            ":user": to_attribute(USER_KIND),
        }
        names = {"#kind": "kind"}
        for field, value in changes.items():
            name = UPDATABLE[field]  # attribute names never come from a request
            names[name] = field
            if value is None:
                removals.append(name)
            else:
                assignments.append(f"{name} = :{field}")
                values[f":{field}"] = to_attribute(value)
        expression = "SET " + ", ".join(assignments)
        if removals:
            expression += " REMOVE " + ", ".join(removals)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"userId": {"S": user_id}},
                UpdateExpression=expression,
                # The user must exist (and be a user, not an email claim): no upsert.
                ConditionExpression="attribute_exists(userId) AND #kind = :user",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            raise UserNotFound(user_id) from exc
        return _from_item(response["Attributes"])

    def delete(self, user_id: str) -> None:
        """Delete the user and release their email, atomically; UserNotFound when absent."""
        user = self.get(user_id)
        reasons = transact_write(
            self._client,
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"userId": {"S": user_id}},
                        # Still the user read above: not deleted concurrently.
                        "ConditionExpression": "#kind = :user AND email = :email",
                        "ExpressionAttributeNames": {"#kind": "kind"},
                        "ExpressionAttributeValues": {
                            ":user": {"S": USER_KIND},
                            ":email": {"S": user.email},
                        },
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _claim_key(user.email),
                        "ConditionExpression": "ownerId = :owner",
                        "ExpressionAttributeValues": {":owner": {"S": user_id}},
                    }
                },
            ],
        )
        if reasons is not None:
            # Deleted (or replaced) concurrently since the read above.
            raise UserNotFound(user_id)

    def list_page(self, limit: int, after: str | None) -> tuple[list[User], str | None]:
        """Up to `limit` users after the user id `after`, and the id to resume after for the
        next page if there is one.

        Scan order is stable, so resuming after the last returned user's key visits every user
        exactly once across pages. One extra user is read to know whether another page exists,
        so the last page never comes with a position of an empty page.
        """
        users: list[User] = []
        for user in self._scan_users(after, batch=limit + 1):
            users.append(user)
            if len(users) > limit:
                return users[:limit], users[limit - 1].userId
        return users, None

    def _scan_users(self, start_user_id: str | None, batch: int) -> Iterator[User]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#kind = :user",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":user": {"S": USER_KIND}},
            # Claim items are about half the table and are filtered out after the read.
            "Limit": 2 * batch,
        }
        if start_user_id is not None:
            kwargs["ExclusiveStartKey"] = {"userId": {"S": start_user_id}}
        while True:
            response = self._client.scan(**kwargs)
            for item in response.get("Items", []):
                yield _from_item(item)
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            kwargs["ExclusiveStartKey"] = last_key
