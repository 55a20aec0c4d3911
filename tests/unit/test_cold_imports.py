"""What each handler imports at cold start: only what its first request needs. Time is for
`make bench`; this holds the module list, which a stray import would change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# boto3 (with s3transfer) is what the handlers' botocore clients do without: about 20 ms.
HEAVY = ["pydantic", "PIL", "email_validator", "ijson", "asyncio", "boto3"]


def imported_at_cold_start(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        # Queue messages are validated by the pydantic models of src.models.orders.
        ("src.handlers.sqs_handler", {"pydantic"}),
        ("src.handlers.s3_handler", set()),
        # The API's router is its own (src.handlers.http); its models are pydantic's.
        ("src.handlers.api_handler", {"pydantic"}),
    ],
)
def test_a_handler_imports_nothing_heavy_its_path_does_not_need(
    module: str, allowed: set[str]
) -> None:
    loaded = {name.split(".")[0] for name in imported_at_cold_start(module)}

    assert {name for name in HEAVY if name in loaded} == allowed


SERVE_ORDER_EVENTS = """
import json, os, sys
import boto3
from moto import mock_aws
from devtools.resources import create_resources, function_environments
from devtools.template import load_template
with mock_aws():
    template = load_template()
    physical = create_resources(template, boto3.client)
    os.environ.update(function_environments(template, physical)["SqsHandlerFunction"])
    before = {name.split(".")[0] for name in sys.modules}
    from src.handlers import sqs_handler
    bodies = [
        {"type": "order_created", "orderId": "o", "customerId": "c",
         "items": [{"productId": "p", "quantity": 1}], "total": 1.5},
        {"type": "order_updated", "orderId": "o", "updates": {"status": "shipped"}},
        {"type": "order_updated", "orderId": "o", "updates": {"status": "pending"}},
        {"type": "order_cancelled", "orderId": "o", "reason": "r"},
        {"type": "order_created", "orderId": "o"},
    ]
    outcomes = []
    for number, body in enumerate(bodies):
        record = {"messageId": str(number), "body": json.dumps(body), "attributes": {}}
        outcomes.append(sqs_handler.handler({"Records": [record]}, None)["batchItemFailures"])
    loaded = {name.split(".")[0] for name in sys.modules} - before
    heavy = sorted(loaded & set(sys.argv[1:]))
    set_aside = boto3.client("sqs").receive_message(
        QueueUrl=os.environ["DEAD_LETTER_QUEUE_URL"], MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    rules = sorted(m["MessageAttributes"]["rejectionRule"]["StringValue"] for m in set_aside)
    print(json.dumps({"failures": outcomes, "heavy": heavy, "rules": rules}))
"""


def test_the_order_consumer_serves_every_outcome_with_pydantic_alone() -> None:
    # Applied, refused (a status moving back), cancelled, invalid, with notifications on and the
    # refused set aside in the DLQ: none
    # of these paths may import anything heavy but pydantic, on first use (moto has loaded
    # boto3 and asyncio before; they are not counted). The table and topic are the
    # template's, in moto in-process.
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    environment.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ORDER_EVENTS, *HEAVY],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    served = json.loads(result.stdout.strip().splitlines()[-1])
    # The refused two are set aside in the DLQ, not retried.
    assert served["failures"] == [[], [], [], [], []]
    assert served["rules"] == ["invalid-message", "status-backwards"]
    assert served["heavy"] == ["pydantic"]


INIT_PHASE = """
import gc, json, sys
before_init_phase = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "src.core.init_phase":
            before_init_phase.extend(sorted({module.split(".")[0] for module in sys.modules}))
sys.meta_path.insert(0, Watch())
__import__(sys.argv[1])
print(json.dumps({"before": before_init_phase, "collecting": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize(
    "module", ["src.handlers.api_handler", "src.handlers.sqs_handler", "src.handlers.s3_handler"]
)
def test_init_imports_its_libraries_with_the_collector_paused_and_freezes_them(
    module: str,
) -> None:
    # src.core.init_phase pauses the collector: a handler imports it before any library, and
    # its end leaves what init made frozen (later collections skip it) and collection on.
    result = subprocess.run(
        [sys.executable, "-c", INIT_PHASE, module],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    )

    init = json.loads(result.stdout)
    libraries = {"botocore", "pydantic", "pydantic_core", "pythonjsonlogger", "urllib3"}
    assert libraries & set(init["before"]) == set()
    assert "src" in init["before"]
    assert init["collecting"] is True
    assert init["frozen"] > 10_000


def test_the_api_loads_its_orders_and_uploads_routes_only_for_them() -> None:
    # Route groups (Api.include): a cold start serving /users loads none of their modules.
    loaded = imported_at_cold_start("src.handlers.api_handler")

    groups = {
        "src.handlers.api_orders",
        "src.handlers.api_uploads",
        "src.models.orders",
        "src.models.uploads",
        "src.services.orders",
        "src.services.tickets",
        "src.repositories.uploads",
    }
    assert groups & loaded == set()
