"""Users: API request and response models.

Requests reject unknown fields so that a client cannot smuggle attributes into storage.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
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

from src.core.access import ADMIN_SCOPE
from src.models.common import (
    BLANK_CLASS,
    INTEGRAL,
    REFUSED_CLASS,
    Timestamp,
    omit_none,
    pattern_rule,
    trim_blanks,
)

# RFC 5321 caps an address at 254 characters (and the part before the @ at 64).
MAX_EMAIL_LENGTH = 254


def _checked_address(value: str) -> str:
    """The address email-validator makes of `value`, checked for its syntax alone (no DNS, and
    its refusal of special-use domains such as `.test` dropped: the service sends no mail),
    with RFC 5321's lengths held (its strict mode)."""
    import email_validator  # noqa: PLC0415 - only requests that carry an email import it
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    try:
        return validate_email(value, check_deliverability=False, strict=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


def normalise_email(value: str) -> str:
    """The address as it is stored and claimed: checked as sent, then in NFKC with its case
    folded (fullwidth letters, ligatures and case make no second user), and checked again in
    that form, whose length is what is stored."""
    address = _checked_address(value)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())
    return _checked_address(folded)


# The syntax is `format: email` (RFC 5321's, which limits the part before the @ to 64
# characters), as email-validator reads it; no pattern restates it.
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_EMAIL_LENGTH),
    Field(
        examples=["ada@example.com"],
        description=(
            "An address (at most 64 characters before the @), compared and stored in NFKC with"
            " its case folded, so that `ADA@example.com` and `ａｄａ@example.com` are one"  # noqa: RUF001
            " address; one whose folded form is over the lengths is refused."
        ),
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(normalise_email),
]
# Blanks at either end (Unicode whitespace and invisible format characters) are trimmed, so a
# name of blanks alone is empty; control characters and bidirectional overrides are refused
# anywhere. The pattern is the whole rule, on the name as sent; its length too.
NAME_PATTERN = (
    f"^[{BLANK_CLASS}]*[^{BLANK_CLASS}{REFUSED_CLASS}]"
    f"(?:[^{REFUSED_CLASS}]*[^{BLANK_CLASS}{REFUSED_CLASS}])?[{BLANK_CLASS}]*$"
)
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    *pattern_rule(
        NAME_PATTERN,
        "should hold a character other than whitespace and invisible ones, and no control"
        " characters or bidirectional overrides",
    ),
    Field(
        examples=["Ada Lovelace"],
        description=(
            "Stored without the whitespace and invisible characters at either end; control"
            " characters and bidirectional overrides are refused"
        ),
    ),
    AfterValidator(trim_blanks),
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


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a request: an administrator, who may read and change every user, or a user,
    who may read and change the record of their own email address only."""

    admin: bool
    email: str | None = None

    @classmethod
    def from_claims(cls, claims: dict[str, object] | None) -> Caller:
        """The caller an authorizer's token claims name. No claims: an API deployed without an
        authorizer (the local stack, or a development stack opened on purpose), where every
        caller may do everything."""
        if not claims:
            return cls(admin=True)
        scopes = str(claims.get("scope") or "").split()
        try:
            email = normalise_email(str(claims.get("email") or ""))
        except ValueError:
            email = None
        return cls(admin=ADMIN_SCOPE in scopes, email=email)

    def may_see(self, user: User) -> bool:
        if self.admin:
            return True
        if self.email is None:
            return False
        # An address stored before emails were folded (lower case only) is folded here.
        try:
            return self.email in (user.email, normalise_email(user.email))
        except ValueError:
            return False
