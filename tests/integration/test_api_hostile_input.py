"""No client input produces a 5xx: generated bodies, query strings and path ids against the API
handler (moto in-process)."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.models.common import BLANK_CHARACTERS
from tests.conftest import ApiClient

# The characters at the edges of the name rule: blanks, controls, bidirectional overrides.
EDGE_CHARACTERS = st.sampled_from(
    BLANK_CHARACTERS + "\x00\x1b\x7f\x9f\u202a\u202e\u2066\u2069\u200d" + "aZé\U0001f600"
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
user_like = st.fixed_dictionaries(
    {},
    optional={
        "email": st.one_of(
            st.emails(),
            st.emails().map(lambda email: unicodedata.normalize("NFKD", email.upper())),
            st.text(max_size=40),
            st.integers(),
        ),
        "name": st.one_of(
            st.text(max_size=220),
            st.text(EDGE_CHARACTERS, max_size=220),
            st.none(),
            st.integers(),
        ),
        "age": st.one_of(st.integers(-5, 200), st.floats(), st.text(max_size=3), st.none()),
        "extra": json_values,
    },
)
bodies = st.one_of(
    user_like.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda raw: raw.decode("latin-1")),
)
path_ids = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/?#"), min_size=1, max_size=60
)
# One emulated account per test, shared by its examples: what they leave behind only makes
# later examples meet more data, which suits a "never a 5xx" property.
HOSTILE = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# Every client error these requests can meet, as its status and the message a client reads.
CLIENT_ERRORS = {
    400: r"request validation failed|body is not valid UTF-8 text|unknown query parameter: .+",
    404: r"(user|order) .+ not found|not found",
    405: r"method \S+ not allowed",
    409: r"email already used by another user",
    413: r"body over 10240 bytes",
    415: r"send the body as application/json",
}


def assert_client_error_or_success(response: Any) -> None:
    assert response.status < 500, (response.status, response.raw_body)
    if response.status >= 400:
        assert re.fullmatch(CLIENT_ERRORS[response.status], response.body["error"], re.S), (
            response.status,
            response.body,
        )


@HOSTILE
@given(body=bodies, method=st.sampled_from(["POST", "PUT"]))
def test_bodies(api: ApiClient, body: str, method: str) -> None:
    path = "/users" if method == "POST" else "/users/some-user"
    assert_client_error_or_success(api.request(method, path, raw_body=body))


@HOSTILE
@given(
    query=st.dictionaries(
        st.sampled_from(["limit", "lastKey", "other"]), st.text(max_size=40), max_size=3
    )
)
def test_query_strings(api: ApiClient, query: dict[str, str]) -> None:
    assert_client_error_or_success(api.request("GET", "/users", query=query))


@HOSTILE
@given(identifier=path_ids, method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]))
def test_path_ids(api: ApiClient, identifier: str, method: str) -> None:
    body = {"name": "x"} if method == "PUT" else None
    assert_client_error_or_success(api.request(method, f"/users/{identifier}", body))
    assert_client_error_or_success(api.request("GET", f"/orders/{identifier}"))
