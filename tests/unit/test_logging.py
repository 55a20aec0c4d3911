"""JSON logs: one object per line with the fields operators filter on."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from src.core.logging import configure_logging, lambda_entry
from tests.conftest import LambdaContext


def json_handlers() -> list[logging.StreamHandler[Any]]:
    """The service's handlers on the root logger (pytest adds capture handlers of its own)."""
    return [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and isinstance(handler.formatter, JsonFormatter)
    ]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    configure_logging("INFO")
    (handler,) = json_handlers()
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_invocation_fields(
    log_lines: io.StringIO,
) -> None:
    context = LambdaContext(function_name="ApiFunction")

    @lambda_entry
    def handler(event: dict[str, Any], _: Any) -> dict[str, Any]:
        logging.getLogger("orders").info("applied\nan order", extra={"orderId": "o-1"})
        return {}

    handler({}, context)
    handler({}, context)

    first, second = records(log_lines)
    assert first["message"] == "applied\nan order"
    assert first["level"] == "INFO"
    assert first["logger"] == "orders"
    assert first["function_name"] == "ApiFunction"
    assert first["request_id"] == context.aws_request_id
    assert first["orderId"] == "o-1"
    assert first["timestamp"].endswith("+00:00")
    assert isinstance(first["cold_start"], bool)
    assert second["cold_start"] is False


def test_outside_an_invocation_the_fields_are_null(log_lines: io.StringIO) -> None:
    logging.getLogger("init").warning("starting")

    (record,) = records(log_lines)
    assert record["request_id"] is None
    assert record["level"] == "WARNING"


def test_configuring_twice_keeps_one_handler() -> None:
    configure_logging("INFO")
    configure_logging("DEBUG")

    assert len(json_handlers()) == 1
    assert logging.getLogger().level == logging.DEBUG
