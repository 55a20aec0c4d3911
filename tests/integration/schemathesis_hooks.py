"""schemathesis hooks for the acceptance suite's run (SCHEMATHESIS_HOOKS).

schemathesis treats each request it sends as a request of its own, and its stateful checks
expect a 201 to stand for a resource just made. It draws Idempotency-Key values from a small
space, so two requests of different test cases often share a key, and the second would be a
replay of the first (a 201 for a user deleted since, or a 422 for another body): right for the
API, wrong for what the checks assume. As a client does for a new request, each valid key is
made unique here; invalid keys are sent as drawn (they must get their 400). Replays, 409 and 422
are tested in tests/integration/test_api_idempotency.py and the acceptance suite.

A negative case can also lose its violation on the way to the wire: a query parameter drawn as
a list of empty lists and objects is sent as nothing, one drawn as a one-element list as that
element. When the API accepts such a request, schemathesis reports the schema-violating data it
drew as accepted (ST201), though the request sent was valid. That report is dropped when the
request the API received, read from its URL, is valid by the document; any other is kept.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import schemathesis
from jsonschema import Draft202012Validator
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation

HEADER = "idempotency-key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
SUFFIX_LENGTH = 33  # "." and 32 hex digits


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    for name, value in list((case.headers or {}).items()):
        if name.lower() == HEADER and isinstance(value, str) and VALID_KEY.fullmatch(value):
            case.headers[name] = f"{value[: 255 - SUFFIX_LENGTH]}.{uuid.uuid4().hex}"


@schemathesis.hook
def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """False (drop) for an ST201 whose violation was in the query alone and did not reach the
    API: the query it received is valid by the document."""
    if not isinstance(failure, AcceptedNegativeData) or case.meta is None:
        return True
    negative = {location for location in ParameterLocation if case.meta.is_negative_at(location)}
    if negative != {ParameterLocation.QUERY}:
        return True
    parameters = [parameter.definition for parameter in case.operation.query]
    return not query_is_valid(parameters, urlsplit(response.request.url).query)


def query_is_valid(parameters: Iterable[dict[str, Any]], query: str) -> bool:
    """Whether `query`, a URL's query string, is valid by the OpenAPI `parameters` (in: query):
    only documented names, each at most once, every required one present, and each value valid
    by its schema (as a string, or as an integer where it is written as one)."""
    sent: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        sent.setdefault(name, []).append(value)
    documented = {parameter["name"]: parameter for parameter in parameters}
    if set(sent) - set(documented):
        return False
    for name, parameter in documented.items():
        values = sent.get(name, [])
        if len(values) > 1 or (not values and parameter.get("required", False)):
            return False
        if values and not _valid(parameter.get("schema", {}), values[0]):
            return False
    return True


def _valid(schema: dict[str, Any], value: str) -> bool:
    validator = Draft202012Validator(schema)
    readings: list[object] = [value]
    if re.fullmatch(r"-?[0-9]+", value):
        readings.append(int(value))
    return any(validator.is_valid(reading) for reading in readings)
