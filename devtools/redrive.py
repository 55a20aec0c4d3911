"""Move the messages in a dead-letter queue back to the queue whose redrive policy names it,
with SQS's own message move task (StartMessageMoveTask), reporting progress until it ends; or
first show why each message is there.

    python -m devtools.redrive --env staging            # the OrderDLQUrl of that stack
    python -m devtools.redrive --dlq-url https://...    # any DLQ
    python -m devtools.redrive --env staging --show     # each message's reason; moves nothing

The order consumer sets a message it rejects aside with attributes naming the rule, the reason
and the original message id; a message moved by the queue's redrive policy (after its receives
failed) carries none. Either kind goes back to the order queue.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3

from devtools.stack import stack_name, stack_outputs

FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def redrive(
    sqs: Any,
    dlq_url: str,
    *,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
) -> str:
    """Start a move task out of the DLQ and follow it; return its final status (or
    NOTHING_TO_MOVE)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
    )["Attributes"]
    waiting = int(attributes["ApproximateNumberOfMessages"])
    if waiting == 0:
        report(f"{dlq_url}: empty, nothing to move")
        return "NOTHING_TO_MOVE"
    source = attributes["QueueArn"]
    # The destination named: messages the consumer set aside were never in a source queue's
    # redrive, so SQS could not send them "back" on its own.
    handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=_origin(sqs, dlq_url))[
        "TaskHandle"
    ]
    report(f"moving about {waiting} messages out of {source} (task {handle})")
    while True:
        (task,) = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1)["Results"]
        moved = task.get("ApproximateNumberOfMessagesMoved", 0)
        total = task.get("ApproximateNumberOfMessagesToMove", waiting)
        report(f"{task['Status'].lower()}: {moved} of {total} moved")
        if task["Status"] in FINAL:
            if task["Status"] == "FAILED":
                report(f"failed: {task.get('FailureReason', 'no reason given')}")
            return str(task["Status"])
        sleep(poll_seconds)


def _origin(sqs: Any, dlq_url: str) -> str:
    """The ARN of the one queue whose redrive policy targets the DLQ."""
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"]
    if len(sources) != 1:
        raise SystemExit(f"{dlq_url} is the DLQ of {len(sources)} queues; expected one")
    attributes = sqs.get_queue_attributes(QueueUrl=sources[0], AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


# How long the messages shown stay hidden before they are made visible again.
PEEK_SECONDS = 60
RULE, REASON, MESSAGE_ID = "rejectionRule", "rejectionReason", "originalMessageId"


def show(sqs: Any, dlq_url: str, *, report: Callable[[str], None] = print, limit: int = 100) -> int:
    """Report why each message (up to `limit`) is in the DLQ, leaving them all there; return
    how many were shown."""
    seen: dict[str, str] = {}
    while len(seen) < limit:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=PEEK_SECONDS,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            seen[message["MessageId"]] = message["ReceiptHandle"]
            attributes = {
                name: value.get("StringValue", "")
                for name, value in message.get("MessageAttributes", {}).items()
            }
            if RULE in attributes:
                report(
                    f"{attributes.get(MESSAGE_ID, message['MessageId'])}: rejected"
                    f" ({attributes[RULE]}): {attributes.get(REASON, '')}"
                )
            else:
                report(
                    f"{message['MessageId']}: moved by the queue's redrive after its receives"
                    " failed (AWS faults, or an order never created): see the consumer's log"
                )
    handles = list(seen.values())
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(handles[start : start + 10])
            ],
        )
    report(f"{len(seen)} messages shown; nothing moved")
    return len(seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", help="environment in samconfig.toml: its stack's OrderDLQUrl")
    where.add_argument("--dlq-url", help="the dead-letter queue to empty")
    parser.add_argument("--region", default=None)
    parser.add_argument("--show", action="store_true", help="show why each message is there")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    dlq_url = args.dlq_url
    if dlq_url is None:
        outputs = stack_outputs(session.client("cloudformation"), stack_name(args.env))
        dlq_url = outputs["OrderDLQUrl"]
    if args.show:
        show(session.client("sqs"), dlq_url)
        return 0
    status = redrive(session.client("sqs"), dlq_url)
    return 0 if status in ("COMPLETED", "NOTHING_TO_MOVE") else 1


if __name__ == "__main__":
    sys.exit(main())
