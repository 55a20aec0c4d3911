"""What the local stack's terminal shows of the functions' log streams.

LOCAL_LOG=summary (the default): one line per request, message batch and upload, written by
the gateway, the front door and the event sources; of the functions' own output, warnings and
errors in full (a JSON log record as its level, message and fields, its traceback on the lines
after), a REPORT or INIT_REPORT line that carries a Status (an error, a timeout, memory), and
whatever is not a log record (print(), a runtime's traceback). LOCAL_LOG=lambda: every line of
the functions' log streams as Lambda writes them (START, END, REPORT, the EMF documents, the
JSON log lines).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any

SUMMARY = "summary"
LAMBDA = "lambda"
MODES = (SUMMARY, LAMBDA)
# The fields of a log record the summary leaves out: the line's prefix names the function, and
# the invocation and time are the request line's.
CONTEXT_FIELDS = frozenset(
    {"timestamp", "level", "logger", "message", "function_name", "request_id", "cold_start"}
)
QUIET_LEVELS = frozenset({"DEBUG", "INFO"})
# Why each of the latest messages was last retried, for the line that says it goes to the DLQ.
REMEMBERED_REASONS = 1000


def log_mode() -> str:
    """LOCAL_LOG's mode; a ValueError naming the modes for any other value."""
    mode = os.environ.get("LOCAL_LOG", "") or SUMMARY
    if mode not in MODES:
        raise ValueError(f"LOCAL_LOG={mode!r}: use {' or '.join(MODES)}")
    return mode


class Reasons:
    """The latest reason a function gave for not finishing each SQS message, by message id,
    read from its log records (their `messageId` and `reason` fields, or their message)."""

    def __init__(self) -> None:
        self._reasons: OrderedDict[str, str] = OrderedDict()
        self._changed = threading.Condition()

    def note(self, record: dict[str, Any]) -> None:
        message_id = record.get("messageId")
        if not isinstance(message_id, str):
            return
        reason = str(record.get("message", ""))
        if record.get("reason"):
            reason = f"{reason}: {record['reason']}"
        with self._changed:
            self._reasons[message_id] = reason
            self._reasons.move_to_end(message_id)
            while len(self._reasons) > REMEMBERED_REASONS:
                self._reasons.popitem(last=False)
            self._changed.notify_all()

    def of(self, message_id: str, wait: float = 1.0) -> str | None:
        """The reason noted for `message_id`, waiting up to `wait` seconds for the function's
        log lines to be read (they travel apart from its response)."""
        with self._changed:
            self._changed.wait_for(lambda: message_id in self._reasons, timeout=wait)
            return self._reasons.get(message_id)


REASONS = Reasons()


def function_lines(line: str, mode: str) -> list[str]:
    """The lines the terminal shows, in `mode`, for one line of a function's output."""
    text = line.rstrip("\n")
    if mode == LAMBDA:
        if '"messageId"' in text:  # only a record naming a message holds a reason to keep
            record = _record(text)
            if record is not None:
                REASONS.note(record)
        return [text]
    record = _record(text)
    if record is not None:
        REASONS.note(record)
    return _summary(text, record)


def _summary(text: str, record: dict[str, Any] | None) -> list[str]:
    if text.startswith(("START RequestId:", "END RequestId:", "INIT_START")):
        return []
    if text.startswith(("REPORT RequestId:", "INIT_REPORT")):
        return [text] if "\tStatus: " in text else []
    if record is None:
        return [text]
    if "_aws" in record or record.get("level") in QUIET_LEVELS:
        return []  # an EMF metrics document, or a record below WARNING
    fields = ", ".join(
        f"{name}={_short(value)}"
        for name, value in record.items()
        if name not in CONTEXT_FIELDS and name != "exc_info"
    )
    head = f"{record['level']} {record.get('message', '')}" + (f" ({fields})" if fields else "")
    return [head, *str(record.get("exc_info", "")).splitlines()]


def _record(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and ("level" in record or "_aws" in record) else None


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
