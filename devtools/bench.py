"""`make bench`: cold starts, warm latencies, AWS calls per unit of work and artifact sizes, in
one run, each against a budget set relative to a floor measured in the same run.

- Cold start: a fresh Python process imports a handler and serves its first event, timed
  inside the process (interpreter start-up excluded), against a moto server on loopback with
  the template's resources. The process sees what Lambda's would: the runtime environment
  (devtools/runtime.py: the runtime requirements plus boto3, compiled, not the dev venv, whose
  extra packages such as pyOpenSSL and awscrt botocore would import), and src/ as
  the function artifact ships it (made by the Makefile's build target, with its bytecode). Runs
  alternate with the floor: a process that creates a boto3 DynamoDB client and does one GetItem.
  A reference run beside them: the floor plus pydantic's import and one model validated and
  dumped, the least any pydantic API pays.
- After a restore: per function, copies restored from one snapshot through the local stack's
  SnapStart lifecycle; each copy's first invocation against warm ones in the same copy. Beside
  them the same for a floor function: a boto3 client whose GetItem ran in init.
- Warm: hundreds of invocations in this process; median and p99.
- AWS calls: counted at botocore's HTTP layer (before-send), per request type, per SQS message,
  per S3 object.
- Load (devtools/bench_load.py): the local stack's consumer draining a backlog of orders, and its
  API under concurrent clients.
- Artifacts: `sam build` into a temporary directory.

Results print as a table and go to bench-results/bench.json. Beside each cold-start median go the
quartiles of the ratios of each run to the floor run right after it: on a shared machine they
tell how far one run's ratio strays from the budget's.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devtools.bench_load import LOAD_SECONDS, ORDERS, under_load
from devtools.lambda_events import LambdaContext, api_event, load_event
from devtools.resources import (
    create_resources,
    free_port,
    function_environments,
    function_handlers,
    use_emulator_credentials,
)
from devtools.runtime import runtime_python
from devtools.template import create_table_request, load_template

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results" / "bench.json"
# What the cold-start runs measure (the consumer's is not: no user waits on it; its throughput
# under a backlog is what counts), and the reference run beside the floor.
COLD_FUNCTIONS = ("ApiFunction", "S3HandlerFunction")
PYDANTIC_REFERENCE = "floor + pydantic"

COLD_DRIVER = """
import json, sys, time
started = time.perf_counter()
{body}
print(json.dumps({{"ms": (time.perf_counter() - started) * 1000}}))
"""
HANDLER_BODY = """
import importlib
event = json.loads(sys.argv[1])
module, name = sys.argv[2].rsplit(".", 1)
class Context:
    function_name = "bench"; aws_request_id = "cold"; memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self): return 10_000
response = getattr(importlib.import_module(module), name)(event, Context())
assert "errorMessage" not in json.dumps(response), response
"""
FLOOR_BODY = """
import boto3, os
client = boto3.client("dynamodb")
client.get_item(TableName=os.environ["USERS_TABLE"], Key={"userId": {"S": sys.argv[1]}})
"""
PYDANTIC_BODY = (
    FLOOR_BODY
    + """
from pydantic import BaseModel, ConfigDict, Field
class UserPath(BaseModel):
    model_config = ConfigDict(defer_build=True)
    userId: str = Field(pattern=r"^[A-Za-z0-9-]+$")
UserPath.model_validate({"userId": sys.argv[1]}).model_dump_json()
"""
)

# After a restore, the floor is a function of nothing but a boto3 client whose GetItem ran in
# init, against the emulator: as warm as a snapshot can be. Its first call after a restore is
# the least any function on botocore pays there.
RESTORED_FLOOR = "floor (GetItem made in init)"
FLOOR_FUNCTION = """
import os

import boto3

client = boto3.client("dynamodb")


def handler(event, context):
    key = {"userId": {"S": event["pathParameters"]["userId"]}}
    client.get_item(TableName=os.environ["USERS_TABLE"], Key=key)
    return {"statusCode": 200}


