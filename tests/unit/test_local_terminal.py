"""What the local stack's terminal shows: in the default summary, one line per request, message
batch and upload, the functions' warnings and errors in full, nothing of Lambda's per-invocation
lines or metrics documents; with LOCAL_LOG=lambda, the log stream as Lambda writes it."""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

import pytest
import requests

from devtools.local.api import LOCAL_CALLER_HEADER, make_server, routes_from_template
from devtools.local.event_sources import Redrive, invoke_async, queue_consumer
from devtools.local.functions import InvocationError
from devtools.local.terminal import LAMBDA, SUMMARY, function_lines, log_mode
from devtools.resources import free_port
from devtools.template import load_template

WARNING = {
    "timestamp": "2026-12-05T02:00:00Z",
    "level": "WARNING",
    "logger": "src.handlers.sqs_handler",
    "message": "order event rejected; moved to the DLQ",
    "function_name": "SqsHandlerFunction",
    "request_id": "r-1",
    "cold_start": False,
    "messageId": "m-1",
    "rule": "order-exists",
}
ERROR = {
    "level": "ERROR",
    "message": "unhandled error",
    "exc_info": 'Traceback (most recent call last):\n  File "src/x.py", line 1\nValueError: boom',
}
INFO = {"level": "INFO", "message": "order event retried later", "messageId": "m-2"}
EMF = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}, "OrderEventsApplied": 1}
REPORT = "REPORT RequestId: r-1\tDuration: 3.10 ms\tBilled Duration: 4 ms\tMax Memory Used: 50 MB"
FAILED_REPORT = f"{REPORT}\tStatus: error\tError Type: Runtime.OutOfMemory"
FAILED_INIT = "INIT_REPORT Init Duration: 4.05 ms\tPhase: init\tStatus: error\tError Type: X"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("START RequestId: r-1 Version: 1", []),
        ("END RequestId: r-1", []),
        (REPORT, []),
        (FAILED_REPORT, [FAILED_REPORT]),
        (FAILED_INIT, [FAILED_INIT]),
        (json.dumps(EMF), []),
        (json.dumps(INFO), []),
        (
            json.dumps(WARNING),
            ["WARNING order event rejected; moved to the DLQ (messageId=m-1, rule=order-exists)"],
        ),
        (
            json.dumps(ERROR),
            [
                "ERROR unhandled error",
                "Traceback (most recent call last):",
                '  File "src/x.py", line 1',
                "ValueError: boom",
            ],
        ),
        ("printed by the handler", ["printed by the handler"]),
        ('{"not": "a log record"}', ['{"not": "a log record"}']),
        ("[ERROR] Runtime.ImportModuleError: Unable to import module 'x'", None),
    ],
)
def test_the_summary_keeps_warnings_errors_and_prints_and_drops_the_rest(
    line: str, shown: list[str] | None
) -> None:
    assert function_lines(line + "\n", SUMMARY) == ([line] if shown is None else shown)
    # Lambda's own stream: every line as it came.
    assert function_lines(line + "\n", LAMBDA) == [line]


def test_the_log_mode_is_summary_unless_lambda_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCAL_LOG", raising=False)
    assert log_mode() == SUMMARY
    monkeypatch.setenv("LOCAL_LOG", "lambda")
    assert log_mode() == LAMBDA
    monkeypatch.setenv("LOCAL_LOG", "loud")
    with pytest.raises(ValueError, match="LOCAL_LOG='loud': use summary or lambda"):
        log_mode()


