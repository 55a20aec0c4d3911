"""The OpenAPI document is the truth in both directions: a request body its schema refuses, the
API refuses with a 400 naming the field, and one its schema admits, the API takes. Edge values
(blanks, controls and overrides in names and file names, emails by their parts and their
Unicode forms, numbers at the edges of JSON) and drawn names go to the API handler (moto,
in-process) and to the document it serves, read as JSON Schema means it."""

# ruff: noqa: RUF001 - fullwidth letters and ligatures are the cases under test

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.models.common import BLANK_CHARACTERS
from tests.conftest import ApiClient
from tests.json_schema import exact_validator

NAME = "Ada Lovelace"
EMAIL = "ada@example.com"

# (field, JSON text of its value): every one once in a create body, and names in an update.
EDGES = (
    [
        ("name", json.dumps(value))
        for value in [
            "\x00",
            "\x1b",
            "\u202e",
            "\ufeff",
            "\u3000",
            "\u200b",
            "x" * 200,
            "x" * 200 + " ",
            " " + "x" * 199,
            " Ada ",
            "\u3000Ada\ufeff",
            "\u00a0Ada\u2060",
            "Ada\tLovelace",
            "Ada\nLovelace",
            "Ada\u202eecalevoL",
            "Ada\u2067Lovelace",
            "A\u200dB",
            "Ada\u0085",
            "Ada\x85L",
            "Zoë",
            "\U0001f600",
        ]
    ]
    + [
        ("email", json.dumps(value))
        for value in [
            "a" * 64 + "@example.com",
            "a" * 65 + "@example.com",
            "ｂｏｂ@example.com",
            "ｂｏｂ＠example.com",
            "ﬁ@example.com",
            " ada@example.com\u3000",
            "\ufeffada@example.com",
            "ada@@example.com",
            "ada",
            "a@" + "b" * 250 + ".com",
        ]
    ]
    + [
        ("age", text)
        for text in [
            "36",
            "36.0",
            "36.5",
            "1e-400",
            "-0",
            "0.0",
            "1.5e2",
            "150",
            "151",
            "1E+999999999",
        ]
    ]
)

FILENAMES = [
    "holiday.png",
    "holiday photo.png",
    " holiday.png",
    "holiday.png ",
    "holiday.png\u3000",
    "\ufeffholiday.png",
    "holiday\u3000photo.png",
    "holiday\u202egnp.exe",
    "holiday\x85.png",
    "holiday\u200d.png",
    ".holiday.png",
    "a/b.png",
    "a\\b.png",
]


def _body(field: str, text: str, fields: dict[str, Any]) -> str:
    """A JSON object of `fields` with `field` written as `text`, exactly."""
    pairs = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items()]
    return "{" + ", ".join([*pairs, f"{json.dumps(field)}: {text}"]) + "}"


def _schema(api: ApiClient, component: str) -> Any:
    document = api.request("GET", "/openapi.json").body
    return exact_validator(
        {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    )


def _verdict(response: Any, field: str) -> bool:
    """Whether the API took the body; a refusal must be a 400 naming the field."""
    if response.status == 400:
        fields = {problem["loc"][0] for problem in response.body["details"]}
        assert fields == {field}, (response.body, field)
        return False
    assert response.status in (200, 201), (response.status, response.body)
    return True


def _document_verdict(validator: Any, body: str) -> bool:
    return validator.is_valid(json.loads(body, parse_float=Decimal))


@pytest.mark.parametrize(("field", "text"), EDGES, ids=[f"{f}={t[:24]}" for f, t in EDGES])
def test_a_create_edge_value_is_taken_exactly_when_the_document_admits_it(
    api: ApiClient, field: str, text: str
) -> None:
    fields = {"email": EMAIL, "name": NAME, "age": 36}
    body = _body(field, text, {k: v for k, v in fields.items() if k != field})
    document = _document_verdict(_schema(api, "CreateUserRequest"), body)
    response = api.request("POST", "/users", raw_body=body)
    assert _verdict(response, field) == document, body


@pytest.mark.parametrize("text", [t for f, t in EDGES if f in ("name", "age")])
def test_an_update_edge_value_is_taken_exactly_when_the_document_admits_it(
    api: ApiClient, text: str
) -> None:
    user = api.request("POST", "/users", {"email": EMAIL, "name": NAME}).body
    field = "name" if text.startswith('"') else "age"
    body = _body(field, text, {})
    document = _document_verdict(_schema(api, "UpdateUserRequest"), body)
    response = api.request("PUT", f"/users/{user['userId']}", raw_body=body)
    assert _verdict(response, field) == document, body


@pytest.mark.parametrize("filename", FILENAMES)
def test_a_file_name_is_taken_exactly_when_the_document_admits_it(
    api: ApiClient, uploads_bucket: str, metadata_table: str, filename: str
) -> None:
    body = json.dumps({"filename": filename, "contentType": "image/png", "size": 10})
    document = _document_verdict(_schema(api, "UploadRequest"), body)
    response = api.request("POST", "/uploads", raw_body=body)
    assert _verdict(response, "filename") == document, filename


def test_names_are_stored_without_their_blanks(api: ApiClient) -> None:
    created = api.request(
        "POST", "/users", {"email": EMAIL, "name": "\u3000\ufeffAda\u00a0Lovelace\u2060 "}
    )
    assert created.status == 201
    assert created.body["name"] == "Ada\u00a0Lovelace"
    changed = api.request("PUT", f"/users/{created.body['userId']}", {"name": "\u200bAugusta\t"})
    assert changed.body["name"] == "Augusta"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("bob@example.com", "ｂｏｂ@example.com"),
        ("fi@example.com", "ﬁ@example.com"),
        ("BOB@EXAMPLE.COM", "bob@example.com"),
        ("ss@example.com", "ß@example.com"),
    ],
)
def test_emails_are_one_address_in_any_unicode_form_or_case(
    api: ApiClient, first: str, second: str
) -> None:
    created = api.request("POST", "/users", {"email": first, "name": NAME})
    assert created.status == 201
    assert created.body["email"] == first.lower()
    again = api.request("POST", "/users", {"email": second, "name": NAME})
    assert (again.status, again.body["error"]) == (409, "email already used by another user")