handler({"pathParameters": {"userId": "floor"}}, None)
"""


def function_artifact(target: Path) -> None:
    """src/ as the functions' artifact holds it: the Makefile target `sam build` runs (the
    sources and the bytecode compiled for them)."""
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "--silent",
            "build-ApiFunction",
            f"ARTIFACTS_DIR={target}",
        ],
        cwd=ROOT,
        check=True,
        timeout=120,
    )


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """The local stack's emulator (moto behind its gate, devtools/local/emulator.py) on loopback,
    in a process of its own with its garbage collector off: its full collections over moto's
    objects would pause requests, which would read as the handlers' latency
    (docs/performance.md)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as recordings:
        server = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Where its request recording goes, when the load bench turns it on.
            env={**os.environ, "MOTO_RECORDER_FILEPATH": str(Path(recordings) / "requests")},
        )
        try:
            _wait_for_port(port, server)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)


EMULATOR = """
import gc, os, sys, threading
gc.disable()
# Its stdin is a pipe from the bench: end-of-file means the bench is gone, however it ended.
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
from devtools.local.emulator import main
main()
"""


def _wait_for_port(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the emulator exited with {server.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the emulator did not listen on port {port} within {timeout} s")


def timed(
    handler: Callable[..., Any], make_event: Callable[[], Any], count: int
) -> dict[str, float]:
    """Median and p99 (ms) of `count` invocations, events made beforehand."""
    events = [make_event() for _ in range(count)]
    durations = []
    for event in events:
        started = time.perf_counter()
        handler(event, LambdaContext(function_name="bench"))
        durations.append((time.perf_counter() - started) * 1000)
    return summary(durations)


def invoke_timed(environment: Any, event: Any) -> float:
    """One invocation of an execution environment of the local stack, in ms."""
    started = time.perf_counter()
    environment.invoke(event)
    return (time.perf_counter() - started) * 1000


def summary(durations: list[float]) -> dict[str, float]:
    return {"median": statistics.median(durations), "p99": percentile(durations, 0.99)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# Users in the full table of the transaction-cost measurement.
TABLE_USERS = 20_000


@contextlib.contextmanager
def _snapshot(version: Any) -> Iterator[Any]:
    """A snapshot of `version`, its logs quiet, stopped at the end."""
    from devtools.local.snapstart import Snapshot  # noqa: PLC0415

    quiet = dataclasses.replace(version, variables={**version.variables, "LOG_LEVEL": "WARNING"})
    snapshot = Snapshot.take(quiet)
    try:
        yield snapshot
    finally:
        snapshot.stop()


class Bench:
    def __init__(self, endpoint: str, runs: int, warm: int) -> None:
        import boto3  # noqa: PLC0415

        self.endpoint, self.runs, self.warm = endpoint, runs, warm
        self.template = load_template()
        self.physical = create_resources(self.template, boto3.client)
        self.functions = function_handlers(self.template)
        self.environments = function_environments(self.template, self.physical)
        self.boto3 = boto3
        self.results: dict[str, Any] = {}

    def transaction_cost(self, users: int = TABLE_USERS, creates: int = 200) -> None:
        """POST /users's transaction (a user and its email claim) into an empty users table and
        into one of `users` users: the emulator's cost per write, which DynamoDB's does not
        make depend on the table's size."""
        from src.core.clock import utc_now  # noqa: PLC0415
        from src.models.users import User  # noqa: PLC0415
        from src.repositories.users import UserRepository  # noqa: PLC0415

        dynamodb = self.boto3.client("dynamodb")
        request = create_table_request(
            self.template["Resources"]["UsersTable"]["Properties"], "bench-empty"
        )
        medians = {}
        for label, table, filled in (("empty", "bench-empty", 0), ("full", "bench-full", users)):
            dynamodb.create_table(**{**request, "TableName": table})
            for start in range(0, filled, 25):
                dynamodb.batch_write_item(
                    RequestItems={
                        table: [
                            {"PutRequest": {"Item": {"userId": {"S": f"seeded-{n}"}}}}
                            for n in range(start, min(filled, start + 25))
                        ]
                    }
                )
            repository = UserRepository(dynamodb, table)
            durations = []
            for _ in range(creates):
                user_id = str(uuid.uuid4())
                user = User(
                    userId=user_id, email=f"{user_id}@example.com", name="B", createdAt=utc_now()
                )
                started = time.perf_counter()
                repository.create(user)
                durations.append((time.perf_counter() - started) * 1000)
            medians[label] = statistics.median(durations)
        self.results["transaction_ms"] = {**medians, "users": users, "creates": creates}

    # --- events -----------------------------------------------------------------------------
    def seed_user(self) -> str:
        from src.core.clock import utc_now  # noqa: PLC0415
        from src.models.users import User  # noqa: PLC0415
        from src.repositories.users import UserRepository  # noqa: PLC0415

        user_id = str(uuid.uuid4())
        repository = UserRepository(self.boto3.client("dynamodb"), self.physical["UsersTable"])
        repository.create(
            User(userId=user_id, email=f"{user_id}@example.com", name="Bench", createdAt=utc_now())
        )
        return user_id

    def sqs_event(self, count: int) -> dict[str, Any]:
        """A copy of events/sqs_order_created.json with `count` fresh creations."""
        template = load_event("sqs_order_created.json")
        record = template["Records"][0]
        records = []
        for _ in range(count):
            body = json.loads(record["body"])
            body["orderId"] = f"o-{uuid.uuid4().hex}"
            records.append({**record, "messageId": str(uuid.uuid4()), "body": json.dumps(body)})
        return {"Records": records}

    def s3_event(self) -> dict[str, Any]:
        s3 = self.boto3.client("s3")
        bucket = self.physical["UploadsBucket"]
        key = f"uploads/{uuid.uuid4().hex}/records.json"
        etag = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps([{"n": i} for i in range(100)]).encode(),
            ContentType="application/json",
        )["ETag"]
        return {
            "Records": [
                {
                    "eventTime": "2026-11-27T12:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": bucket},
                        "object": {
                            "key": key,
                            "size": 1000,
                            "eTag": etag.strip('"'),
                            "sequencer": f"{time.time_ns():020X}",
                        },
                    },
                }
            ]
        }

    # --- cold starts ---------------------------------------------------------------------------
    def first_events(self, user_id: str) -> dict[str, Callable[[], Any]]:
        """Per function, what its first invocation gets: GET /users/{id}, a batch of ten new
        orders, a new JSON object, an administrator's access token."""
        return {
            "ApiFunction": lambda: api_event("GET", f"/users/{user_id}"),
            "SqsHandlerFunction": lambda: self.sqs_event(10),
            "S3HandlerFunction": self.s3_event,
            "AccessTokenFunction": lambda: load_event("cognito_token_administrator.json"),
        }

    def cold(self) -> None:
        user_id = self.seed_user()
        events = self.first_events(user_id)

        def handler_arguments(name: str) -> list[str]:
            return [json.dumps(events[name]()), self.functions[name]]

        # (label, function, the process's code, its arguments)
        series: list[tuple[str, str, str, Callable[[], list[str]]]] = [
            (name, name, HANDLER_BODY, functools.partial(handler_arguments, name))
            for name in COLD_FUNCTIONS
        ]
        series.append((PYDANTIC_REFERENCE, "ApiFunction", PYDANTIC_BODY, lambda: [user_id]))
        samples: dict[str, list[float]] = {label: [] for label, *_ in series}
        samples["floor"] = []
        # Each run over the floor run right after it: how far one run's ratio strays.
        ratios: dict[str, list[float]] = {label: [] for label, *_ in series}
        with tempfile.TemporaryDirectory() as code:
            function_artifact(Path(code))
            for _ in range(self.runs):
                for label, function, body, arguments in series:
                    ms = self._process(code, function, body, arguments())
                    floor = self._process(code, "ApiFunction", FLOOR_BODY, [user_id])
                    samples[label].append(ms)
                    samples["floor"].append(floor)
                    ratios[label].append(ms / floor)
        self.results["cold_ms"] = {name: statistics.median(v) for name, v in samples.items()}
        self.results["cold_runs"] = {name: len(v) for name, v in samples.items()}
        if self.runs > 1:
            self.results["cold_ratio_quartiles"] = {
                name: statistics.quantiles(v, n=4) for name, v in ratios.items()
            }

    def _process(self, code: str, function: str, body: str, argv: list[str]) -> float:
        environment = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": code,
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            **self.environments[function],
        }
        result = subprocess.run(
            [str(runtime_python()), "-s", "-c", COLD_DRIVER.format(body=body), *argv],
            env=environment,
            # `-c` puts the working directory first on sys.path: run in the copy, so that the
            # repository's src/ (and any bytecode cached beside it) is not what gets imported.
            cwd=code,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        ms: float = json.loads(result.stdout.strip().splitlines()[-1])["ms"]
        return ms

    # --- SnapStart: the first invocation after a restore ----------------------------------------
    def restored(self) -> None:
        """Through the local stack's SnapStart lifecycle (devtools/local/snapstart.py): per
        function, one snapshot (init with the before-snapshot hooks), then copies restored from
        it. Each copy's first invocation is timed, then warm ones in the same copy; the median
        of each, both as the supervisor sees them (pipes included). Beside them the floor's
        function (FLOOR_FUNCTION), through the same lifecycle. The functions take turns, one copy
        each per round, so that a ratio between two compares copies restored side by side."""
        from devtools.local.functions import Modes, versions_from_template  # noqa: PLC0415

        user_id = self.seed_user()
        events = self.first_events(user_id)
        events[RESTORED_FLOOR] = events["ApiFunction"]
        first: dict[str, list[float]] = {}
        warm: dict[str, list[float]] = {}
        with tempfile.TemporaryDirectory() as code, contextlib.ExitStack() as stack:
            function_artifact(Path(code))
            (Path(code) / "bench_floor.py").write_text(FLOOR_FUNCTION)
            versions = versions_from_template(
                self.template, self.physical, Path(code), Modes(snapstart=True)
            )
            versions[RESTORED_FLOOR] = dataclasses.replace(
                versions["ApiFunction"], function="BenchFloor", handler="bench_floor.handler"
            )
            snapshots = {
                name: stack.enter_context(_snapshot(version)) for name, version in versions.items()
            }
            for name in snapshots:
                first[name], warm[name] = [], []
            for _ in range(self.runs):
                for name, snapshot in snapshots.items():
                    environment = snapshot.restore()
                    try:
                        first[name].append(invoke_timed(environment, events[name]()))
                        warm[name].extend(
                            invoke_timed(environment, events[name]()) for _ in range(5)
                        )
                    finally:
                        environment.stop()
        self.results["restored_ms"] = {
            name: {
                "first": statistics.median(first[name]),
                "warm": statistics.median(warm[name]),
            }
            for name in first
        }

    # --- warm invocations and AWS calls -------------------------------------------------------
    def warm_and_calls(self) -> None:
        for environment in self.environments.values():
            os.environ.update(environment)
        os.environ["LOG_LEVEL"] = "WARNING"
        from src.core import aws  # noqa: PLC0415
        from src.handlers import api_handler, s3_handler, sqs_handler  # noqa: PLC0415

        calls: list[str] = []
        for client in (aws.dynamodb_client(), aws.sns_client(), aws.s3_client()):
            client.meta.events.register("before-send", lambda **kw: calls.append(kw["request"].url))
        user_id = self.seed_user()
        api = api_handler.handler

        def new_user() -> dict[str, Any]:
            email = f"u-{uuid.uuid4().hex}@example.com"
            return api_event("POST", "/users", {"email": email, "name": "B"})

        def get_user() -> dict[str, Any]:
            return api_event("GET", f"/users/{user_id}")

        self.results["warm_ms"] = {
            **self._get_against_floor(api, get_user, user_id),
            "POST /users": timed(api, new_user, self.warm),
            "SQS batch of 10": timed(
                sqs_handler.handler, lambda: self.sqs_event(10), self.warm // 10
            ),
            "S3 JSON object": timed(s3_handler.handler, self.s3_event, self.warm // 5),
        }

        def counted(handler: Callable[..., Any], event: Any) -> int:
            calls.clear()
            handler(event, LambdaContext(function_name="bench"))
            return len(calls)

        self.results["aws_calls"] = {
            "GET /users/{id}": counted(api, get_user()),
            "POST /users": counted(api, new_user()),
            "PUT /users/{id}": counted(api, api_event("PUT", f"/users/{user_id}", {"age": 1})),
            "GET /users": counted(api, api_event("GET", "/users")),
            "SQS batch of 10 order_created": counted(sqs_handler.handler, self.sqs_event(10)),
            "S3 JSON object": counted(s3_handler.handler, self.s3_event()),
        }

    def _get_against_floor(
        self, api: Callable[..., Any], get_user: Callable[[], Any], user_id: str
    ) -> dict[str, dict[str, float]]:
        """GET /users/{id} and the floor's GetItem, run alternately so that both see the same
        machine."""
        floor_client = self.boto3.client("dynamodb")
        table = self.physical["UsersTable"]

        def floor(event: Any, context: Any) -> Any:
            return floor_client.get_item(TableName=table, Key={"userId": {"S": user_id}})

        get_times: list[float] = []
        floor_times: list[float] = []
        pairs: list[tuple[Callable[..., Any], Callable[[], Any], list[float]]] = [
            (api, get_user, get_times),
            (floor, dict, floor_times),
        ]
        for _ in range(self.warm):
            for handler, make_event, times in pairs:
                event: Any = make_event()
                started = time.perf_counter()
                handler(event, LambdaContext(function_name="bench"))
                times.append((time.perf_counter() - started) * 1000)
        return {"GET /users/{id}": summary(get_times), "floor GetItem": summary(floor_times)}

    # --- artifacts ------------------------------------------------------------------------------
    def artifacts(self) -> None:
        with tempfile.TemporaryDirectory() as target:
            subprocess.run(
                [str(Path(sys.executable).parent / "sam"), "build", "--build-dir", target],
                cwd=ROOT,
                env={
                    **os.environ,
                    "SAM_CLI_TELEMETRY": "0",
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                },
                check=True,
                capture_output=True,
                timeout=600,
            )
            sizes = {
                path.name: sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                for path in Path(target).iterdir()
                if path.is_dir()
            }
        self.results["artifact_bytes"] = sizes


def budgets(results: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """(what, measured, budget, unit) for every budget of the performance issue."""
    cold, warm, calls = results["cold_ms"], results["warm_ms"], results["aws_calls"]
    restored, load = results["restored_ms"], results["load"]
    floor = cold["floor"]
    return [
        # Development runs on demand: its cold start.
        ("API cold start / floor", cold["ApiFunction"] / floor, 1.3, "x"),
        # Staging and production restore from snapshots: a copy's first request.
        (
            "API first invocation after a restore / the floor's",
            restored["ApiFunction"]["first"] / restored[RESTORED_FLOOR]["first"],
            1.1,
            "x",
        ),
        ("S3 cold start / floor", cold["S3HandlerFunction"] / floor, 1.6, "x"),
        (
            "warm GET /users/{id} / floor GetItem",
            warm["GET /users/{id}"]["median"] / warm["floor GetItem"]["median"],
            1.2,
            "x",
        ),
        # The consumer's time per batch is what bills: eleven calls (ten writes, one publish),
        # each about the floor's GetItem against the emulator, and its own work within one more.
        (
            "warm SQS batch of 10 with notifications / floor GetItem",
            warm["SQS batch of 10"]["median"] / warm["floor GetItem"]["median"],
            12,
            "x",
        ),
        (
            "AWS calls per message, SQS batch of 10 with notifications",
            calls["SQS batch of 10 order_created"] / 10,
            1.1,
            "calls",
        ),
        (
            "AWS calls per message, draining a backlog with 5% duplicates",
            load["consumer"]["calls_per_message"],
            1.1,
            "calls",
        ),
        (
            "orders stored wrong or not at all, after the backlog",
            load["consumer"]["wrong_orders"],
            0,
            "",
        ),
        ("API 5xx under concurrent clients", load["api"]["server_errors"], 0, ""),
        (
            f"POST /users transaction into {results['transaction_ms']['users']:,} users / empty",
            results["transaction_ms"]["full"] / results["transaction_ms"]["empty"],
            1.3,
            "x",
        ),
        ("acknowledged writes not read back", load["api"]["writes_unreadable"], 0, ""),
        ("AWS calls, GET /users/{id}", calls["GET /users/{id}"], 1, "calls"),
        ("AWS calls, POST /users", calls["POST /users"], 1, "calls"),
        ("all artifacts (MB, layer once)", sum(results["artifact_bytes"].values()) / 1e6, 40, "MB"),
    ]


def report(results: dict[str, Any]) -> bool:
    runs = results["cold_runs"]
    print(
        f"\ncold start (ms): median of {runs['ApiFunction']} runs per function, each followed"
        f" by a floor run ({runs['floor']} in all)"
    )
    quartiles = results.get("cold_ratio_quartiles", {})
    for name, value in results["cold_ms"].items():
        line = f"  {name:28} {value:8.1f}"
        if name in quartiles:
            line += "   each run / next floor: quartiles {:.2f} {:.2f} {:.2f}".format(
                *quartiles[name]
            )
        print(line)
    print("first invocation after a restore (ms): median over restored copies, and warm ones")
    for name, value in results["restored_ms"].items():
        ratio = value["first"] / value["warm"]
        print(f"  {name:28} first {value['first']:7.2f}   warm {value['warm']:7.2f}   {ratio:.2f}x")
    consumer, api = results["load"]["consumer"], results["load"]["api"]
    print(
        f"consumer draining {consumer['messages']} messages ({consumer['orders']} orders, 5%"
        f" sent twice; seed {consumer['seed']}): {consumer['drain_seconds']:.1f} s,"
        f" {consumer['messages_per_second']:.0f} messages/s (the consumer's invocations"
        f" {consumer['consumer_busy_seconds']:.1f} s of it, the rest the emulator's queue);"
        f" calls {consumer['calls']}"
    )
    print(
        f"API, {api['clients']} clients for {api['seconds']:.0f} s (seed {api['seed']}):"
        f" {api['requests_per_second']:.0f} requests/s, p50 {api['p50_ms']:.1f} ms,"
        f" p99 {api['p99_ms']:.1f} ms; statuses {api['statuses']};"
        f" {api['writes_acknowledged']} users written"
    )
    transaction = results["transaction_ms"]
    print(
        f"emulator, POST /users transaction (median of {transaction['creates']}): empty table"
        f" {transaction['empty']:.2f} ms, {transaction['users']:,} users"
        f" {transaction['full']:.2f} ms"
    )
    print("warm invocations (ms)")
    for name, value in results["warm_ms"].items():
        print(f"  {name:28} median {value['median']:7.2f}   p99 {value['p99']:7.2f}")
    print("AWS calls per unit of work")
    for name, value in results["aws_calls"].items():
        print(f"  {name:34} {value}")
    print("artifacts (bytes)")
    for name, value in results["artifact_bytes"].items():
        print(f"  {name:28} {value:>12,}")
    print("\nbudgets")
    ok = True
    for what, measured, budget, unit in budgets(results):
        passed = measured <= budget
        ok &= passed
        print(
            f"  {'ok  ' if passed else 'OVER'} {what:58} {measured:8.2f} {unit} (budget {budget:g})"
        )
    results["budgets"] = [
        {"what": w, "measured": m, "budget": b, "unit": u, "ok": m <= b}
        for w, m, b, u in budgets(results)
    ]
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="cold starts per function (>= 7)")
    parser.add_argument("--warm", type=int, default=300, help="warm invocations per API route")
    parser.add_argument("--no-build", action="store_true", help="skip the sam build")
    parser.add_argument("--orders", type=int, default=ORDERS, help="orders in the backlog")
    parser.add_argument(
        "--load-seconds", type=float, default=LOAD_SECONDS, help="seconds of API load"
    )
    parser.add_argument(
        "--table-users",
        type=int,
        default=TABLE_USERS,
        help="users in the table a create's transaction cost is measured against",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    use_emulator_credentials()
    with emulator() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        bench = Bench(endpoint, args.runs, args.warm)
        bench.cold()
        # The functions' log and metric lines (on stdout) would bury the report.
        with contextlib.redirect_stdout(io.StringIO()):
            bench.restored()
            bench.warm_and_calls()
        bench.transaction_cost(users=args.table_users)
        bench.results["load"] = under_load(
            bench.boto3, endpoint, orders=args.orders, seconds=args.load_seconds
        )
    if not args.no_build:
        bench.artifacts()
    else:
        bench.results["artifact_bytes"] = {}
    ok = report(bench.results)
    bench.results["seconds"] = time.perf_counter() - started
    bench.results["machine"] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(bench.results, indent=2) + "\n")
    print(f"\n{bench.results['seconds']:.0f} s; results in {args.results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