class Queue:
    """An SQS client holding the messages of one receive."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        messages, self.messages = self.messages, []
        return {"Messages": messages}

    def delete_message_batch(self, **request: Any) -> None:
        self.deleted.extend(entry["ReceiptHandle"] for entry in request["Entries"])


class Consumer:
    """A function that logs why it retries each message it names, and reports it failed."""

    function = "SqsHandlerFunction"

    def __init__(self, retried: set[str], error: str | None = None) -> None:
        self.retried, self.error = retried, error

    def invoke(self, event: Any) -> Any:
        if self.error:
            raise InvocationError(self.error)
        for message_id in self.retried:
            function_lines(
                json.dumps({**INFO, "messageId": message_id, "reason": "no order ord-9"}), SUMMARY
            )
        return {"batchItemFailures": [{"itemIdentifier": i} for i in sorted(self.retried)]}


def message(receives: int) -> dict[str, Any]:
    identifier = str(uuid.uuid4())
    return {
        "MessageId": identifier,
        "ReceiptHandle": f"handle-{identifier}",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": str(receives)},
    }


ARN = "arn:aws:sqs:us-east-1:123456789012:orders"


def test_a_batch_is_one_line_and_a_message_on_its_last_receive_one_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    done, again, last = message(1), message(2), message(5)
    queue = Queue([done, again, last])
    step = queue_consumer(
        queue,
        Consumer({again["MessageId"], last["MessageId"]}),  # type: ignore[arg-type]
        queue_url="url",
        queue_arn=ARN,
        batch_size=10,
        region="us-east-1",
        redrive=Redrive(5, "orders-dlq"),
    )

    step()

    batch, moved = capsys.readouterr().out.splitlines()
    assert batch.startswith(
        "[SqsHandlerFunction] 3 messages from orders: 1 done, 2 retried later ("
    )
    assert moved == (
        f"[SqsHandlerFunction] message {last['MessageId']} failed on receive 5 of 5: the queue "
        "moves it to the DLQ orders-dlq (order event retried later: no order ord-9)"
    )
    assert queue.deleted == [done["ReceiptHandle"]]


def test_a_failed_batch_names_the_error_for_every_message_it_sends_to_the_dlq(
    capsys: pytest.CaptureFixture[str],
) -> None:
    last = message(3)
    step = queue_consumer(
        Queue([message(1), last]),
        Consumer(set(), error="Runtime.ImportModuleError: no module"),  # type: ignore[arg-type]
        queue_url="url",
        queue_arn=ARN,
        batch_size=10,
        region="us-east-1",
        redrive=Redrive(3, "orders-dlq"),
    )

    step()

    assert capsys.readouterr().out.splitlines() == [
        "[SqsHandlerFunction] 2 messages from orders: the batch failed "
        "(Runtime.ImportModuleError: no module); 2 retried later",
        f"[SqsHandlerFunction] message {last['MessageId']} failed on receive 3 of 3: the queue "
        "moves it to the DLQ orders-dlq (Runtime.ImportModuleError: no module)",
    ]


class Uploads:
    function = "S3HandlerFunction"

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def invoke(self, event: Any) -> Any:
        self.failures -= 1
        if self.failures >= 0:
            raise InvocationError("ClientError: throttled")
        return None


def upload(key: str) -> dict[str, Any]:
    return {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key}}}]}


def test_an_upload_is_one_line_and_each_failed_attempt_one_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = upload("uploads/u-1/my+cat%2B1.png")

    invoke_async(Uploads(failures=1), event, retries=2, on_failure=print, delay=0)  # type: ignore[arg-type]
    invoke_async(Uploads(failures=3), event, retries=2, on_failure=lambda _: None, delay=0)  # type: ignore[arg-type]

    said = "[S3HandlerFunction] ObjectCreated:Put uploads/u-1/my cat+1.png"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{said}: attempt 1 of 3 failed (ClientError: throttled); retried in 0 s"
    assert lines[1].startswith(f"{said}: done (")
    assert lines[2:] == [
        f"{said}: attempt 1 of 3 failed (ClientError: throttled); retried in 0 s",
        f"{said}: attempt 2 of 3 failed (ClientError: throttled); retried in 0 s",
        f"{said}: failed 3 times (ClientError: throttled); sent to the on-failure queue",
    ]


class Answer:
    function = "ApiFunction"

    def invoke(self, event: Any) -> Any:
        return {"statusCode": 200, "body": "{}"}


class Shapeless:
    function = "ApiFunction"

    def invoke(self, event: Any) -> Any:
        return {"body": "no status code"}


class Broken:
    function = "ApiFunction"

    def invoke(self, event: Any) -> Any:
        raise InvocationError("Runtime.ImportModuleError: Unable to import module 'x'")


@pytest.mark.parametrize(
    ("pool", "caller", "said"),
    [
        (Answer(), None, r"\[api\] GET /orders/o-1 -> 200 ApiFunction \d+ ms"),
        (
            Broken(),
            None,
            r"\[api\] GET /orders/o-1 -> 502 ApiFunction failed: Runtime.ImportModuleError: "
            r"Unable to import module 'x'",
        ),
        (
            Shapeless(),
            None,
            r"\[api\] GET /orders/o-1 -> 502 ApiFunction \d+ ms: its response is not a proxy's "
            r"\(KeyError: 'statusCode'\)",
        ),
        (
            Answer(),
            "root",
            r"\[api\] GET /orders/o-1 -> 401 the authorizer refused the caller: X-Local-Caller "
            r"is 'root': name a caller as 'user <email>' or 'administrator <email>'",
        ),
    ],
)
def test_each_request_through_the_gateway_is_one_line_saying_what_answered(
    pool: Any, caller: str | None, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    template = load_template()
    server = make_server(
        "127.0.0.1", free_port(), routes_from_template(template), {"ApiFunction": pool}, "v1"
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    try:
        headers = {} if caller is None else {LOCAL_CALLER_HEADER: caller}
        requests.get(f"http://{host}:{port}/orders/o-1", headers=headers, timeout=10)
    finally:
        server.shutdown()

    (line,) = capsys.readouterr().out.splitlines()
    assert re.fullmatch(said, line), line
