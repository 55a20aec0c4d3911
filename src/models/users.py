"""Users: API request and response models.

Requests reject unknown fields so that a client cannot smuggle attributes into storage.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from src.models.common import INTEGRAL, Timestamp, omit_none

# RFC 5321 caps an address at 254 characters.
MAX_EMAIL_LENGTH = 254


def normalise_email(value: str) -> str:
    """Validate the address's syntax (no DNS lookups) and return it in lower case.

    email-validator is imported here, not at module import: only requests that carry an email
    pay for its import. Its refusal of special-use domains (`.test`, `.local`...) is dropped:
    the service sends no mail, so an address is checked for its syntax alone, which is what
    the OpenAPI document's `format: email` promises.
    """
    import email_validator  # noqa: PLC0415
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return checked.normalized.lower()


Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=MAX_EMAIL_LENGTH,
        examples=["ada@example.com"],
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(normalise_email),
]
# Surrounding whitespace is dropped, so "   " is an empty (invalid) name.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"\S"),
    Field(examples=["Ada Lovelace"]),
]


Age = Annotated[StrictInt, Field(ge=0, le=150, examples=[36]), INTEGRAL]


class CreateUserRequest(BaseModel):
    """Body of `POST /users`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    email: Email
    name: Name
    age: Age | None = None


class UpdateUserRequest(BaseModel):
    """Body of `PUT /users/{userId}`: only the fields given change; `"age": null` removes age."""

    model_config = ConfigDict(
        extra="forbid", defer_build=True, json_schema_extra={"minProperties": 1}
    )

    # null is refused below; the document says so by not offering it.
    name: Name | SkipJsonSchema[None] = None
    age: Age | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateUserRequest:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, age")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class User(BaseModel):
    """A user as the API returns it. Optional attributes are omitted, not null."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    userId: str = Field(examples=["3f1c2a9e-8d4b-4a51-9a43-0c6f1e2b7d10"])
    email: str
    name: str
    age: int | None = Field(default=None, exclude_if=omit_none)
    createdAt: Timestamp
    updatedAt: Timestamp | None = Field(default=None, exclude_if=omit_none)


class UserPage(BaseModel):
    """Body of `GET /users`: pass `nextKey` back as `lastKey` for the next page."""

    model_config = ConfigDict(defer_build=True)

    users: list[User]
    count: int
    nextKey: str | None = Field(default=None, exclude_if=omit_none)


UserId = Annotated[str, Field(min_length=1, max_length=128, description="The user's id")]


class UserPath(BaseModel):
    """Path of `/users/{userId}`."""

    model_config = ConfigDict(defer_build=True)

    userId: UserId


# A cursor is a user id's 16 bytes in base64url: 21 characters, then one whose low four bits
# are zero (the 128th bit ends in it).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{21}[AQgw]$"


def _plain_digits(value: object) -> object:
    """An integer of a query string written as plain digits: Python would also read 5_0, +5,
    " 5" and 1.0, which a URL's integer is not."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("should be written as plain digits")
    return value


class ListUsersQuery(BaseModel):
    """Query of `GET /users`: parameters it does not name are refused."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    limit: Annotated[int, BeforeValidator(_plain_digits)] = Field(
        default=20, ge=1, le=100, description="Users per page"
    )
    lastKey: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = Field(
        default=None,
        description="`nextKey` of the previous page; any value of this shape is a position",
    )
