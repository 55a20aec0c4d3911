"""The published queue contract (docs/schemas/) against the consumer: the checked-in schemas are
the models', and a message is valid by the event schema exactly when the consumer applies it.

Every message goes through the real consumer (process_batch) on the template's orders table
(moto, in-process). An update or a cancellation needs its order: one is created first, so that
"applied" turns on the message alone. Numbers are read as decimals on both sides, as the
schema's description asks of every validator.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings

from devtools import schemas
from src.core.errors import InvalidOrderMessage
from src.handlers.sqs_handler import process_batch
from src.models.orders import OrderNotification, parse_order_message
from src.repositories.notifications import NoNotifications
from src.repositories.orders import OrderRepository
from src.services.orders import OrderEventService
from tests.json_schema import exact_validator
from tests.order_documents import DOCUMENTS, EDGES, VALID, json_text, with_value
from tests.order_queue import SetAside

ROOT = Path(__file__).resolve().parents[2]
EVENT_SCHEMA = ROOT / "docs" / "schemas" / "order-event.schema.json"
NOTIFICATION_SCHEMA = ROOT / "docs" / "schemas" / "order-notification.schema.json"
# The original service's own test message: no items, no total.
ORIGINAL_SERVICE_MESSAGE = (
    '{"type": "order_created", "orderId": "order-123", "customerId": "customer-456"}'
)


def _decimal_validator(path: Path) -> jsonschema.protocols.Validator:
    return exact_validator(json.loads(path.read_text(), parse_float=Decimal))


EVENTS = _decimal_validator(EVENT_SCHEMA)


def valid_by_schema(body: str) -> bool:
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:
        return False
    if isinstance(document, dict) and document.get("Type") == "Notification":
        return valid_by_schema(document["Message"])
    return is_i_json(document) and EVENTS.is_valid(document)


def is_i_json(document: Any) -> bool:
    """Whether every string is valid Unicode, as the schema's description requires (I-JSON, RFC
    7493): JSON Schema itself cannot say it, and "\\ud800" is a JSON string that is not."""
    try:
        json.dumps(document, ensure_ascii=False, default=str).encode()
    except UnicodeEncodeError:
        return False
    return True


class Consumer:
    """The consumer on the template's orders table, one message at a time."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb, self._table = dynamodb, table
        self._service = OrderEventService(OrderRepository(dynamodb, table), NoNotifications())

    def applies(self, body: str) -> bool:
        order_id = _order_id(body)
        if isinstance(order_id, str) and 0 < len(order_id) <= 1024:
            self._dynamodb.delete_item(TableName=self._table, Key={"orderId": {"S": order_id}})
            created = json.dumps({"type": "order_created", "orderId": order_id, "customerId": "c"})
            if _kind(body) != "order_created":
                self._send(created)  # refused when the id is not one, which the message is too
        return self._send(body) == []

    def _send(self, body: str) -> list[Any]:
        """What did not apply: the record's failure, or the record set aside in the DLQ."""
        record = {"messageId": "m", "body": body, "attributes": {}}
        set_aside = SetAside()
        failures: list[Any] = process_batch({"Records": [record]}, self._service, set_aside)[
            "batchItemFailures"
        ]
        return failures + set_aside.letters


def _document(body: str) -> Any:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("Type") == "Notification":
        return _document(document.get("Message", ""))
    return document


def _order_id(body: str) -> Any:
    document = _document(body)
    return document.get("orderId") if isinstance(document, dict) else None


def _kind(body: str) -> Any:
    document = _document(body)
    return document.get("type") if isinstance(document, dict) else None


@pytest.fixture
def consumer(dynamodb: Any, orders_table: str) -> Consumer:
    return Consumer(dynamodb, orders_table)


def assert_agree(consumer: Consumer, body: str) -> None:
    expected = valid_by_schema(body)
    assert consumer.applies(body) is expected, (
        f"the schema says {'valid' if expected else 'invalid'}, the consumer "
        f"{'refused' if expected else 'applied'} it: {body[:300]}"
    )


# --- the checked-in schemas -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(schemas.documents()))
def test_the_checked_in_document_is_the_generated_one(name: str) -> None:
    # The queue schemas, and the OpenAPI document that `make api-diff` compares across commits.
    checked_in = (ROOT / "docs" / name).read_text()

    assert checked_in == schemas.text(schemas.documents()[name]), "stale: run `make schemas`"


