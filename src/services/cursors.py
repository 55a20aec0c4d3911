"""Page cursors that clients cannot forge: a position in a listing plus an HMAC over it.

A cursor is `<position>.<tag>`, both base64url: the tag is HMAC-SHA256 under the service's
secret key, truncated to 128 bits. The keys come from a callable (a SecureString parameter in
production), read only when a cursor is made or opened. The first key signs; every key verifies,
so a new key can be put in front of the old one and the old one dropped once the cursors it
signed have expired from clients' hands.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence

from src.core.errors import InvalidCursor

TAG_BYTES = 16
# Binds a tag to this use of the key: a cursor of another listing never verifies here.
PURPOSE = b"users-page-cursor:"


class PageCursors:
    def __init__(self, keys: Callable[[], Sequence[bytes]]) -> None:
        self._keys = keys

    def seal(self, position: str) -> str:
        """The cursor of `position` (the last key a page returned)."""
        payload = _encode(position.encode())
        return f"{payload}.{_encode(_tag(self._keys()[0], payload))}"

    def open(self, cursor: str) -> str:
        """The position inside `cursor`; InvalidCursor unless this service signed it."""
        payload, dot, tag = cursor.partition(".")
        if not dot or not payload:
            raise InvalidCursor
        try:
            given = _decode(tag)
            position = _decode(payload).decode()
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor from exc
        # Every key is checked, so the time taken says nothing about which one matched.
        matches = [hmac.compare_digest(given, _tag(key, payload)) for key in self._keys()]
        if not any(matches) or not position:
            raise InvalidCursor
        return position


def _tag(key: bytes, payload: str) -> bytes:
    return hmac.new(key, PURPOSE + payload.encode(), hashlib.sha256).digest()[:TAG_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
