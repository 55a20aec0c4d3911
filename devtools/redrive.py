"""Move the messages in a dead-letter queue back to the queue they came from, with SQS's own
message move task (StartMessageMoveTask), reporting progress until it ends.

    python -m devtools.redrive --env staging            # the OrderDLQUrl of that stack
    python -m devtools.redrive --dlq-url https://...    # any DLQ
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
    # No DestinationArn: each message goes back to the queue it was dead-lettered from.
    handle = sqs.start_message_move_task(SourceArn=source)["TaskHandle"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", help="environment in samconfig.toml: its stack's OrderDLQUrl")
    where.add_argument("--dlq-url", help="the dead-letter queue to empty")
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    dlq_url = args.dlq_url
    if dlq_url is None:
        outputs = stack_outputs(session.client("cloudformation"), stack_name(args.env))
        dlq_url = outputs["OrderDLQUrl"]
    status = redrive(session.client("sqs"), dlq_url)
    return 0 if status in ("COMPLETED", "NOTHING_TO_MOVE") else 1


if __name__ == "__main__":
    sys.exit(main())
