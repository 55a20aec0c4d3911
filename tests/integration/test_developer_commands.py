"""Developer commands run as a developer runs them, each in a process of its own: `make invoke`
(devtools/invoke.py) with the functions' sample events and with events it cannot send, and
`make bench` (devtools/bench.py) on a small scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.long


def run_invoke(function: str, event: str | None = None) -> dict[str, Any]:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TABLE", "_BUCKET"))}
    result = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", function, *([event] if event else [])],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The response is the last JSON document printed, after any log lines.
    response: dict[str, Any] = json.loads(result.stdout[result.stdout.rfind("\n{") + 1 :])
    return response


@pytest.mark.parametrize(
    ("function", "event", "said"),
    [
        ("ApiFunction", "events/nope.json", "cannot read the event 'events/nope.json'"),
        ("ApiFunction", "README.md", "the event 'README.md' is not JSON"),
        (
            "ApiFunction",
            "events/sqs_order_batch.json",
            "events/sqs_order_batch.json is a SQS event; ApiFunction is invoked by API Gateway",
        ),
        (
            "SqsHandlerFunction",
            "events/api_get_user.json",
            "is a API Gateway event; SqsHandlerFunction is invoked by SQS",
        ),
    ],
)
def test_make_invoke_refuses_an_event_it_cannot_send_in_one_line(
    function: str, event: str, said: str
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", function, event],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 2
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_make_invoke_runs_the_api_handler_with_a_sample_event() -> None:
    response = run_invoke("ApiFunction", "events/api_create_user.json")

    assert response["statusCode"] == 201
    assert '"email":"ada.lovelace@example.com"' in response["body"]


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("events/s3_put_json.json", "recorded"),
        ("events/s3_put_image_encoded_key.json", "recorded"),
        ("events/s3_delete.json", "removed"),
    ],
)
def test_make_invoke_puts_the_object_an_s3_event_names_so_it_is_processed(
    event: str, outcome: str
) -> None:
    (processed,) = run_invoke("S3HandlerFunction", event)["processed"]

    assert processed["outcome"] == outcome


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        # What each is for, on a fresh account: a user created (not a 404 for a missing one),
        # orders applied, an upload recorded, an administrator's token made.
        ("ApiFunction", 201),
        ("SqsHandlerFunction", {"batchItemFailures": []}),
        ("S3HandlerFunction", "recorded"),
        ("AccessTokenFunction", ["users-api/self", "users-api/admin"]),
    ],
)
def test_make_invoke_without_an_event_takes_the_function_s_sample(
    function: str, expected: Any
) -> None:
    response = run_invoke(function)

    if function == "ApiFunction":
        assert response["statusCode"] == expected
    elif function == "S3HandlerFunction":
        assert response["processed"][0]["outcome"] == expected
    elif function == "AccessTokenFunction":
        details = response["response"]["claimsAndScopeOverrideDetails"]
        assert details["accessTokenGeneration"]["scopesToAdd"] == expected
    else:
        assert response == expected


def test_make_invoke_runs_the_order_consumer_with_a_sample_batch() -> None:
    assert run_invoke("SqsHandlerFunction", "events/sqs_order_batch.json") == {
        "batchItemFailures": []
    }


def test_make_bench_measures_everything_it_reports(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    results = tmp_path / "bench.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.bench",
            "--runs",
            "1",
            "--warm",
            "20",
            "--no-build",
            "--orders",
            "40",
            "--load-seconds",
            "2",
            "--table-users",
            "2000",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    # Budgets may or may not hold with one run on a busy machine; the measurements must exist.
    assert run.returncode in (0, 1), run.stderr
    measured = json.loads(results.read_text())
    assert set(measured["cold_ms"]) == {
        "ApiFunction",
        "S3HandlerFunction",
        "floor + pydantic",
        "floor",
    }
    assert set(measured["restored_ms"]) == {
        "AccessTokenFunction",
        "ApiFunction",
        "SqsHandlerFunction",
        "S3HandlerFunction",
        "floor (GetItem made in init)",
    }
    consumer, api = measured["load"]["consumer"], measured["load"]["api"]
    assert (consumer["orders"], consumer["messages"]) == (40, 42)
    assert (consumer["unstored_orders"], consumer["wrong_orders"]) == (0, 0)
    assert consumer["left_in_queues"] == 0
    assert consumer["calls"]["PutItem"] == 42
    assert api["requests"] > 0
    assert (api["server_errors"], api["writes_unreadable"]) == (0, 0)
    assert measured["transaction_ms"]["users"] == 2000
    assert measured["aws_calls"]["GET /users/{id}"] == 1
    assert measured["aws_calls"]["POST /users"] == 1
    assert measured["aws_calls"]["SQS batch of 10 order_created"] == 11
    assert {"GET /users/{id}", "floor GetItem", "POST /users"} <= set(measured["warm_ms"])
    assert "budgets" in run.stdout
    assert [budget["what"] for budget in measured["budgets"]] == [
        "API cold start / floor",
        "API first invocation after a restore / the floor's",
        "S3 cold start / floor",
        "warm GET /users/{id} / floor GetItem",
        "warm SQS batch of 10 with notifications / floor GetItem",
        "AWS calls per message, SQS batch of 10 with notifications",
        "AWS calls per message, draining a backlog with 5% duplicates",
        "orders stored wrong or not at all, after the backlog",
        "API 5xx under concurrent clients",
        "POST /users transaction into 2,000 users / empty",
        "acknowledged writes not read back",
        "AWS calls, GET /users/{id}",
        "AWS calls, POST /users",
        "all artifacts (MB, layer once)",
    ]
    calls_per_message = measured["budgets"][5]
    assert (calls_per_message["measured"], calls_per_message["ok"]) == (1.1, True)
