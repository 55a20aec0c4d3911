"""Model pieces shared across the API and the messages: timestamps, optional fields, errors."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from src.core.clock import iso_utc


def omit_none(value: Any) -> bool:
    """For `Field(exclude_if=omit_none)`: an unset optional attribute is left out, not null."""
    return value is None


# The most digits an integral JSON number is read as an integer with: far beyond any bound
# the models set, and short of building a huge integer from 1E+999999999.
_INTEGRAL_DIGITS = 30


def _integral(value: object) -> object:
    """36.0 as 36: JSON does not tell 36 from 36.0, and JSON Schema's integer admits both.
    Bodies are read with their numbers exact (Decimal), so 1e-400 stays the fraction it is.
    Strings and booleans stay refused (StrictInt)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
        and value.adjusted() < _INTEGRAL_DIGITS
    ):
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


def _code_points(ranges: list[tuple[int, int]]) -> str:
    return "".join(chr(point) for low, high in ranges for point in range(low, high + 1))


def _regex_class(ranges: list[tuple[int, int]]) -> str:
    """`ranges` as a character class body that ECMA-262 (JSON Schema's dialect), Rust's regex
    (pydantic's) and Python's re read alike: code points, never \\s."""
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


# Blank at either end of a name or an email address: Unicode whitespace (White_Space), and the
# format characters that show nothing (soft hyphen, zero-width characters, direction marks, word
# joiners, the byte order mark). A name is trimmed of them; a file name may not begin or end with
# one.
_BLANK = [
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0xAD, 0xAD),
    (0x61C, 0x61C),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x2064),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
]
# Refused anywhere in a name or a file name: C0 and C1 control characters, and the
# bidirectional embeddings, overrides and isolates, which reorder what a reader sees.
_REFUSED = [(0x00, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069)]

BLANK_CHARACTERS = _code_points(_BLANK)
BLANK_CLASS = _regex_class(_BLANK)
REFUSED_CLASS = _regex_class(_REFUSED)


def trim_blanks(value: str) -> str:
    return value.strip(BLANK_CHARACTERS)


def pattern_rule(pattern: str, refusal: str) -> tuple[AfterValidator, Any]:
    """A string's rule as a regular expression: the OpenAPI document states `pattern`, and a
    value it does not match is refused with `refusal`, words a client reads (the pattern
    itself is no message)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise ValueError(refusal)
        return value

    return AfterValidator(check), Field(json_schema_extra={"pattern": pattern})
