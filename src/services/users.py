"""The users service: creating, reading, changing, listing and deleting users, for a caller.

An administrator may do all of it; a user may read and change the record of their own email
address, and another user's record is not found for them (its existence is not told)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from src.core.clock import utc_now
from src.core.errors import AdministratorsOnly, UserNotFound
from src.models.users import Caller, CreateUserRequest, UpdateUserRequest, User, UserPage
from src.services.cursors import open_cursor, seal


class UserStore(Protocol):
    """What the service needs from storage (UserRepository in production)."""

    def create(self, user: User, also: Sequence[Any] = ()) -> None: ...
    def get(self, user_id: str) -> User: ...
    def update(self, user_id: str, changes: Mapping[str, Any], updated_at: datetime) -> User: ...
    def delete(self, user_id: str) -> None: ...
    def list_page(self, limit: int, after: str | None) -> tuple[list[User], str | None]: ...


class UserService:
    def __init__(
        self,
        store: UserStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id

    def create_user(
        self,
        caller: Caller,
        request: CreateUserRequest,
        record: Callable[[User], Any] | None = None,
    ) -> User:
        """Create the user. `record` gives a write (a transaction item) to make with the user,
        atomically: the record of the response, for an Idempotency-Key."""
        _administrator(caller)
        user = User(
            userId=self._new_id(),
            email=request.email,
            name=request.name,
            age=request.age,
            createdAt=self._clock(),
        )
        self._store.create(user, also=() if record is None else (record(user),))
        return user

    def get_user(self, caller: Caller, user_id: str) -> User:
        user = self._store.get(user_id)
        if not caller.may_see(user):
            raise UserNotFound(user_id)
        return user

    def update_user(self, caller: Caller, user_id: str, request: UpdateUserRequest) -> User:
        if not caller.admin:
            # A user's email never changes, so the record read is the record changed.
            self.get_user(caller, user_id)
        # The fields the request gives; None (only age may be null) removes the attribute.
        return self._store.update(
            user_id, request.model_dump(exclude_unset=True), updated_at=self._clock()
        )

    def delete_user(self, caller: Caller, user_id: str) -> None:
        _administrator(caller)
        self._store.delete(user_id)

    def list_users(self, caller: Caller, limit: int, last_key: str | None) -> UserPage:
        _administrator(caller)
        after = open_cursor(last_key) if last_key else None
        users, last = self._store.list_page(limit, after)
        next_key = seal(last) if last else None
        return UserPage(users=users, count=len(users), nextKey=next_key)


def _administrator(caller: Caller) -> None:
    if not caller.admin:
        raise AdministratorsOnly
