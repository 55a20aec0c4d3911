"""The published queue contracts, generated from the models of src.models.orders:

docs/schemas/order-event.schema.json         what producers put on the order queue
docs/schemas/order-notification.schema.json  what the notification topic publishes

python -m devtools.schemas           write them (make schemas)
python -m devtools.schemas --check   exit 1, naming the stale ones, when they differ
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from src.models.orders import ORDER_EVENT, OrderNotification

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OPENAPI_FILE = DOCS / "openapi.json"
# What the API's settings need to be read; the document depends on none of them.
DOCUMENT_ENVIRONMENT = {
    "USERS_TABLE": "users",
    "ORDERS_TABLE": "orders",
    "UPLOADS_BUCKET": "uploads",
    "IDEMPOTENCY_TABLE": "idempotency",
    "METADATA_TABLE": "metadata",
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Published(GenerateJsonSchema):
    """JSON Schema 2020-12 without the titles pydantic makes of field names ("Orderid")."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _document(adapter: TypeAdapter[Any], mode: Any, name: str, description: str) -> dict[str, Any]:
    schema = adapter.json_schema(mode=mode, schema_generator=_Published)
    return {
        "$schema": DIALECT,
        "$id": f"{name}.schema.json",
        "title": schema.pop("title", name),
        "description": description,
        **{key: value for key, value in schema.items() if key != "description"},
    }


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, from its routes."""
    for variable, value in DOCUMENT_ENVIRONMENT.items():
        os.environ.setdefault(variable, value)
    from src.handlers.api_handler import app  # noqa: PLC0415 - reads the settings above

    return app.openapi()


def documents() -> dict[str, dict[str, Any]]:
    """Each published document by its path under docs/."""
    return {
        "openapi.json": openapi_document(),
        "schemas/order-event.schema.json": _document(
            ORDER_EVENT,
            "validation",
            "order-event",
            "One message on the order queue: its body, raw or as the Message of an SNS "
            "notification. The consumer applies a message exactly when it is valid here. "
            "Parse numbers as decimals when validating: an amount is a multiple of 0.0001, "
            "which binary floats cannot test exactly. A message is I-JSON (RFC 7493): its strings "
            "are valid Unicode, with no lone surrogate escape such as \\ud800. Patterns are "
            "ECMA-262 regular expressions, where $ ends the string.",
        ),
        "schemas/order-notification.schema.json": _document(
            TypeAdapter(OrderNotification),
            "serialization",
            "order-notification",
            "One message on the notification topic, published when an order is created or "
            "cancelled; its `type` is also the message attribute `type`. Delivery is at least "
            "once: the same notification may arrive twice.",
        ),
    }


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a schema is stale")
    arguments = parser.parse_args(argv)
    stale = []
    for name, document in documents().items():
        path = DOCS / name
        wanted = text(document)
        if path.exists() and path.read_text() == wanted:
            continue
        if arguments.check:
            stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted)
        print(f"{path.relative_to(ROOT)}: written")
    if stale:
        print(f"stale: {', '.join(stale)}; run `make schemas`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
