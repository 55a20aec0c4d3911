"""A stand-in for the order queue and its event source mapping, for tests of the consumer.

Messages start in a random order and are delivered in batches, at least once: a failed record
becomes visible again after the messages already waiting (its visibility timeout), with a
higher receive count, until it succeeds or reaches `max_receives`, when it goes to the DLQ as
SQS's redrive policy does; a succeeded record may be delivered again anywhere later, as SQS
may do. A record the consumer sets aside goes to the same DLQ.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from src.handlers.sqs_handler import process_batch
from src.services.orders import OrderEventService

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:order-queue"


def sqs_record(body: str, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    """One record of an SQS event, shaped as Lambda's event source mapping sends it."""
    message_id = message_id or str(uuid.uuid4())
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795780800000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795780800012",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def sqs_event(*bodies: str | dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            sqs_record(body if isinstance(body, str) else json.dumps(body)) for body in bodies
        ]
    }


@dataclass
class SetAside:
    """The consumer's DLQ for tests: what it is sent, as (body, reason, rule)."""

    letters: list[tuple[str, str, str]] = field(default_factory=list)

    def set_aside(self, body: str, message_id: str, reason: str, rule: str) -> bool:
        self.letters.append((body, reason, rule))
        return True


@dataclass
class _Message:
    message_id: str
    body: str
    receives: int = 0


@dataclass
class OrderQueue:
    service: OrderEventService
    rng: random.Random
    max_receives: int = 5
    batch_size: int = 10
    redeliver_succeeded: float = 0.0
    dlq: list[str] = field(default_factory=list)
    set_aside: SetAside = field(default_factory=SetAside)
    deliveries: int = 0

    def run(self, bodies: list[str], max_rounds: int = 10_000) -> None:
        """Deliver `bodies` until each has succeeded or is in the DLQ."""
        pending = [_Message(str(uuid.uuid4()), body) for body in bodies]
        self.rng.shuffle(pending)
        for _ in range(max_rounds):
            if not pending:
                return
            batch, pending = pending[: self.batch_size], pending[self.batch_size :]
            for message in batch:
                message.receives += 1
            self.deliveries += 1
            event = {"Records": [sqs_record(m.body, m.message_id, m.receives) for m in batch]}
            set_aside_before = len(self.set_aside.letters)
            response = process_batch(event, self.service, self.set_aside)
            self.dlq.extend(body for body, _, _ in self.set_aside.letters[set_aside_before:])
            failed = {entry["itemIdentifier"] for entry in response["batchItemFailures"]}
            self.rng.shuffle(batch)
            for message in batch:
                if message.message_id in failed:
                    if message.receives >= self.max_receives:
                        self.dlq.append(message.body)
                    else:
                        pending.append(message)
                elif self.rng.random() < self.redeliver_succeeded:
                    pending.insert(self.rng.randint(0, len(pending)), message)
        raise AssertionError("the queue did not settle")
