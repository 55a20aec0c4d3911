"""The event sources of the local stack, as AWS runs them for the deployed functions:
- the SQS event source mapping: long polling, batches up to BatchSize, exactly the succeeded
  messages deleted (batchItemFailures honoured; an error or an invalid response fails the
  batch), failed ones visible again after the visibility timeout, the emulator's redrive moving
  them to the DLQ past maxReceiveCount;
- S3 notifications (sent by the emulator to an internal queue) invoked asynchronously: retried
  MaximumRetryAttempts times, then sent to the on-failure destination with Lambda's record;
- order notifications, tailed to the terminal from a queue subscribed to the topic.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from devtools.local.functions import FunctionPool, InvocationError
from devtools.local.terminal import REASONS

WAIT_SECONDS = 1  # long-poll wait; short, so that Ctrl-C stops the stack quickly


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_message_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """The messages to keep, from a partial batch response. An invalid response fails the
    whole batch, as Lambda does."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return batch_ids
    failures = response.get("batchItemFailures", [])
    if not isinstance(failures, list):
        return batch_ids
    ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return batch_ids
        ids.add(identifier)
    return ids


class Poller(threading.Thread):
    def __init__(self, name: str, step: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._step = step
        self._stop = stop

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:
                if not self._stop.is_set():
                    print(f"[{self.name}] {type(exc).__name__}: {exc}", flush=True)
                    time.sleep(1)


@dataclass(frozen=True)
class Redrive:
    """A queue's redrive policy: after max_receive_count receives, a message the consumer did
    not delete moves to the dead-letter queue."""

    max_receive_count: int
    dead_letter_queue: str

    @classmethod
    def of(cls, sqs: Any, queue_url: str) -> Redrive | None:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        if not policy:
            return None
        parsed = json.loads(policy)
        return cls(int(parsed["maxReceiveCount"]), parsed["deadLetterTargetArn"].rsplit(":", 1)[-1])


def queue_consumer(
    sqs: Any,
    pool: FunctionPool,
    *,
    queue_url: str,
    queue_arn: str,
    batch_size: int,
    region: str,
    redrive: Redrive | None = None,
) -> Callable[[], None]:
    """One receive-invoke-delete round of an event source mapping with ReportBatchItemFailures,
    told in one terminal line, and one more for each message the queue moves to its DLQ."""
    queue = queue_arn.rsplit(":", maxsplit=1)[-1]

    def step() -> None:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            WaitTimeSeconds=WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        batch_ids = {message["MessageId"] for message in messages}
        started = time.perf_counter()
        said = f"[{pool.function}] {_count(len(messages), 'message')} from {queue}"
        try:
            response = pool.invoke(
                {"Records": [sqs_record(m, queue_arn, region) for m in messages]}
            )
        except InvocationError as exc:
            print(f"{said}: the batch failed ({exc}); {len(messages)} retried later", flush=True)
            _tell_redrives(pool.function, messages, batch_ids, redrive, str(exc))
            return
        keep = failed_message_ids(response, batch_ids)
        took = (time.perf_counter() - started) * 1000
        outcome = f"{len(batch_ids) - len(keep)} done" + (
            f", {len(keep)} retried later" if keep else ""
        )
        print(f"{said}: {outcome} ({took:.0f} ms)", flush=True)
        _tell_redrives(pool.function, messages, keep, redrive, None)
        done = [m for m in messages if m["MessageId"] not in keep]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )

    return step


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _tell_redrives(
    function: str,
    messages: list[dict[str, Any]],
    kept: set[str],
    redrive: Redrive | None,
    error: str | None,
) -> None:
    """One line for each kept message that has had its last receive: the queue moves it to
    the DLQ when it next would be received, with the function's reason."""
    if redrive is None:
        return
    for message in messages:
        identifier = message["MessageId"]
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
        if identifier not in kept or receives < redrive.max_receive_count:
            continue
        reason = error or REASONS.of(identifier) or "no reason logged"
        print(
            f"[{function}] message {identifier} failed on receive {receives} of "
            f"{redrive.max_receive_count}: the queue moves it to the DLQ "
            f"{redrive.dead_letter_queue} ({reason})",
            flush=True,
        )


class Sequencer:
    """The emulator's S3 events carry no sequencer; S3's do. Give each record one that grows in
    the order the emulator emitted the events, as S3's does per key."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:020X}"


def s3_notifications(
    sqs: Any,
    events_queue_url: str,
    pool: FunctionPool,
    *,
    retries: int,
    on_failure_url: str | None,
    sequencer: Sequencer,
    on_failure_sqs: Any = None,
) -> Callable[[], None]:
    """Deliver S3 events (from the emulator's notification queue) as asynchronous invocations;
    an event that fails every attempt goes to `on_failure_url` through `on_failure_sqs` (a
    client with the function's role, as Lambda sends it), or `sqs`."""
    send_failure = _sender(on_failure_sqs or sqs, on_failure_url)

    def step() -> None:
        for message in _receive(sqs, events_queue_url):
            event = json.loads(message["Body"])
            if "Records" in event:
                for record in event["Records"]:
                    record["s3"]["object"].setdefault("sequencer", sequencer.next())
                invoke_async(pool, event, retries=retries, on_failure=send_failure)
            sqs.delete_message(QueueUrl=events_queue_url, ReceiptHandle=message["ReceiptHandle"])

    return step


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Up to ten messages of an internal queue, long-polled."""
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=WAIT_SECONDS
    ).get("Messages", [])
    return messages


def _sender(sqs: Any, url: str | None) -> Callable[[dict[str, Any]], None]:
    def send(record: dict[str, Any]) -> None:
        if url:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    return send


def invoke_async(
    pool: FunctionPool,
    event: dict[str, Any],
    *,
    retries: int,
    on_failure: Callable[[dict[str, Any]], None],
    delay: float = 1.0,
) -> None:
    """Lambda's asynchronous invocation: up to 1 + `retries` attempts, then the on-failure
    destination receives the record Lambda sends (shortened delays locally)."""
    error: InvocationError | None = None
    said = f"[{pool.function}] {_describe(event)}"
    for attempt in range(retries + 1):
        started = time.perf_counter()
        try:
            pool.invoke(event)
        except InvocationError as exc:
            error = exc
            if attempt < retries:
                wait = delay * (attempt + 1)
                print(
                    f"{said}: attempt {attempt + 1} of {retries + 1} failed ({exc}); "
                    f"retried in {wait:g} s",
                    flush=True,
                )
                time.sleep(wait)
            continue
        print(f"{said}: done ({(time.perf_counter() - started) * 1000:.0f} ms)", flush=True)
        return
    error_type, _, message = str(error).partition(": ")
    on_failure(
        {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{pool.function}",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": retries + 1,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorType": error_type, "errorMessage": message},
        }
    )
    print(
        f"{said}: failed {retries + 1} times ({error}); sent to the on-failure queue",
        flush=True,
    )


def _describe(event: dict[str, Any]) -> str:
    """An S3 event in a few words: each record's event name and key (decoded: the event
    carries it URL-encoded)."""
    records = event.get("Records") or []
    return ", ".join(
        f"{record.get('eventName', '?')} "
        + unquote_plus(str(record.get("s3", {}).get("object", {}).get("key", "?")))
        for record in records[:3]
    ) + (f" and {len(records) - 3} more" if len(records) > 3 else "")


def notification_tail(sqs: Any, queue_url: str) -> Callable[[], None]:
    def step() -> None:
        for message in _receive(sqs, queue_url):
            envelope = json.loads(message["Body"])
            print(f"[notification] {envelope.get('Message', message['Body'])}", flush=True)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return step
