"""The terminal of `make dev` when an order event ends in the dead-letter queue, either way it
can: rejected by the consumer (moved at once), or failing until the queue's maxReceiveCount."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.local_stack import ROOT, eventually, local_stack

pytestmark = pytest.mark.long


def test_each_message_that_ends_in_the_dlq_gets_one_line_with_its_reason(tmp_path: Path) -> None:
    with local_stack(tmp_path) as stack:
        sqs = boto3.client(
            "sqs",
            endpoint_url=stack.outputs["AwsEndpointUrl"],
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        queue, dlq = stack.outputs["OrderQueueUrl"], stack.outputs["OrderDLQUrl"]

        def send(event: dict[str, object]) -> str:
            return str(sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))["MessageId"])

        created = {
            "type": "order_created",
            "orderId": "ord-terminal",
            "customerId": "cus-1",
            "items": [{"productId": "sku-1", "quantity": 1}],
            "total": 5,
        }
        # Given an order, then a create of it with other content (rejected), and a
        # cancellation of an order that is never created (retried until the queue gives up)
        send(created)
        assert eventually(lambda: " 1 done " in stack.log, 20), stack.log
        rejected = send({**created, "total": 6})
        never = send({"type": "order_cancelled", "orderId": "ord-never", "reason": "x"})

        moved = f"[SqsHandlerFunction] message {never} failed on receive 5 of 5: "
        assert eventually(lambda: moved in stack.log, 60), stack.log
        in_dlq: set[str] = set()

        def both_in_dlq() -> bool:
            for message in sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", []):
                original = message.get("MessageAttributes", {}).get("originalMessageId", {})
                in_dlq.add(original.get("StringValue", message["MessageId"]))
            return {rejected, never} <= in_dlq

        assert eventually(both_in_dlq, 30), in_dlq

    # Then each gets one line saying where it went and why, and the queue did as said
    dlq_name = dlq.rsplit("/", 1)[1]
    (line,) = [entry for entry in stack.lines if entry.startswith(moved)]
    assert line == (
        f"{moved}the queue moves it to the DLQ {dlq_name} (order event retried later: "
        "order ord-never has not been created yet)\n"
    )
    (warning,) = [entry for entry in stack.lines if rejected in entry]
    assert warning.startswith(
        "[SqsHandlerFunction] WARNING order event rejected; moved to the DLQ "
        f"(messageId={rejected}, receiveCount=1, reason="
    ), warning
    assert "rule=order-exists" in warning
    # Nothing of Lambda's per-invocation lines or metrics documents
    assert "RequestId" not in stack.log
    assert '{"_aws"' not in stack.log


def test_an_unknown_log_mode_is_refused_in_one_line_before_anything_starts() -> None:
    environment = {**os.environ, "LOCAL_LOG": "loud"}
    stopped = subprocess.run(
        [sys.executable, "-m", "devtools.local"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert stopped.returncode == 2
    assert stopped.stderr == "error: LOCAL_LOG='loud': use summary or lambda\n"
    assert stopped.stdout == ""
