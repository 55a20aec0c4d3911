"""UserRepository against DynamoDB (moto, table from template.yaml): the stored items and the
conditions that keep them right."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from src.core.errors import EmailAlreadyUsed, UserNotFound
from src.models.users import User
from src.repositories.users import UserRepository

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def user(user_id: str = "u-1", email: str = "ada@example.com", age: int | None = 36) -> User:
    return User(userId=user_id, email=email, name="Ada", age=age, createdAt=NOW)


@pytest.fixture
def repository(dynamodb: Any, users_table: str) -> UserRepository:
    return UserRepository(dynamodb, users_table)


def test_create_stores_the_user_and_a_claim_on_the_email(
    repository: UserRepository, dynamodb: Any, users_table: str
) -> None:
    repository.create(user())

    items = {item["userId"]["S"]: item for item in dynamodb.scan(TableName=users_table)["Items"]}
    assert set(items) == {"u-1", "email#ada@example.com"}
    assert items["u-1"]["age"] == {"N": "36"}
    assert items["email#ada@example.com"]["ownerId"] == {"S": "u-1"}
    assert repository.get("u-1") == user()


def test_a_second_user_with_the_email_is_refused_and_nothing_is_written(
    repository: UserRepository, dynamodb: Any, users_table: str
) -> None:
    repository.create(user())

    with pytest.raises(EmailAlreadyUsed):
        repository.create(user("u-2"))

    assert dynamodb.scan(TableName=users_table)["Count"] == 2
    with pytest.raises(UserNotFound):
        repository.get("u-2")


def test_update_of_a_missing_user_creates_nothing(
    repository: UserRepository, dynamodb: Any, users_table: str
) -> None:
    with pytest.raises(UserNotFound):
        repository.update("ghost", {"name": "x"}, updated_at=NOW)

    assert dynamodb.scan(TableName=users_table)["Count"] == 0


def test_delete_removes_the_user_and_the_claim(
    repository: UserRepository, dynamodb: Any, users_table: str
) -> None:
    repository.create(user())

    repository.delete("u-1")

    assert dynamodb.scan(TableName=users_table)["Count"] == 0
    with pytest.raises(UserNotFound):
        repository.delete("u-1")


def test_list_page_skips_claims_and_pages_without_overlap(repository: UserRepository) -> None:
    for index in range(7):
        repository.create(user(f"u-{index}", f"user{index}@example.com"))

    first, after = repository.list_page(4, None)
    second, last = repository.list_page(4, after)

    assert len(first) == 4
    assert len(second) == 3
    assert last is None
    assert {u.userId for u in first} | {u.userId for u in second} == {f"u-{i}" for i in range(7)}
