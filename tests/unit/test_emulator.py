"""The local stack's emulator (devtools/local/emulator.py) keeps DynamoDB's guarantees where moto
alone does not: concurrent transactions neither fail with a 5xx nor lose an acknowledged write
nor let two users share an email; a cancelled transaction puts back only what it touched; a
repeated ClientRequestToken succeeds without applying twice, as DynamoDB's does."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devtools.local.emulator import Emulator
from devtools.resources import free_port
from devtools.template import create_table_request, resources_of_type
from src.core.errors import EmailAlreadyUsed
from src.models.users import User
from src.repositories.users import UserRepository

TABLE = "users"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    emulator = Emulator(port)
    yield f"http://127.0.0.1:{port}"
    emulator.stop()


@pytest.fixture
def dynamodb(endpoint: str) -> Iterator[Any]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        # No SDK retries: an emulator fault must show, not be retried away.
        config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=32),
    )
    table = f"{TABLE}-{uuid.uuid4().hex[:8]}"
    client.create_table(
        **create_table_request(resources_of_type("AWS::DynamoDB::Table")["UsersTable"], table)
    )
    client.table = table  # type: ignore[attr-defined]
    yield client
    client.delete_table(TableName=table)


def _user(email: str) -> User:
    return User(
        userId=str(uuid.uuid4()), email=email, name="N", createdAt=datetime.now(UTC).isoformat()
    )


def test_concurrent_creates_keep_every_acknowledged_user_and_one_user_per_email(
    dynamodb: Any,
) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    repository = UserRepository(dynamodb, dynamodb.table)
    # Users already there: moto's own transactions copy the whole table, widening its races.
    for i in range(500):
        repository.create(_user(f"earlier{i}@example.com"))
    emails = [f"user{i}@example.com" for i in range(40)]
    attempts = [rng.choice(emails) for _ in range(400)]
    acknowledged: list[User] = []
    lock = threading.Lock()

    def create(email: str) -> None:
        user = _user(email)
        try:
            repository.create(user)
        except EmailAlreadyUsed:
            return
        with lock:
            acknowledged.append(user)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, attempts))  # an emulator 5xx raises here

    assert sorted(user.email for user in acknowledged) == sorted(set(attempts))
    for user in acknowledged:
        assert repository.get(user.userId).email == user.email


def test_a_cancelled_transaction_puts_back_only_what_it_touched(dynamodb: Any) -> None:
    table = dynamodb.table
    for name in ("kept", "touched"):
        dynamodb.put_item(TableName=table, Item={"userId": {"S": name}, "v": {"N": "1"}})
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"userId": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"userId": {"S": "touched"}},
                        "UpdateExpression": "SET v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"userId": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(userId)",
                    }
                },
            ]
        )
    items = dynamodb.scan(TableName=table)["Items"]
    assert sorted((item["userId"]["S"], item["v"]["N"]) for item in items) == [
        ("kept", "1"),
        ("touched", "1"),
    ]


def test_a_repeated_client_request_token_succeeds_without_applying_again(dynamodb: Any) -> None:
    table = dynamodb.table
    put = {
        "Put": {
            "TableName": table,
            "Item": {"userId": {"S": "once"}},
            "ConditionExpression": "attribute_not_exists(userId)",
        }
    }
    dynamodb.transact_write_items(TransactItems=[put], ClientRequestToken="token-1")
    # Its condition would now fail: a replay is answered from the token, as DynamoDB does.
    dynamodb.transact_write_items(TransactItems=[put], ClientRequestToken="token-1")
    assert dynamodb.scan(TableName=table)["Count"] == 1
    other = {"Put": {"TableName": table, "Item": {"userId": {"S": "other"}}}}
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[other], ClientRequestToken="token-1")
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    # Without the token (or with another), the condition applies.
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        dynamodb.transact_write_items(TransactItems=[put], ClientRequestToken="token-2")
