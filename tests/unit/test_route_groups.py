"""Route groups (Api.include): a group's module is imported by the first request under its
prefix, or when every route is needed, and never by a request elsewhere."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from src.handlers.http import Api

GROUP = """
from pydantic import BaseModel

from src.handlers.http import Routes

built = []


class WidgetPath(BaseModel):
    widgetId: str


class Widget(BaseModel):
    widgetId: str


routes = Routes(services=lambda: built.append("service"))


@routes.get("/widgets/{widgetId}", summary="Get a widget")
def get_widget(path: WidgetPath) -> Widget:
    return Widget(widgetId=path.widgetId)
"""


@pytest.fixture
def group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A route group's module on sys.path, under a name no other test imports."""
    name = f"widgets_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(GROUP)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def api_with(group: str) -> Api:
    api = Api(title="t", version="1", description="d", cors_allow_origin="*")

    @api.get("/health")
    def health() -> None:
        return None

    api.include("/widgets", lambda: importlib.import_module(group).routes)
    return api


def call(api: Api, method: str, path: str) -> tuple[int, Any]:
    response = api.handle({"httpMethod": method, "path": path, "headers": {}})
    return response["statusCode"], json.loads(response["body"] or "null")


def test_a_request_elsewhere_does_not_import_the_group(group: str) -> None:
    api = api_with(group)

    assert call(api, "GET", "/health")[0] == 200
    assert call(api, "GET", "/widgetsx/1") == (404, {"error": "not found"})
    assert group not in sys.modules


def test_the_first_request_under_the_prefix_imports_it(group: str) -> None:
    api = api_with(group)

    assert call(api, "GET", "/widgets/w-1") == (200, {"widgetId": "w-1"})
    assert group in sys.modules
    assert call(api, "DELETE", "/widgets/w-1")[0] == 405
    assert call(api, "GET", "/widgets")[0] == 404


def test_the_openapi_document_and_priming_load_every_group(group: str) -> None:
    api = api_with(group)

    assert list(api.openapi()["paths"]) == ["/health", "/widgets/{widgetId}"]
    api.prime()
    assert sys.modules[group].built == ["service"]
