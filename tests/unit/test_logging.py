"""JSON logs: one object per line with the fields operators filter on."""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from src.core.logging import configure_logging, lambda_entry
from tests.conftest import JsonLogs, LambdaContext


def test_each_record_is_one_json_object_with_the_invocation_fields(
    json_logs: JsonLogs,
) -> None:
    context = LambdaContext(function_name="ApiFunction")

    @lambda_entry
    def handler(event: dict[str, Any], _: Any) -> dict[str, Any]:
        logging.getLogger("orders").info("applied\nan order", extra={"orderId": "o-1"})
        return {}

    handler({}, context)
    handler({}, context)

    first, second = json_logs.records()
    assert first["message"] == "applied\nan order"
    assert first["level"] == "INFO"
    assert first["logger"] == "orders"
    assert first["function_name"] == "ApiFunction"
    assert first["request_id"] == context.aws_request_id
    assert first["orderId"] == "o-1"
    assert first["timestamp"].endswith("+00:00")
    assert isinstance(first["cold_start"], bool)
    assert second["cold_start"] is False


def test_outside_an_invocation_the_fields_are_null(json_logs: JsonLogs) -> None:
    logging.getLogger("init").warning("starting")

    (record,) = json_logs.records()
    assert record["request_id"] is None
    assert record["level"] == "WARNING"


def test_configuring_twice_keeps_one_handler() -> None:
    configure_logging("INFO")
    configure_logging("DEBUG")

    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(getattr(handler, "formatter", None), JsonFormatter)
    ]
    assert len(handlers) == 1
    assert logging.getLogger().level == logging.DEBUG
