"""The local stack as a developer uses it while editing: saved changes live without a restart
and with the data kept, a package the artifact lacks failing as on Lambda, the SnapStart
lifecycle, the memory each REPORT line gives, a debugger stopping at a breakpoint, and the file
`sam local` takes to run against the same emulator. Each stack test runs its own stack, the
editing ones on a copy of src/ (LOCAL_CODE_DIR)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from devtools.local.functions import (
    ExecutionEnvironment,
    FunctionPool,
    InvocationError,
    Version,
)
from devtools.resources import EMULATOR_KEY, free_port
from devtools.template import function_environment
from tests.dap import DebugClient
from tests.local_stack import ROOT, eventually, local_stack

pytestmark = pytest.mark.long

HANDLER = Path("src/handlers/api_handler.py")
FUTURE = "from __future__ import annotations\n"

# Appended to the API handler: a header saying whether SnapStart's hooks package is importable.
MARK_RESPONSES = """

import importlib.util as _importlib_util

_served = handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = _served(event, context)
    hooks = _importlib_util.find_spec("snapshot_restore_py")
    response["headers"]["X-Edited"] = "hooks absent" if hooks is None else "hooks present"
    return response
"""

# Appended to the API handler: what each execution environment saw at init and after restore.
REPORT_LIFECYCLE = """

import os as _os
import random as _random
import time as _time
import uuid as _uuid

from snapshot_restore_py import register_after_restore as _register_after_restore

_INIT = {
    "X-Init": _uuid.uuid4().hex,
    "X-Init-Pid": str(_os.getpid()),
    "X-Init-Type": _os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
}
_RESTORED = {}


@_register_after_restore
def _note_restore() -> None:
    _RESTORED["X-Restored"] = _uuid.uuid4().hex
    # Registered after the service's own hook: what the restore kept of the init's work.
    kept = user_service.cache_info().currsize + dynamodb_client.cache_info().currsize
    _RESTORED["X-Kept"] = str(kept)


_served = handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _time.sleep(1)  # long enough that concurrent requests need environments of their own
    response = _served(event, context)
    response["headers"].update(
        {**_INIT, **_RESTORED, "X-Pid": str(_os.getpid()), "X-Random": str(_random.random())}
    )
    return response
"""


def code_marked(mark: str) -> str:
    """Appended to the API handler: every response says which code served it; a request with
    `?limit=1` says when it starts and takes three seconds longer."""
    return f"""

import time as _time

_served = handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if (event.get("queryStringParameters") or {{}}).get("limit") == "1":
        print("slow request started", flush=True)
        _time.sleep(3)
    response = _served(event, context)
    response["headers"]["X-Code"] = "{mark}"
    return response
