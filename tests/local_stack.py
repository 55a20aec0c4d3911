"""The stacks the end-to-end tests use: the local stack as a test starts it (`python -m
devtools.local`, what `make dev` runs) on free loopback ports, its terminal output collected,
stopped with SIGINT (Ctrl-C) at the end, which must leave no process behind; MiniStack (PyPI
`ministack`, in .venv-ministack) on a free loopback port; a test user in a deployed stack's user
pool; and the acceptance cases an emulator is known not to serve."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.resources import free_port
from src.core.access import ADMINISTRATORS_GROUP

ROOT = Path(__file__).resolve().parents[1]
MINISTACK = ROOT / ".venv-ministack" / "bin" / "ministack"
# Set by a harness that runs the acceptance suite on an emulator: the names of the emulator's
# gaps (comma-separated) whose cases are skipped, each skip naming its gap.
EMULATOR_GAPS = "ACCEPTANCE_EMULATOR_GAPS"
# Where the stacks and the test processes of this run leave the grants their functions' calls
# used (read by the least-privilege report, tests/roles.py). tests/conftest.py names it in the
# environment before pytest-xdist starts its workers, so they all share it.
IAM_USAGE_VARIABLE = "TESTS_IAM_USAGE_DIR"
IAM_USAGE_DIR = Path(
    os.environ.setdefault(IAM_USAGE_VARIABLE, tempfile.mkdtemp(prefix="iam-usage-"))
)


@dataclass
class RunningStack:
    outputs: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.outputs["ApiEndpoint"]

    @property
    def log(self) -> str:
        return "".join(self.lines)


@contextlib.contextmanager
def local_stack(workdir: Path, **environment: str) -> Iterator[RunningStack]:
    """A running local stack; `environment` adds variables (LOCAL_SNAPSTART, LOCAL_CODE_DIR...)."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    variables.update(
        LOCAL_API_PORT=str(free_port()),
        LOCAL_AWS_PORT=str(free_port()),
        LOCAL_S3_PORT=str(free_port()),
        LOCAL_IAM_USAGE_FILE=str(IAM_USAGE_DIR / f"{uuid.uuid4().hex}.json"),
        LOCAL_OUTPUTS_FILE=str(workdir / "outputs.json"),
    )
    variables.update(environment)
    outputs_file = Path(variables["LOCAL_OUTPUTS_FILE"])
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.local"],
        cwd=ROOT,
        env=variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    output = process.stdout
    threading.Thread(target=lambda: lines.extend(output), daemon=True).start()
    deadline = time.monotonic() + 60
    while not outputs_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the local stack did not start:\n" + "".join(lines))
        time.sleep(0.2)
    try:
        yield RunningStack(json.loads(outputs_file.read_text()), lines)
    finally:
        workers = _children(process.pid)
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the local stack did not stop on SIGINT")
        assert process.returncode == 0, "".join(lines[-50:])
        assert [pid for pid in workers if _alive(pid)] == [], "processes left behind"


@contextlib.contextmanager
def ministack(workdir: Path, **environment: str) -> Iterator[str]:
    """MiniStack listening on a free loopback port, its URL; stopped at the end. `environment`
    adds its settings (AUTH=true: signatures checked, IAM policies enforced)."""
    if not MINISTACK.exists():
        pytest.fail("MiniStack missing: `make test` installs it (.venv-ministack)")
    port = free_port()
    process = subprocess.Popen(
        [str(MINISTACK)],
        cwd=workdir,
        env={
            "PATH": os.environ["PATH"],
            "BIND_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            # Its functions' code and caches go under the test's folder, not the machine's /tmp.
            "TMPDIR": str(workdir),
            **environment,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert eventually(lambda: _listening(port), timeout=30, interval=0.2), "not listening"
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def skip_on_emulator_gap(gap: str, case: str) -> None:
    """Skip the calling test when the harness running it names `gap` as one of its emulator's:
    never otherwise (a deployed stack on AWS, the local stack)."""
    if gap in os.environ.get(EMULATOR_GAPS, "").split(","):
        pytest.skip(f"emulator gap {gap}: {case}")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def eventually(check: Callable[[], Any], timeout: float = 30, interval: float = 0.5) -> Any:
    """The first truthy result of `check` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@dataclass(frozen=True)
class TestUser:
    email: str
    access_token: str


@contextlib.contextmanager
def cognito_test_user(
    cognito: Any, pool: str, client_id: str, *, administrator: bool = False
) -> Iterator[TestUser]:
    """A user made for one test run in a stack's user pool (in its administrators group when
    `administrator`), signed in, deleted after."""
    username = f"acceptance-{uuid.uuid4().hex[:12]}@example.com"
    password = f"Aa1!{secrets.token_urlsafe(24)}"
    cognito.admin_create_user(
        UserPoolId=pool,
        Username=username,
        MessageAction="SUPPRESS",
        UserAttributes=[
            {"Name": "email", "Value": username},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    try:
        if administrator:
            cognito.admin_add_user_to_group(
                UserPoolId=pool, Username=username, GroupName=ADMINISTRATORS_GROUP
            )
        cognito.admin_set_user_password(
            UserPoolId=pool, Username=username, Password=password, Permanent=True
        )
        signed_in = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        yield TestUser(username, signed_in["AuthenticationResult"]["AccessToken"])
    finally:
        cognito.admin_delete_user(UserPoolId=pool, Username=username)
