"""The domain error hierarchy. Services and repositories raise these; each entry point maps them
to its own protocol in one place (HTTP statuses in the API handler)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


class DomainError(Exception):
    """The root of every refusal: a request or event the service refuses. Its message (and its
    details, where it has them) is safe to show to the client."""

    details: object = None
    # Response headers the refusal asks for (Retry-After, say).
    headers: Mapping[str, str] = MappingProxyType({})


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Conflict(DomainError):
    """The request contradicts the current state."""


class Forbidden(DomainError):
    """The caller may not do this, whatever the state."""


class AdministratorsOnly(Forbidden):
    def __init__(self) -> None:
        super().__init__("only an administrator may do this")


class InvalidRequest(DomainError):
    """The request is malformed: its input does not validate, or it is a bad cursor."""


class RequestValidationFailed(InvalidRequest):
    def __init__(self, problems: list[dict[str, object]]) -> None:
        super().__init__("request validation failed")
        self.details = problems


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key already used with another request."""

    def __init__(self, header: str) -> None:
        super().__init__(f"this {header} was used with another request")


class RequestStillRunning(Conflict):
    """The first request with this Idempotency-Key has not finished yet."""

    def __init__(self, header: str, retry_after: int) -> None:
        super().__init__(f"a request with this {header} is still running; retry later")
        self.headers = {"Retry-After": str(retry_after)}


class BodyTooLarge(InvalidRequest):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")


class UnsupportedMediaType(InvalidRequest):
    def __init__(self, expected: str) -> None:
        super().__init__(f"send the body as {expected}")


class UserNotFound(NotFound):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id} not found")
        self.user_id = user_id


class EmailAlreadyUsed(Conflict):
    def __init__(self) -> None:
        super().__init__("email already used by another user")


class InvalidCursor(InvalidRequest):
    def __init__(self) -> None:
        super().__init__("lastKey is not a cursor")


class OrderNotFound(NotFound):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class UploadNotFound(NotFound):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"upload {upload_id} not found")


class OrderEventNotApplicableYet(DomainError):
    """The event needs an order that has not been created yet: redelivery will resolve it."""


class OrderEventRejected(DomainError):
    """The event can never apply: it belongs in the DLQ, with its reason and the rule it broke
    (one of REJECTION_RULES)."""

    def __init__(self, reason: str, rule: str) -> None:
        super().__init__(reason)
        self.rule = rule


# Why an order event is rejected: the rule it breaks.
REJECTION_RULES = {
    "invalid-message": "not a valid order event by the published schema",
    "order-exists": "a creation of an order that exists with other content",
    "order-cancelled": "a change to a cancelled order (cancellation is final)",
    "status-backwards": "a status that moves back",
    "event-id-reused": "an eventId already applied with other content",
}


class InvalidOrderMessage(OrderEventRejected):
    """The message is not a valid order event (not JSON, unknown type, schema violation)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "invalid-message")


class ServiceMisconfigured(RuntimeError):
    """The deployment lacks something the service needs (a secret, say): a 500, logged."""
