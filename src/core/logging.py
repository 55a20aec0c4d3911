"""JSON logs, one object per line, through python-json-logger.

Every record carries timestamp, level, logger, message and, inside an invocation, the function
name, the request id and whether this invocation was the execution environment's cold start.
`configure_logging` is called once per process; `lambda_entry` wraps each handler (and holds
its AWS calls to the invocation's deadline, src/core/aws.py).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from src.core.aws import invocation_deadline

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Invocation:
    function_name: str | None
    request_id: str | None
    cold_start: bool


_current: ContextVar[_Invocation | None] = ContextVar("invocation", default=None)
_cold_start = True
_configured = False


class _InvocationFilter(logging.Filter):
    """Stamps each record with the invocation it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        invocation = _current.get()
        record.function_name = invocation.function_name if invocation else None
        record.request_id = invocation.request_id if invocation else None
        record.cold_start = invocation.cold_start if invocation else None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stdout as one JSON object. Idempotent apart from the level.

    The Lambda runtime installs its own handler on the root logger; it is replaced so that each
    line is exactly one JSON object.
    """
    global _configured  # noqa: PLW0603 - configured once per process by design
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    )
    handler.addFilter(_InvocationFilter())
    root.handlers = [handler]
    # botocore logs request bodies at DEBUG and where it found credentials at INFO: neither
    # belongs in the service's logs, whatever its level.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def lambda_entry(handler: LambdaHandler) -> LambdaHandler:
    """Wrap a Lambda handler so that its log records name the invocation and its AWS calls fit
    the invocation's time."""

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        global _cold_start  # noqa: PLW0603 - one flag per execution environment
        token = _current.set(
            _Invocation(
                function_name=getattr(context, "function_name", None),
                request_id=getattr(context, "aws_request_id", None),
                cold_start=_cold_start,
            )
        )
        _cold_start = False
        try:
            with invocation_deadline(context):
                return handler(event, context)
        finally:
            _current.reset(token)

    return wrapper


def mark_cold_start() -> None:
    """The next invocation starts an execution environment (a SnapStart restore, say)."""
    global _cold_start  # noqa: PLW0603 - one flag per execution environment
    _cold_start = True


def current_request_id() -> str | None:
    """The request id of the invocation being served, if any."""
    invocation = _current.get()
    return invocation.request_id if invocation else None