# Names drawn from the characters at the rule's edges and ordinary letters, with fresh seeds.
EDGE_ALPHABET = st.sampled_from(
    BLANK_CHARACTERS + "\x00\x1b\x7f\x9f\u202a\u202e\u2066\u2069\u200d" + "aZé漢\U0001f600"
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=st.text(EDGE_ALPHABET, max_size=8) | st.text(EDGE_ALPHABET, min_size=195, max_size=205))
def test_drawn_names_agree(api: ApiClient, name: str) -> None:
    body = json.dumps({"email": EMAIL, "name": name})
    document = _document_verdict(_schema(api, "CreateUserRequest"), body)
    response = api.request("POST", "/users", raw_body=body)
    if response.status == 409:  # an earlier example took the address: the name was accepted
        assert document, name
        return
    assert _verdict(response, "name") == document, repr(name)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "\x00"},
        {"name": "\x1b"},
        {"name": "\u202e"},
        {"name": "\ufeff"},
        {"name": "\u3000"},
        {"name": "Ada\u202eecalevoL"},
        {"name": "x" * 200 + " "},
        {"email": "a" * 65 + "@example.com"},
        {"email": "ｂｏｂ＠example.com"},
        {"email": " ada@example.com"},
        {"email": "0@0"},
    ],
    ids=repr,
)
def test_what_the_contract_refuses_is_a_400_naming_the_field(
    api: ApiClient, fields: dict[str, str]
) -> None:
    response = api.request("POST", "/users", {"email": EMAIL, "name": NAME, **fields})
    assert response.status == 400
    assert response.body["error"] == "request validation failed"
    assert {problem["loc"][0] for problem in response.body["details"]} == set(fields)


def test_a_refused_name_or_file_name_is_told_in_words_not_as_the_pattern(
    api: ApiClient, uploads_bucket: str, metadata_table: str
) -> None:
    name = api.request("POST", "/users", {"email": EMAIL, "name": "\u202e"})
    filename = api.request(
        "POST", "/uploads", {"filename": "../etc/passwd", "contentType": "text/plain", "size": 1}
    )

    assert name.body["details"] == [
        {
            "loc": ["name"],
            "msg": "should hold a character other than whitespace and invisible ones, and no"
            " control characters or bidirectional overrides",
            "type": "value_error",
        }
    ]
    assert filename.body["details"] == [
        {
            "loc": ["filename"],
            "msg": "should be a file name, not a path: no leading dot, no / or \\, no whitespace"
            " or invisible character at either end, no control character or bidirectional"
            " override",
            "type": "value_error",
        }
    ]


@pytest.mark.parametrize("body", ["[]", '"ada"', "3", "null"])
def test_a_body_that_is_no_object_is_told_so_without_class_names(api: ApiClient, body: str) -> None:
    response = api.request("POST", "/users", raw_body=body)

    assert response.status == 400
    assert response.body["details"] == [
        {"loc": [], "msg": "should be a JSON object", "type": "model_type"}
    ]
