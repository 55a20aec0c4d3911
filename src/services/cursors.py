"""Page cursors of `GET /users`: the user id after which the next page starts, written as 22
characters of base64url (the id's 16 bytes), so that clients treat it as opaque.

A cursor is not secret and not signed: it names a position in a listing that the caller may
read in full anyway, so any value of its shape (CURSOR_PATTERN, which the OpenAPI document
gives) is a position, and pages on from there.
"""

from __future__ import annotations

import base64
import re
import uuid

from src.core.errors import InvalidCursor
from src.models.users import CURSOR_PATTERN

_CURSOR = re.compile(CURSOR_PATTERN)


def seal(user_id: str) -> str:
    """The cursor of the position after `user_id` (a UUID, as every user id is)."""
    return base64.urlsafe_b64encode(uuid.UUID(user_id).bytes).decode().rstrip("=")


def open_cursor(cursor: str) -> str:
    """The user id inside `cursor`; InvalidCursor when it is not of the cursor's shape."""
    if not _CURSOR.fullmatch(cursor):
        raise InvalidCursor
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "==")))
