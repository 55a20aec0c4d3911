"""The breaking-change check of the OpenAPI document (`make api-diff`, run by `make test`):
api-smart-diff's classification of each change, through devtools.api_diff."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from devtools import api_diff
from devtools.schemas import openapi_document

DOCUMENT = openapi_document()


def changed(edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    edit(document)
    return document


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            lambda d: d["paths"]["/users/{userId}"].pop("delete"),
            "[Removed] operation DELETE /users/{userId}",
        ),
        (
            lambda d: schema(d, "CreateUserRequest")["required"].append("age"),
            "[Added] required status to `age` in Request Body",
        ),
        (
            lambda d: schema(d, "CreateUserRequest")["properties"]["name"].update(maxLength=100),
            "[Replaced] maxLength validator of `name` in Request Body",
        ),
        (
            lambda d: schema(d, "User")["properties"].pop("email"),
            "[Removed] property `email` in Response 201",
        ),
        (
            lambda d: schema(d, "UploadRequest")["properties"]["contentType"]["enum"].remove(
                "text/csv"
            ),
            "[Replaced] possible values of `contentType` in Request Body",
        ),
    ],
    ids=[
        "operation removed",
        "field required",
        "bound narrowed",
        "field removed",
        "enum value removed",
    ],
)
def test_a_change_that_breaks_clients_is_named(
    edit: Callable[[dict[str, Any]], Any], named: str
) -> None:
    changes = api_diff.breaking_changes(DOCUMENT, changed(edit))

    assert [change["type"] for change in changes if change["description"].startswith(named)] == [
        "breaking"
    ], changes


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: None,
        lambda d: schema(d, "CreateUserRequest")["properties"].update(nickname={"type": "string"}),
        lambda d: schema(d, "User")["properties"].update(nickname={"type": "string"}),
        lambda d: d["paths"].update(
            {
                "/health": {
                    "get": {"operationId": "health", "responses": {"200": {"description": "OK"}}}
                }
            }
        ),
    ],
    ids=["no change", "optional request field", "response field added", "operation added"],
)
def test_a_change_clients_survive_is_not_reported(edit: Callable[[dict[str, Any]], Any]) -> None:
    assert api_diff.breaking_changes(DOCUMENT, changed(edit)) == []


def test_an_added_link_is_shown_for_review_but_does_not_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = changed(lambda d: d["paths"]["/users"]["post"]["responses"]["201"].pop("links"))
    monkeypatch.setattr(api_diff, "base_document", lambda ref: base)

    assert api_diff.main([]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "unclassified: [Added] annotation (links) to Response 201"
        " (at paths > /users > post > responses > 201 > links)",
        "api-diff: no breaking change against main",
    ]


def test_the_check_fails_and_prints_each_breaking_change(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The base had an operation the working tree's document no longer has.
    base = changed(
        lambda d: d["paths"].update(
            {
                "/health": {
                    "get": {"operationId": "health", "responses": {"200": {"description": "OK"}}}
                }
            }
        )
    )
    monkeypatch.setattr(api_diff, "base_document", lambda ref: base if ref == "v1" else None)

    assert api_diff.main(["--base", "v1"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "breaking: [Removed] operation GET /health (at paths > /health > get)",
        "api-diff: 1 change(s) against v1 can break clients",
    ]


def test_a_base_without_a_document_is_said_and_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(api_diff, "base_document", lambda ref: None)

    assert api_diff.main(["--base", "old"]) == 0
    assert capsys.readouterr().out == "api-diff: old has no openapi.json: nothing to compare with\n"


def test_a_base_this_clone_does_not_hold_fails_the_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert api_diff.main(["--base", "no-such-ref"]) == 2
    assert capsys.readouterr().out == (
        "api-diff: no commit 'no-such-ref' in this clone: nothing proves the API unbroken "
        "(fetch it: git fetch origin no-such-ref:no-such-ref)\n"
    )


def test_the_base_is_read_from_git_when_the_clone_holds_it() -> None:
    # HEAD holds the checked-in document; HEAD's first commit may not.
    assert api_diff.base_document("HEAD") is not None
