"""The service under load, through the local stack (`python -m devtools.local`, what `make dev`
runs) on the bench's emulator: the order consumer draining a backlog, and the API under
concurrent clients. Part of `make bench` (devtools/bench.py).

- Backlog: ORDERS distinct order_created messages plus DUPLICATE_SHARE of them sent twice, in a
  shuffled order, put on the queue as fast as SendMessageBatch takes them. Timed from the first
  send until the last order is stored; then every stored order is compared with its message,
  and the queue and the DLQ must be empty. The consumer's AWS calls (DynamoDB and SNS) are
  read from moto's request recording, the bench's own requests left out by their user agent.
- API: CLIENTS threads, each with its own connection, for LOAD_SECONDS: creates, updates and
  reads of its own users. Every answer is timed; afterwards every acknowledged write is read
  back and must hold what was acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from botocore.config import Config

from devtools.resources import free_port

ROOT = Path(__file__).resolve().parent.parent
ORDERS = 2_000
DUPLICATE_SHARE = 0.05
DRAIN_TIMEOUT = 600.0
CLIENTS = 16
LOAD_SECONDS = 30.0
# The bench's own requests, told apart from the functions' in the emulator's recording.
BENCH_AGENT = "users-service-bench"


@contextlib.contextmanager
def local_stack(endpoint: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The local stack on free loopback ports against the emulator at `endpoint`; its outputs.
    Stopped with SIGINT, as Ctrl-C stops `make dev`."""
    outputs_file = workdir / "outputs.json"
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "LOCAL_API_PORT": str(free_port()),
        "LOCAL_S3_PORT": str(free_port()),
        "LOCAL_OUTPUTS_FILE": str(outputs_file),
        "LOG_LEVEL": "WARNING",
    }
    with open(workdir / "local-stack.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while not outputs_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the local stack did not start:\n"
                        + (workdir / "local-stack.log").read_text()
                    )
                time.sleep(0.2)
            yield json.loads(outputs_file.read_text())
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def client(boto3: Any, service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        config=Config(user_agent_extra=BENCH_AGENT, retries={"mode": "standard"}),
    )


# --- the consumer draining a backlog -----------------------------------------------------------


def order_message(order_id: str, rng: random.Random) -> dict[str, Any]:
    items = [
        {"productId": f"sku-{rng.randrange(1000)}", "quantity": rng.randrange(1, 5)}
        for _ in range(rng.randrange(1, 4))
    ]
    # A number with two decimal places: its JSON text (the shortest repr) is exact, and the
    # consumer reads it as a decimal.
    total = rng.randrange(1, 10**6) / 100
    return {
        "type": "order_created",
        "orderId": order_id,
        "customerId": f"cus-{rng.randrange(10**6)}",
        "items": items,
        "total": total,
    }


def consumer_throughput(
    boto3: Any, endpoint: str, outputs: dict[str, str], log: Path, orders: int
) -> dict[str, Any]:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 - a replayable draw, not a secret
    run = uuid.uuid4().hex[:8]
    messages = {f"bench-{run}-{n}": order_message(f"bench-{run}-{n}", rng) for n in range(orders)}
    sends = list(messages.values())
    sends += rng.sample(sends, int(orders * DUPLICATE_SHARE))
    rng.shuffle(sends)
    sqs = client(boto3, "sqs", endpoint)
    dynamodb = client(boto3, "dynamodb", endpoint)
    table, queue = outputs["OrdersTableName"], outputs["OrderQueueUrl"]
    recorder = f"{endpoint}/moto-api/recorder"
    requests.post(f"{recorder}/reset-recording", timeout=30)
    requests.post(f"{recorder}/start-recording", timeout=30)
    started = time.perf_counter()
    for start in range(0, len(sends), 10):
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(body)}
                for i, body in enumerate(sends[start : start + 10])
            ],
        )
    sent = time.perf_counter()
    unseen = set(messages)
    while unseen and time.perf_counter() - started < DRAIN_TIMEOUT:
        time.sleep(0.1)
        unseen -= stored_orders(dynamodb, table, sorted(unseen)[:100])
    drained = time.perf_counter()
    requests.post(f"{recorder}/stop-recording", timeout=30)
    recording = requests.get(f"{recorder}/download-recording", timeout=60).text
    calls = consumer_calls(recording)
    return {
        "seed": seed,
        "orders": orders,
        "messages": len(sends),
        "send_seconds": sent - started,
        "drain_seconds": drained - started,
        "messages_per_second": len(sends) / (drained - started),
        # The consumer's own share of the drain: its invocations' durations, as they report.
        "consumer_busy_seconds": busy_seconds(log.read_text(), "SqsHandlerFunction"),
        "calls": calls,
        "calls_per_message": sum(calls.values()) / len(sends),
        "unstored_orders": len(unseen),
        "wrong_orders": len(wrong_orders(dynamodb, table, messages)),
        "left_in_queues": left_in_queues(sqs, outputs),
    }


