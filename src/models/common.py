"""Models shared by every API route."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


def _is_none(value: Any) -> bool:
    return value is None


class ErrorBody(BaseModel):
    """Every error response: a message, and where useful the details and the request id."""

    error: str = Field(examples=["user 42 not found"])
    details: Any | None = Field(default=None, exclude_if=_is_none)
    requestId: str | None = Field(default=None, exclude_if=_is_none)
