"""The Idempotency-Key header (IETF draft "The Idempotency-Key HTTP Header Field", with Stripe's
semantics) for the routes that create something.

The first request with a key runs, and its response is kept for 24 hours with a fingerprint of
the request (method, path, body). A repeat with the same key and request gets that response
again with `Idempotent-Replayed: true` and changes nothing; the same key with another request
gets 422; while the first still runs, 409 with Retry-After. Server errors (5xx) are not kept: a
retry runs again. Keys are scoped to the caller, the token's subject. A request that validates
runs under the key; one that does not is refused (400) without touching it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from src.core.errors import IdempotencyKeyReused, InvalidRequest, RequestStillRunning
from src.repositories.idempotency import Claim, Claimed, StoredResponse

if TYPE_CHECKING:
    from pydantic import BaseModel

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# 1 to 255 visible ASCII characters.
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(KEY_PATTERN)
# What the OpenAPI document says of a route that takes the header.
HEADER_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes the request safe to retry: a repeat within 24 hours gets the first response"
        " again (with Idempotent-Replayed: true) and changes nothing."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": KEY_PATTERN,
    },
}
SUCCESS_HEADERS = {
    REPLAYED_HEADER: {
        "description": "Present on a repeat of an Idempotency-Key: the first response, replayed",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
# 409: a request with the key is still running (with Retry-After); 422: the key was used with
# another request.
DOCUMENTED = (HTTPStatus.CONFLICT, HTTPStatus.UNPROCESSABLE_ENTITY)


class KeyStore(Protocol):
    def claim(self, key: str, fingerprint: str, now: datetime, deadline: datetime) -> Claim: ...
    def completion(
        self, key: str, fingerprint: str, response: StoredResponse
    ) -> dict[str, Any]: ...
    def complete(self, key: str, fingerprint: str, response: StoredResponse) -> None: ...
    def release(self, key: str, fingerprint: str) -> None: ...


def requested_key(event: Mapping[str, Any]) -> str | None:
    """The request's Idempotency-Key; None without one. InvalidRequest for a malformed one."""
    headers = event.get("headers") or {}
    values = [value for name, value in headers.items() if str(name).lower() == HEADER.lower()]
    if not values:
        return None
    value = values[0]
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters")
    return value


def caller(event: Mapping[str, Any]) -> str:
    """Whose key it is: the token's subject (every deployed stack); "" where the API is open."""
    context = event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    return str(claims.get("sub") or "")


def _number(value: object) -> object:
    """A body's number (read as Decimal) in the fingerprint: an integer as a JSON integer,
    anything else as its digits."""
    if isinstance(value, Decimal) and value == value.to_integral_value() and value.adjusted() < 30:
        return int(value)
    return str(value)


@dataclass
class KeyedRequest:
    """One request under an Idempotency-Key."""

    store: KeyStore
    key: str  # the caller's scope and the client's key
    fingerprint: str
    # Set when the route asked for the item that records its response with its effect.
    completion_issued: bool = False

    @classmethod
    def of(cls, store: KeyStore, event: Mapping[str, Any], key: str, document: Any) -> KeyedRequest:
        # The key has no space (visible ASCII only), so the last space ends the scope.
        scoped = f"{caller(event)} {key}"
        canonical = json.dumps(
            [event.get("httpMethod"), event.get("path"), document],
            sort_keys=True,
            separators=(",", ":"),
            default=_number,
        )
        return cls(store, scoped, hashlib.sha256(canonical.encode()).hexdigest())

    def claim(self, now: datetime, deadline: datetime) -> StoredResponse | None:
        """None when this request is to run; else the kept response to replay.
        IdempotencyKeyReused (422) when the key came with another request, RequestStillRunning
        (409, Retry-After) while that request runs."""
        held = self.store.claim(self.key, self.fingerprint, now, deadline)
        if isinstance(held, Claimed):
            return None
        if held.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(HEADER)
        if held.response is None:
            wait = max(1, math.ceil((held.deadline - now).total_seconds()))
            raise RequestStillRunning(HEADER, wait)
        return held.response

    def completion(self, status: int, body: str, content_type: str) -> dict[str, Any]:
        """The item recording this response, for the transaction that writes the effect."""
        self.completion_issued = True
        return self.store.completion(
            self.key, self.fingerprint, StoredResponse(status, body, content_type)
        )

    def finish(self, status: int, body: str, content_type: str, *, succeeded: bool) -> None:
        """Keep the response for the repeats (not a 5xx: a retry runs again). A route that
        succeeded after asking for `completion` has recorded it with its effect already."""
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            self.store.release(self.key, self.fingerprint)
        elif not (succeeded and self.completion_issued):
            self.store.complete(
                self.key, self.fingerprint, StoredResponse(status, body, content_type)
            )

    def abandon(self) -> None:
        """The request failed: its claim goes, unless its record was written with its effect
        (an error after the commit), in which case the record stays and is replayed."""
        self.store.release(self.key, self.fingerprint)


def recorded_with(
    request: KeyedRequest | None, status: int
) -> Callable[[BaseModel], dict[str, Any]] | None:
    """For a route that makes its effect in one transaction: what gives the item recording its
    response (the model it returns, with `status`) in that transaction; None without a key."""
    if request is None:
        return None
    keyed = request

    def record(model: BaseModel) -> dict[str, Any]:
        return keyed.completion(status, model.model_dump_json(), "application/json")

    return record