def stored_orders(dynamodb: Any, table: str, order_ids: list[str]) -> set[str]:
    """Which of these (at most 100) orders the table holds: one BatchGetItem, which costs the
    emulator far less than a scan of a growing table would."""
    keys = [{"orderId": {"S": order_id}} for order_id in order_ids]
    found: set[str] = set()
    while keys:
        response = dynamodb.batch_get_item(
            RequestItems={table: {"Keys": keys, "ProjectionExpression": "orderId"}}
        )
        found.update(item["orderId"]["S"] for item in response["Responses"].get(table, []))
        keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def busy_seconds(log: str, function: str) -> float:
    """The sum of the `Duration` of a function's REPORT lines in the local stack's output."""
    return (
        sum(
            float(line.split("Duration: ", 1)[1].split(" ms", 1)[0])
            for line in log.splitlines()
            if line.startswith(f"[{function}] REPORT ")
        )
        / 1000
    )


def consumer_calls(recording: str) -> dict[str, int]:
    """The functions' DynamoDB and SNS requests in moto's recording, per operation."""
    calls: dict[str, int] = {}
    for line in recording.splitlines():
        entry = json.loads(line)
        headers = {name.lower(): value for name, value in entry["headers"].items()}
        if BENCH_AGENT in headers.get("user-agent", ""):
            continue
        target = headers.get("x-amz-target", "")
        if target.startswith("DynamoDB_"):
            name = target.split(".", 1)[1]
        elif "sns" in headers.get("authorization", "").split("/")[3:4]:
            name = "SNS"
        else:
            continue
        calls[name] = calls.get(name, 0) + 1
    return calls


def wrong_orders(dynamodb: Any, table: str, messages: dict[str, dict[str, Any]]) -> list[str]:
    """The orders whose stored item is missing or differs from their message."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    deserialize = TypeDeserializer().deserialize
    found: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            stored = {name: deserialize(value) for name, value in item.items()}
            found[stored["orderId"]] = stored
    wrong = []
    for order_id, message in messages.items():
        order = found.get(order_id)
        expected_items = [
            {"productId": i["productId"], "quantity": Decimal(i["quantity"])}
            for i in message["items"]
        ]
        if (
            order is None
            or order["customerId"] != message["customerId"]
            or order["status"] != "pending"
            or order["total"] != Decimal(str(message["total"]))
            or order["items"] != expected_items
        ):
            wrong.append(order_id)
    return wrong


def left_in_queues(sqs: Any, outputs: dict[str, str]) -> int:
    left = 0
    for name in ("OrderQueueUrl", "OrderDLQUrl"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=outputs[name],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        left += sum(int(value) for value in attributes.values())
    return left


# --- the API under concurrent clients ----------------------------------------------------------


@dataclass
class ClientRun:
    """What one client did: its answers' times and statuses, and what it was told it wrote."""

    durations: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)


def api_client(api: str, stop_at: float, seed: int) -> ClientRun:
    rng = random.Random(seed)  # noqa: S311 - a replayable draw, not a secret
    run = ClientRun()
    with requests.Session() as session:

        def call(method: str, path: str, body: Any = None) -> requests.Response:
            started = time.perf_counter()
            response = session.request(method, f"{api}{path}", json=body, timeout=30)
            run.durations.append((time.perf_counter() - started) * 1000)
            run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
            return response

        while time.perf_counter() < stop_at:
            draw = rng.random()
            if not run.users or draw < 0.2:
                email = f"load-{uuid.uuid4().hex}@example.com"
                response = call("POST", "/users", {"email": email, "name": "Load"})
                if response.status_code == 201:
                    user = response.json()
                    run.users[user["userId"]] = user
            elif draw < 0.35:
                user_id = rng.choice(list(run.users))
                response = call("PUT", f"/users/{user_id}", {"age": rng.randrange(150)})
                if response.status_code == 200:
                    run.users[user_id] = response.json()
            else:
                call("GET", f"/users/{rng.choice(list(run.users))}")
    return run


def api_under_load(api: str, seconds: float) -> dict[str, Any]:
    seed = random.SystemRandom().randrange(2**32)
    runs: list[ClientRun] = []
    stop_at = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=lambda n=n: runs.append(api_client(api, stop_at, seed + n)))
        for n in range(CLIENTS)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    durations = sorted(d for run in runs for d in run.durations)
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    unreadable = []
    with requests.Session() as session:
        for run in runs:
            for user_id, acknowledged in run.users.items():
                read = session.get(f"{api}/users/{user_id}", timeout=30)
                if read.status_code != 200 or read.json() != acknowledged:
                    unreadable.append(user_id)
    return {
        "seed": seed,
        "clients": CLIENTS,
        "seconds": elapsed,
        "requests": len(durations),
        "requests_per_second": len(durations) / elapsed,
        "p50_ms": statistics.median(durations),
        "p99_ms": durations[min(len(durations) - 1, int(0.99 * len(durations)))],
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "server_errors": sum(count for status, count in statuses.items() if status >= 500),
        "writes_acknowledged": sum(len(run.users) for run in runs),
        "writes_unreadable": len(unreadable),
    }


def under_load(
    boto3: Any, endpoint: str, *, orders: int = ORDERS, seconds: float = LOAD_SECONDS
) -> dict[str, Any]:
    """Both measurements, on one local stack."""
    with tempfile.TemporaryDirectory() as workdir, local_stack(endpoint, Path(workdir)) as outputs:
        return {
            "consumer": consumer_throughput(
                boto3, endpoint, outputs, Path(workdir) / "local-stack.log", orders
            ),
            "api": api_under_load(outputs["ApiEndpoint"], seconds),
        }
