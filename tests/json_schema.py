"""JSON Schema as the published documents mean it, for tests that hold code and document side
by side: numbers read exactly (Decimal), JSON Schema's own "integer" (any number whose
fractional part is zero, 2.0 as well as 2), exact `multipleOf`, and ECMA-262's `$`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import email_validator
import jsonschema


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    # JSON Schema's patterns are ECMA-262 regular expressions, where $ ends the string; Python's
    # re (which jsonschema uses) also lets $ match before a final newline.
    if isinstance(instance, str) and not re.search(re.sub(r"\$$", r"\\Z", pattern), instance):
        yield jsonschema.ValidationError(f"does not match {pattern!r}")


def _exact_multiple(
    validator: Any, factor: Decimal, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if (
        validator.is_type(instance, "number")
        and (Fraction(instance) / Fraction(factor)).denominator != 1
    ):
        yield jsonschema.ValidationError(f"is not a multiple of {factor}")


def _integer(checker: Any, value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    )


_BASE = jsonschema.Draft202012Validator
_EXACT = jsonschema.validators.extend(
    _BASE,
    validators={"pattern": _ecma_pattern, "multipleOf": _exact_multiple},
    type_checker=_BASE.TYPE_CHECKER.redefine("integer", _integer),
)


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("email")
def _email(instance: object) -> bool:
    """RFC 5321's address syntax, as email-validator (the well-kept reading of it) checks it:
    jsonschema's own check only looks for an @."""
    if not isinstance(instance, str):
        return True
    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    try:
        email_validator.validate_email(instance, check_deliverability=False, strict=True)
    except email_validator.EmailNotValidError:
        return False
    return True


def exact_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator of `schema` (read with parse_float=Decimal), formats checked."""
    return _EXACT(schema, format_checker=_FORMATS)