def test_the_check_names_a_stale_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "schemas").mkdir()
    for name, document in schemas.documents().items():
        (tmp_path / name).write_text(schemas.text(document))
    edited_path = tmp_path / "schemas" / "order-event.schema.json"
    edited = json.loads(edited_path.read_text())
    edited["$defs"]["OrderItem"]["properties"]["quantity"]["maximum"] = 5
    edited_path.write_text(json.dumps(edited))
    monkeypatch.setattr(schemas, "DOCS", tmp_path)

    assert schemas.main(["--check"]) == 1
    assert capsys.readouterr().err == (
        "stale: schemas/order-event.schema.json; run `make schemas`\n"
    )


def test_the_schemas_are_json_schema_2020_12() -> None:
    for path in (EVENT_SCHEMA, NOTIFICATION_SCHEMA):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


# --- the schema and the consumer agree ----------------------------------------------------------


def test_the_original_services_message_is_valid_and_applied(consumer: Consumer) -> None:
    assert valid_by_schema(ORIGINAL_SERVICE_MESSAGE)
    assert consumer.applies(ORIGINAL_SERVICE_MESSAGE)


SAMPLE_BODIES = [
    (path.name, record["body"])
    for path in sorted((ROOT / "events").glob("sqs_*.json"))
    for record in json.loads(path.read_text())["Records"]
]


@pytest.mark.parametrize(
    ("sample", "body"), SAMPLE_BODIES, ids=[f"{n}:{i}" for i, (n, _) in enumerate(SAMPLE_BODIES)]
)
def test_the_sample_events_agree(consumer: Consumer, sample: str, body: str) -> None:
    assert_agree(consumer, body)


def test_the_samples_hold_both_valid_and_invalid_messages() -> None:
    assert {valid_by_schema(body) for _, body in SAMPLE_BODIES} == {True, False}


def test_each_edge_value_gets_the_contracts_answer_from_schema_and_consumer(
    consumer: Consumer,
) -> None:
    # A valid event with one value changed (tests.order_documents.EDGES), and the answer the
    # contract gives: accepted, or refused naming that place (the first step; an unknown field
    # by its own name; a number no field takes as that). One table, one account for all of it.
    disagreements = []
    for index, (kind, path, value, accepted) in enumerate(EDGES):
        body = json_text(with_value(kind, path, value))
        answers = (valid_by_schema(body), consumer.applies(body))
        if answers != (accepted, accepted):
            disagreements.append((index, kind, path, accepted, answers, body[:200]))
            continue
        if not accepted:
            with pytest.raises(InvalidOrderMessage) as caught:
                parse_order_message(body)
            refusal = str(caught.value)
            named = (
                f"{path[0]}" in refusal
                or "extra: is not allowed" in refusal
                or "a number with more digits" in refusal
            )
            if not named:
                disagreements.append((index, kind, path, accepted, refusal, body[:200]))

    assert disagreements == [], "\n".join(map(str, disagreements))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=DOCUMENTS)
def test_drawn_messages_agree(consumer: Consumer, document: dict[str, Any]) -> None:
    body = json_text(document)
    event(f"{document['type']} valid: {valid_by_schema(body)}")  # --hypothesis-show-statistics
    assert_agree(consumer, body)


# --- notifications ------------------------------------------------------------------------------


def test_published_notifications_are_valid_by_their_schema(
    dynamodb: Any, orders_table: str
) -> None:
    notifications = _decimal_validator(NOTIFICATION_SCHEMA)
    sent: list[OrderNotification] = []

    class Recording:
        def publish(self, batch: Any) -> set[int]:
            sent.extend(batch)
            return set()

    service = OrderEventService(OrderRepository(dynamodb, orders_table), Recording())
    bodies = [
        json_text(VALID["order_created"]),
        ORIGINAL_SERVICE_MESSAGE.replace("order-123", "o-2"),
        json_text(VALID["order_cancelled"]),
        '{"type": "order_created", "orderId": "o-3", "customerId": "c"}',
        '{"type": "order_cancelled", "orderId": "o-3"}',
    ]
    records = [
        {"messageId": str(n), "body": body, "attributes": {}} for n, body in enumerate(bodies)
    ]
    for record in records:  # one at a time: each order's creation before its cancellation
        assert process_batch({"Records": [record]}, service, SetAside()) == {
            "batchItemFailures": []
        }

    messages = [json.loads(notification.to_json(), parse_float=Decimal) for notification in sent]
    assert [message["type"] for message in messages] == [
        "order_created",
        "order_created",
        "order_cancelled",
        "order_created",
        "order_cancelled",
    ]
    for message in messages:
        notifications.validate(message)
    assert messages[0]["total"] == Decimal("19.99")
    assert "reason" not in messages[4]
