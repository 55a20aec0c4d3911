"""SnapStart: per environment in the template; init primes every path, and a restore renews
only what must be unique (the random seed, the cold-start mark), keeping clients and services."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from devtools.template import Evaluator, load_template
from src.core import logging as service_logging
from src.core.aws import dynamodb_client, rehearsal
from src.core.snapstart import prepare_snapshot


@pytest.mark.parametrize(
    ("environment", "parameter", "expected"),
    [
        ("development", "default", False),
        ("staging", "default", True),
        ("production", "default", True),
        ("development", "enabled", True),
        ("production", "disabled", False),
    ],
)
def test_snapstart_per_environment_and_parameter(
    environment: str, parameter: str, expected: bool
) -> None:
    evaluator = Evaluator(
        load_template(), {}, parameters={"Environment": environment, "SnapStart": parameter}
    )

    assert evaluator.condition("UsesSnapStart") is expected


def test_functions_publish_versions_behind_an_alias() -> None:
    function = load_template()["Globals"]["Function"]

    assert function["AutoPublishAlias"] == "live"
    assert function["SnapStart"]["ApplyOn"] == {
        "Fn::If": ["UsesSnapStart", "PublishedVersions", "None"]
    }


def test_snapstart_init_primes_and_a_restore_renews_only_unique_state() -> None:
    hooks: list[Callable[[], Any]] = []
    primed: list[int] = []
    before = dynamodb_client()

    assert prepare_snapshot(
        lambda: primed.append(1), initialization_type="snap-start", register=hooks.append
    )
    random.seed(42)
    snapshot_draw = random.random()
    random.seed(42)
    service_logging._cold_start = False
    (hook,) = hooks
    hook()

    assert primed == [1]
    # The client built before the snapshot is the one the restored copy uses.
    assert dynamodb_client() is before
    assert random.random() != snapshot_draw
    assert service_logging._cold_start is True


@pytest.mark.parametrize("initialization_type", ["on-demand", "provisioned-concurrency", None])
def test_outside_snapstart_nothing_is_primed_or_registered(
    initialization_type: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    primed: list[int] = []
    hooks: list[Callable[[], Any]] = []

    assert (
        prepare_snapshot(
            lambda: primed.append(1),
            initialization_type=initialization_type,
            register=hooks.append,
        )
        is False
    )
    assert (primed, hooks) == ([], [])


PRIME_IN_A_SNAPSHOT_INIT = """
import importlib, json, sys
import botocore.httpsession
import src.core.aws as aws
from src.core.snapstart import SNAP_START

def refuse(session, request):
    raise RuntimeError(f"AWS call while priming: {request.url}")

# Whatever reaches the network goes through here.
botocore.httpsession.URLLib3Session.send = refuse
module = importlib.import_module(sys.argv[1])  # its init primes it
# The handler's module and the route groups it includes.
modules = [module] + [sys.modules[name] for name in sys.argv[2:]]
print(json.dumps({
    "services": {
        name: getattr(holder, name).cache_info().currsize
        for holder in modules
        for name in (
            "idempotency_records", "user_service", "order_service", "upload_tickets",
            "upload_processor",
        )
        if hasattr(holder, name)
    },
    "clients": [c.__name__ for c in (aws.dynamodb_client, aws.s3_client, aws.sns_client)
                if c.cache_info().currsize],
}))
"""


@pytest.mark.parametrize(
    ("handler", "groups", "services", "clients"),
    [
        (
            "src.handlers.api_handler",
            ["src.handlers.api_orders", "src.handlers.api_uploads"],
            {"idempotency_records": 1, "user_service": 1, "order_service": 1, "upload_tickets": 1},
            ["dynamodb_client", "s3_client"],
        ),
        ("src.handlers.sqs_handler", [], {"order_service": 1}, ["dynamodb_client", "sns_client"]),
        ("src.handlers.s3_handler", [], {"upload_processor": 1}, ["dynamodb_client", "s3_client"]),
    ],
)
def test_a_snapstart_init_builds_every_service_and_client_without_calling_aws(
    handler: str, groups: list[str], services: dict[str, int], clients: list[str]
) -> None:
    import json
    import os
    import subprocess
    import sys

    from devtools.runtime import ROOT, SNAPSTART_HOOKS

    result = subprocess.run(
        [sys.executable, "-c", PRIME_IN_A_SNAPSHOT_INIT, handler, *groups],
        cwd=ROOT,
        env={
            **os.environ,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
            # snapshot_restore_py, as the runtime provides it in SnapStart's init
            "PYTHONPATH": f"{ROOT}{os.pathsep}{SNAPSTART_HOOKS}",
        },
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    built = json.loads(result.stdout.splitlines()[-1])
    assert built == {"services": services, "clients": clients}


def test_a_rehearsed_call_runs_the_client_without_reaching_aws() -> None:
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    # Nothing listens on the discard port: a call that reaches the network fails at once.
    client = botocore.session.get_session().create_client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}),
    )
    key = {"userId": {"S": "u-1"}}

    with rehearsal(client):
        answer = client.get_item(TableName="users", Key=key)

    assert "Item" not in answer
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(EndpointConnectionError):
        client.get_item(TableName="users", Key=key)
