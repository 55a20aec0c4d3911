"""Model pieces shared across the API and the messages: timestamps, optional fields, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from src.core.clock import iso_utc


def omit_none(value: Any) -> bool:
    """For `Field(exclude_if=omit_none)`: an unset optional attribute is left out, not null."""
    return value is None


def _integral(value: object) -> object:
    """36.0 as 36: JSON does not tell 36 from 36.0, and JSON Schema's integer admits both.
    Strings and booleans stay refused (StrictInt)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer in a JSON body: Annotated[StrictInt, Field(ge=..., le=...), INTEGRAL]. The
# validator comes last so that it runs first, and the bounds stay in the JSON schema.
INTEGRAL = BeforeValidator(_integral)


# ISO 8601 in UTC to the millisecond, e.g. 2026-01-31T12:00:00.000Z.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str),
    Field(json_schema_extra={"format": "date-time"}),
]


class ErrorBody(BaseModel):
    """Every error response: a message, and where useful the details and the request id."""

    model_config = ConfigDict(defer_build=True)

    error: str = Field(examples=["user 42 not found"])
    details: Any | None = Field(default=None, exclude_if=omit_none)
    requestId: str | None = Field(default=None, exclude_if=omit_none)
