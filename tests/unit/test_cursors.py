"""Page cursors: signed so that a client cannot forge one, keys read only when needed and
rotatable, and the SecureString they come from read through a cache."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.core.errors import InvalidCursor, ServiceMisconfigured
from src.repositories.parameters import SecureStringKeys
from src.services.cursors import PageCursors

OLD = b"o" * 32
NEW = b"n" * 32


def cursors(*keys: bytes) -> PageCursors:
    return PageCursors(lambda: list(keys))


def test_a_cursor_opens_to_its_position() -> None:
    assert cursors(NEW).open(cursors(NEW).seal("user-7")) == "user-7"


def test_a_cursor_signed_under_another_key_is_rejected() -> None:
    with pytest.raises(InvalidCursor):
        cursors(NEW).open(cursors(OLD).seal("user-7"))


def test_a_genuine_tag_on_another_position_is_rejected() -> None:
    genuine = cursors(NEW).seal("user-7")
    other_position = cursors(NEW).seal("user-8").split(".")[0]

    with pytest.raises(InvalidCursor):
        cursors(NEW).open(f"{other_position}.{genuine.split('.')[1]}")


@given(st.text(max_size=200))
def test_arbitrary_text_is_never_a_cursor(text: str) -> None:
    with pytest.raises(InvalidCursor):
        cursors(NEW).open(text)


def test_after_a_rotation_old_cursors_still_open_and_new_ones_use_the_new_key() -> None:
    issued_before = cursors(OLD).seal("user-7")
    rotated = cursors(NEW, OLD)

    assert rotated.open(issued_before) == "user-7"
    assert cursors(NEW).open(rotated.seal("user-8")) == "user-8"


def test_keys_are_read_only_for_pages_that_need_a_cursor(users_table: str) -> None:
    from src.models.users import CreateUserRequest
    from src.repositories.users import UserRepository
    from src.services.users import UserService

    reads: list[int] = []

    def keys() -> list[bytes]:
        reads.append(1)
        return [NEW]

    service = UserService(UserRepository(boto3.client("dynamodb"), users_table), PageCursors(keys))
    service.create_user(CreateUserRequest(email="ada@example.com", name="Ada"))

    assert service.list_users(20, None).nextKey is None
    assert reads == []
    service.create_user(CreateUserRequest(email="bob@example.com", name="Bob"))
    next_key = service.list_users(1, None).nextKey
    assert next_key is not None
    assert len(service.list_users(1, next_key).users) == 1
    assert len(reads) == 2


@pytest.fixture
def ssm(aws: None) -> Any:
    return boto3.client("ssm")


def test_keys_come_from_the_secure_string_signing_key_first(ssm: Any) -> None:
    ssm.put_parameter(Name="/k", Type="SecureString", Value=f"{NEW.decode()}, {OLD.decode()}")

    assert SecureStringKeys(lambda: ssm, "/k")() == [NEW, OLD]


def test_the_parameter_is_cached_for_max_age(ssm: Any) -> None:
    ssm.put_parameter(Name="/k", Type="SecureString", Value=OLD.decode())
    cached = SecureStringKeys(lambda: ssm, "/k", max_age=300)
    uncached = SecureStringKeys(lambda: ssm, "/k", max_age=0)
    cached()
    uncached()

    ssm.put_parameter(Name="/k", Type="SecureString", Value=NEW.decode(), Overwrite=True)

    assert cached() == [OLD]
    assert uncached() == [NEW]


@pytest.mark.parametrize("value", ["short", " , ", f"{NEW.decode()},tiny"])
def test_a_parameter_without_strong_keys_is_a_misconfiguration(ssm: Any, value: str) -> None:
    ssm.put_parameter(Name="/k", Type="SecureString", Value=value)

    with pytest.raises(ServiceMisconfigured):
        SecureStringKeys(lambda: ssm, "/k", max_age=0)()