"""


@pytest.fixture
def code(tmp_path: Path) -> Path:
    """A copy of src/ for the stack to run and the test to edit."""
    shutil.copytree(
        ROOT / "src", tmp_path / "code" / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path / "code"


def first(
    get: Callable[[], requests.Response], wanted: Callable[[requests.Response], bool]
) -> requests.Response | None:
    """The first response `wanted` accepts within the 2 seconds a change takes to be live."""
    found = eventually(lambda: [r] if wanted(r := get()) else None, timeout=2, interval=0.05)
    return found[0] if found else None


def create_user(api: str) -> dict[str, Any]:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    created = requests.post(f"{api}/users", json={"email": email, "name": "Ada"}, timeout=30)
    assert created.status_code == 201
    user: dict[str, Any] = created.json()
    return user


def test_an_edit_is_live_within_two_seconds_with_the_data_kept(tmp_path: Path, code: Path) -> None:
    handler = code / HANDLER
    with local_stack(tmp_path, LOCAL_CODE_DIR=str(code)) as stack:
        user = create_user(stack.api)

        def get() -> requests.Response:
            return requests.get(f"{stack.api}/users/{user['userId']}", timeout=30)

        assert "X-Edited" not in get().headers

        handler.write_text(handler.read_text() + MARK_RESPONSES)
        edited = first(get, lambda response: "X-Edited" in response.headers)

        assert edited is not None, stack.log
        assert edited.status_code == 200
        assert edited.json() == user
        # Outside SnapStart, the hooks package is not there, as on Lambda.
        assert edited.headers["X-Edited"] == "hooks absent"
        assert "[reload] src/handlers/api_handler.py changed" in stack.log


def test_invocations_in_flight_finish_on_the_code_they_started_with(
    tmp_path: Path, code: Path
) -> None:
    handler = code / HANDLER
    original = handler.read_text()
    handler.write_text(original + code_marked("first"))
    with local_stack(tmp_path, LOCAL_CODE_DIR=str(code)) as stack, ThreadPoolExecutor(1) as pool:
        # Given a slow request in flight on the first code
        slow = pool.submit(requests.get, f"{stack.api}/users?limit=1", timeout=30)
        assert eventually(lambda: "[ApiFunction] slow request started" in stack.log, 10, 0.05)

        # When the code changes under it
        handler.write_text(original + code_marked("second"))
        fresh = first(
            lambda: requests.get(f"{stack.api}/openapi.json", timeout=30),
            lambda response: response.headers.get("X-Code") == "second",
        )

        # Then new requests get the new code and the one in flight ends on the old
        assert fresh is not None, stack.log
        assert not slow.done()
        assert slow.result().status_code == 200
        assert slow.result().headers["X-Code"] == "first"


def test_a_package_the_artifact_lacks_fails_as_on_lambda_until_the_line_goes(
    tmp_path: Path, code: Path
) -> None:
    handler = code / HANDLER
    original = handler.read_text()
    with local_stack(tmp_path, LOCAL_CODE_DIR=str(code)) as stack:
        user = create_user(stack.api)

        def get() -> requests.Response:
            return requests.get(f"{stack.api}/users/{user['userId']}", timeout=30)

        # pytest is in the dev virtualenv, not in requirements.txt
        handler.write_text(original.replace(FUTURE, FUTURE + "\nimport pytest\n", 1))
        failed = first(get, lambda response: response.status_code == 502)

        assert failed is not None, stack.log
        assert failed.json() == {"message": "Internal server error"}
        # Logged as Lambda logs a failed init: the error, the INIT_REPORT with its status, and
        # the invocation's REPORT naming the error; and the request's line says why.
        error = (
            "Runtime.ImportModuleError: Unable to import module "
            "'src.handlers.api_handler': No module named 'pytest'"
        )
        logged = (
            f"[ApiFunction] [ERROR] {error}",
            "\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError\n",
            "\tStatus: error\tError Type: Runtime.ImportModuleError\n",
            f" -> 502 ApiFunction failed: {error}\n",
        )
        assert eventually(lambda: all(line in stack.log for line in logged), 10), stack.log
        assert re.search(
            r"^\[ApiFunction\] INIT_REPORT Init Duration: [\d.]+ ms\t", stack.log, re.M
        )

        handler.write_text(original)
        recovered = first(get, lambda response: response.status_code == 200)

        assert recovered is not None, stack.log
        assert recovered.json() == user


def test_a_syntax_error_s_traceback_names_the_file_in_the_repository(
    tmp_path: Path, code: Path
) -> None:
    handler = code / HANDLER
    with local_stack(tmp_path, LOCAL_CODE_DIR=str(code)) as stack:
        handler.write_text(handler.read_text() + "\ndef broken(:\n")
        failed = first(
            lambda: requests.get(f"{stack.api}/openapi.json", timeout=30),
            lambda response: response.status_code == 502,
        )

        assert failed is not None, stack.log
        # The traceback names the file a developer edits, not the stack's copy of it; its lines
        # may reach the terminal after the 502 reaches the client.
        assert eventually(lambda: f'File "{handler}"' in stack.log, 30), stack.log
        assert "Runtime.UserCodeSyntaxError" in stack.log
        assert f"{tempfile.gettempdir()}" not in stack.log.replace(str(tmp_path), ""), stack.log


def test_snapstart_inits_once_and_restores_a_copy_per_concurrent_environment(
    tmp_path: Path, code: Path
) -> None:
    handler = code / HANDLER
    handler.write_text(handler.read_text() + REPORT_LIFECYCLE)
    with (
        local_stack(tmp_path, LOCAL_CODE_DIR=str(code), LOCAL_SNAPSTART="1") as stack,
        ThreadPoolExecutor(4) as pool,
    ):
        responses = list(
            pool.map(lambda _: requests.get(f"{stack.api}/openapi.json", timeout=30), range(4))
        )

    assert [response.status_code for response in responses] == [200] * 4
    # Ready only once every function's snapshot is taken, as a published version's is.
    taken = [
        index
        for index, line in enumerate(stack.lines)
        if re.match(r"\[\w+Function\] snapshot of version 1 taken in [\d.]+ s$", line)
    ]
    ready = next(i for i, line in enumerate(stack.lines) if line.startswith("local stack ready"))
    assert len(taken) == 4, stack.log
    assert max(taken) < ready
    headers = [response.headers for response in responses]
    copies = {h["X-Pid"]: (h["X-Restored"], h["X-Random"]) for h in headers}
    # Init ran once: every copy holds the same import-time state, made in another process.
    assert len({(h["X-Init"], h["X-Init-Pid"], h["X-Init-Type"]) for h in headers}) == 1
    assert headers[0]["X-Init-Type"] == "snap-start"
    assert headers[0]["X-Init-Pid"] not in copies
    # At least two restored copies served the concurrent requests...
    assert len(copies) >= 2, stack.log
    # ...each with after-restore state of its own: the test's hook and the service's, which
    # reseeds random (without it, every copy would draw the snapshot's next number).
    assert len({restored for restored, _ in copies.values()}) == len(copies)
    assert len({draw for _, draw in copies.values()}) == len(copies)
    # The init built the users service and its DynamoDB client, and every copy kept them.
    assert {h["X-Kept"] for h in headers} == {"2"}


def test_an_environment_reports_its_own_peak_memory_not_the_supervisors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny.py").write_text("def handler(event, context):\n    return {}\n")
    # The supervisor's memory, as the local stack's grows while the moto in it holds the data.
    ballast = bytearray(400 * 2**20)
    ballast[:: 2**12] = b"\x01" * len(ballast[:: 2**12])
    environment = ExecutionEnvironment.start(
        Version("Tiny", "tiny.handler", {}, timeout=10, memory=128, task_root=tmp_path)
    )
    try:
        assert environment.invoke({}) == {}
    finally:
        environment.stop()
    printed: list[str] = []

    def report() -> re.Match[str] | None:
        printed.append(capsys.readouterr().out)
        return re.search(r"\[Tiny\] REPORT .*Max Memory Used: (\d+) MB", "".join(printed))

    reported = eventually(report, 10)

    assert reported, printed
    assert 5 <= int(reported[1]) < 100


def test_an_environment_past_its_memory_size_is_killed_as_lambda_kills_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function of 128 MB whose invocation asks for 50 MB, or 200 MB, and touches it
    (tmp_path / "hungry.py").write_text(
        "def handler(event, context):\n"
        "    ballast = bytearray(event['mb'] * 2**20)\n"
        "    ballast[:: 2**12] = b'\\x01' * len(ballast[:: 2**12])\n"
        "    return {'held': len(ballast) // 2**20}\n"
    )
    pool = FunctionPool(
        Version("Hungry", "hungry.handler", {}, timeout=10, memory=128, task_root=tmp_path)
    )
    try:
        assert pool.invoke({"mb": 50}) == {"held": 50}
        # When one invocation passes the memory size
        with pytest.raises(InvocationError) as killed:
            pool.invoke({"mb": 200})
        # Then it fails as on Lambda, and the next invocation gets a new environment
        assert str(killed.value).startswith("Runtime.OutOfMemory: RequestId: ")
        assert pool.invoke({"mb": 50}) == {"held": 50}
    finally:
        pool.stop()
    report = re.search(
        r"\[Hungry\] REPORT .*Memory Size: 128 MB\tMax Memory Used: (\d+) MB\t"
        r"Status: error\tError Type: Runtime.OutOfMemory",
        capsys.readouterr().out,
    )
    assert report
    assert int(report[1]) > 128


def test_a_breakpoint_in_a_handler_stops_there(tmp_path: Path) -> None:
    port = free_port()
    source = ROOT / HANDLER
    line = source.read_text().splitlines().index("    return app.handle(event, context)") + 1
    with local_stack(tmp_path, LOCAL_DEBUG_PORT=str(port)) as stack:
        # Given a debugger attached to the API's environment, with a breakpoint in the
        # repository's own file (the environment runs a copy of it)
        debugger = eventually(lambda: _connect(port), timeout=30, interval=0.2)
        assert debugger, stack.log
        placed = debugger.attach_with_breakpoint(str(source), line)
        assert placed["verified"] is True

        # When a request arrives
        answered: dict[str, int] = {}
        request = threading.Thread(
            target=lambda: answered.update(
                status=requests.get(f"{stack.api}/openapi.json", timeout=60).status_code
            )
        )
        request.start()

        # Then the handler stops at the breakpoint, and goes on when told to
        stopped = debugger.until(lambda message: message.get("event") == "stopped")
        assert stopped["body"]["reason"] == "breakpoint"
        thread = stopped["body"]["threadId"]
        frames = debugger.response(debugger.request("stackTrace", threadId=thread))
        top = frames["body"]["stackFrames"][0]
        assert (top["source"]["path"], top["line"]) == (str(source), line)
        assert answered == {}  # the request waits while the handler is stopped
        debugger.request("continue", threadId=thread)
        request.join(timeout=60)
        debugger.close()

    assert answered == {"status": 200}


def _connect(port: int) -> DebugClient | None:
    try:
        return DebugClient(port)
    except (TimeoutError, ConnectionRefusedError):
        return None


def test_the_env_vars_file_names_resources_the_emulator_holds(tmp_path: Path) -> None:
    with local_stack(tmp_path) as stack:
        environments = json.loads((tmp_path / "env.json").read_text())
        endpoint = stack.outputs["AwsEndpointUrl"]

        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")

        s3_endpoint = stack.outputs["S3EndpointUrl"]
        checks = {
            "_TABLE": lambda name: client("dynamodb").describe_table(TableName=name),
            # Through S3's front door, as the functions reach the bucket, signed with the key
            # the local stack uses (the front door takes no other than its own and its roles').
            "_BUCKET": lambda name: boto3.client(
                "s3",
                endpoint_url=s3_endpoint,
                region_name="us-east-1",
                aws_access_key_id=EMULATOR_KEY,
                aws_secret_access_key=EMULATOR_KEY,
            ).head_bucket(Bucket=name),
            "_TOPIC_ARN": lambda arn: client("sns").get_topic_attributes(TopicArn=arn),
            "_QUEUE_URL": lambda url: client("sqs").get_queue_attributes(QueueUrl=url),
        }
        checked = set()
        for variables in environments.values():
            assert variables["AWS_ENDPOINT_URL"] == endpoint
            assert variables["AWS_ENDPOINT_URL_S3"] == s3_endpoint
            for name, value in variables.items():
                for suffix, check in checks.items():
                    if name.endswith(suffix):
                        check(value)  # raises for a resource the emulator lacks
                        checked.add(name)

    assert set(environments) == {
        "ApiFunction",
        "SqsHandlerFunction",
        "S3HandlerFunction",
        "AccessTokenFunction",
    }
    assert checked == {
        "USERS_TABLE",
        "ORDERS_TABLE",
        "IDEMPOTENCY_TABLE",
        "METADATA_TABLE",
        "UPLOADS_BUCKET",
        "NOTIFICATION_TOPIC_ARN",
        "DEAD_LETTER_QUEUE_URL",
    }
    # SAM only overrides variables the template declares: the file sets no other.
    for function, variables in environments.items():
        assert set(variables) <= set(function_environment(function)), function


def sam_help(command: str) -> str:
    sam = Path(sys.executable).with_name("sam")
    return subprocess.run(
        [str(sam), "local", command, "--help"], capture_output=True, text=True, check=True
    ).stdout


def test_the_readme_sam_local_lines_use_the_file_and_options_sam_has() -> None:
    readme = (ROOT / "docs" / "local-stack.md").read_text()
    lines = [line for line in readme.splitlines() if line.startswith(".venv/bin/sam local ")]
    functions = set(function_environments_of_template())

    assert [line.split()[2] for line in lines] == ["start-api", "invoke"]
    for line in lines:
        words = shlex.split(line)
        command = words[2]
        options = [word for word in words if word.startswith("-")]
        help_text = sam_help(command)
        for option in options:
            assert re.search(rf"(^|[ ,]){re.escape(option)}\b", help_text, re.M), option
        assert words[words.index("--env-vars") + 1] == ".aws-sam/local/env.json"
        if command == "invoke":
            assert words[3] in functions
            assert (ROOT / words[words.index("--event") + 1]).exists()


def function_environments_of_template() -> dict[str, dict[str, Any]]:
    from devtools.template import load_template

    return {
        name: function_environment(name)
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
