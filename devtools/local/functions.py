"""The Lambda service side of the local stack: each function's deployed version (its code and the
settings the template gives it) and a pool of execution environments that serve it.

An execution environment is a process running devtools/local/bootstrap.py with the runtime
environment's interpreter (devtools/runtime.py): its sys.path holds the function's code (a copy
of src/ made for this version) and the runtime requirements, nothing of the dev venv or of
devtools/. Its environment variables are Lambda's reserved ones, the credentials and endpoint of
the emulator, and the template's variables. Its logs stream to the terminal, each line prefixed
by the function's name.

A new version (a deploy: code or settings changed) takes effect for the next invocation: idle
environments of older versions are stopped, busy ones finish their invocation on the old code
and are stopped then, as after a deploy. An environment whose memory passes the function's
MemorySize is killed, its invocation failing with Runtime.OutOfMemory, as on Lambda (the
peak resident memory of its process, read every MEMORY_POLL_SECONDS; Lambda counts the whole
sandbox). Where it differs from Lambda: no freezing between invocations, environments are not
reclaimed when idle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from botocore.credentials import Credentials

from devtools.local.terminal import LAMBDA, function_lines
from devtools.resources import STACK, function_environments
from devtools.runtime import ROOT, SNAPSTART_HOOKS, runtime_python
from devtools.template import Evaluator

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
# Environment variables an execution environment inherits from the local stack's own.
INHERITED = (
    "PATH",
    "LANG",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)

# How often a busy environment's memory is read: its peak (VmHWM) is kept by the kernel, so a
# spike between two reads is still seen.
MEMORY_POLL_SECONDS = 0.02


def peak_memory_mb(pid: int) -> int | None:
    """The peak resident memory of process `pid` in MB (Linux's VmHWM), None where unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


__all__ = [
    "ROOT",
    "ExecutionEnvironment",
    "FunctionPool",
    "InvocationError",
    "Modes",
    "Version",
    "versions_from_template",
]


class InvocationError(Exception):
    """The function failed (an exception, an init error, a timeout, a crash): Lambda's
    "Unhandled"."""


@dataclass(frozen=True)
class Version:
    """One deployed version of a function: what its execution environments run."""

    function: str
    handler: str
    variables: dict[str, str]
    timeout: float
    memory: int
    task_root: Path
    snapstart: bool = False
    number: int = 1
    # The extra sys.path entries of this mode (snapshot_restore_py, debugpy), after the code.
    extra_paths: tuple[Path, ...] = ()
    debug_port: int | None = None
    # The directory whose src/ the copies are made from: where a debugger's breakpoints are set.
    source: Path = ROOT
    # What the terminal shows of its log stream (terminal.py).
    log_mode: str = LAMBDA

    def interpreter(self) -> list[str]:
        """The command that runs the bootstrap: the runtime environment's Python, without the
        user site or the script's directory on sys.path."""
        # Frozen standard modules would hide their frames from a debugger.
        debug = ["-X", "frozen_modules=off"] if self.debug_port is not None else []
        return [str(runtime_python()), "-s", "-P", *debug, str(BOOTSTRAP)]

    def next(self, **changes: Any) -> Version:
        return dataclasses.replace(self, number=self.number + 1, **changes)

    def environment(self, initialization_type: str) -> dict[str, str]:
        inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
        lambda_variables = {
            "AWS_LAMBDA_FUNCTION_NAME": self.function,
            "AWS_LAMBDA_FUNCTION_VERSION": str(self.number),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[{self.number}]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "_HANDLER": self.handler,
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(str(p) for p in (self.task_root, *self.extra_paths)),
            "PYTHONUNBUFFERED": "1",
        }
        if self.debug_port is not None:
            lambda_variables["LOCAL_DEBUG_PORT"] = str(self.debug_port)
            # pydevd's server-side path mapping: breakpoints set in the repository's src/
            # (the debugger's paths) bind in this version's copy of it.
            lambda_variables["PATHS_FROM_ECLIPSE_TO_PYTHON"] = json.dumps(
                [[str(self.source / "src"), str(self.task_root / "src")]]
            )
        return {**inherited, **self.variables, **lambda_variables}


@dataclass(frozen=True)
class Modes:
    """How the local stack runs functions: SnapStart (None: where the template turns it on) and
    which function waits for a debugger on which port, with debugpy's location."""

    snapstart: bool | None = None
    debug_port: int | None = None
    debug_function: str = "ApiFunction"
    debug_paths: tuple[Path, ...] = ()
    source: Path = ROOT
    log_mode: str = LAMBDA


def versions_from_template(
    template: dict[str, Any],
    physical: dict[str, str],
    task_root: Path,
    modes: Modes,
    *,
    parameters: dict[str, str] | None = None,
    credentials: Mapping[str, Credentials] | None = None,
) -> dict[str, Version]:
    """Each function's first version, its settings as the template gives them (Globals, then
    its own properties) resolved against the resources in `physical`; with `credentials`
    (function -> its role's), its environments get those, as Lambda's get the role's."""
    evaluator = Evaluator(template, physical, parameters=parameters, stack_name=STACK)
    defaults = template.get("Globals", {}).get("Function", {})
    environments = function_environments(
        template,
        physical,
        endpoint=os.environ.get("AWS_ENDPOINT_URL"),
        s3_endpoint=os.environ.get("AWS_ENDPOINT_URL_S3"),
        parameters=parameters,
    )
    versions = {}
    for name, variables in environments.items():
        properties = {**defaults, **template["Resources"][name]["Properties"]}
        snapstart = modes.snapstart
        if snapstart is None:
            apply_on = evaluator.resolve(properties.get("SnapStart", {})).get("ApplyOn")
            snapstart = apply_on == "PublishedVersions"
        debug_port = modes.debug_port if name == modes.debug_function else None
        role = {}
        if credentials is not None:
            role = {
                "AWS_ACCESS_KEY_ID": credentials[name].access_key,
                "AWS_SECRET_ACCESS_KEY": credentials[name].secret_key,
                "AWS_SESSION_TOKEN": credentials[name].token or "",
            }
        versions[name] = Version(
            function=name,
            handler=properties["Handler"],
            variables={**variables, **role},
            timeout=float(properties.get("Timeout", 3)),
            memory=int(properties.get("MemorySize", 128)),
            task_root=task_root,
            snapstart=snapstart,
            extra_paths=(
                *((SNAPSTART_HOOKS,) if snapstart else ()),
                *(modes.debug_paths if debug_port is not None else ()),
            ),
            debug_port=debug_port,
            source=modes.source,
            log_mode=modes.log_mode,
        )
    return versions


def stream_logs(version: Version, output: IO[str]) -> None:
    """Copy an environment's output to the terminal as its version's log mode shows it, each
    line prefixed by its function, with the copy of the code it runs named as the file it was
    copied from (a traceback points at the repository's file, the one to edit)."""
    copied, source = (
        f"{version.task_root}{os.sep}src{os.sep}",
        f"{version.source}{os.sep}src{os.sep}",
    )

    def copy() -> None:
        for line in output:
            shown = function_lines(line.replace(copied, source), version.log_mode)
            if shown:
                # One write per function line: environments log from concurrent threads.
                sys.stdout.write("".join(f"[{version.function}] {text}\n" for text in shown))
                sys.stdout.flush()

    threading.Thread(target=copy, daemon=True).start()


class ExecutionEnvironment:
    """The supervisor's end of one execution environment: a request pipe, a result pipe, and
    the process (started here, or restored from a snapshot by its snapshot process)."""

    def __init__(self, version: Version, pid: int, requests: IO[str], results: IO[str]) -> None:
        self.version = version
        self.pid = pid
        self._requests = requests
        self._results = results
        self._process: subprocess.Popen[str] | None = None

    @classmethod
    def start(cls, version: Version) -> ExecutionEnvironment:
        """An on-demand environment: a process of its own that runs init, then invocations."""
        read_fd, write_fd = os.pipe()
        process = subprocess.Popen(
            [*version.interpreter(), version.handler],
            cwd=version.task_root,
            env={**version.environment("on-demand"), "LOCAL_RESPONSE_FD": str(write_fd)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            text=True,
            start_new_session=True,
        )
        os.close(write_fd)
        assert process.stdin is not None
        assert process.stdout is not None
        stream_logs(version, process.stdout)
        environment = cls(version, process.pid, process.stdin, os.fdopen(read_fd))
        environment._process = process
        return environment

    def invoke(self, event: Any) -> Any:
        timeout = self.version.timeout if self.version.debug_port is None else None
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        deadline_ms = int((time.time() + self.version.timeout) * 1000)
        request = {"id": request_id, "event": event, "deadline_ms": deadline_ms}
        try:
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
        except (BrokenPipeError, ValueError) as exc:
            self.stop()
            raise InvocationError("the execution environment exited") from exc
        while True:
            ready, _, _ = select.select([self._results], [], [], MEMORY_POLL_SECONDS)
            self._hold_memory(request_id, started)
            if ready:
                break
            if timeout is not None and time.monotonic() - started > timeout:
                self.stop()
                raise InvocationError(f"Task timed out after {self.version.timeout:.0f} seconds")
        line = self._results.readline()
        # A peak past the limit between the last poll and the reply counts as Lambda counts it.
        self._hold_memory(request_id, started)
        if not line:
            self.stop()
            raise InvocationError("the execution environment exited")
        reply = json.loads(line)
        if "error" in reply:
            error = reply["error"]
            raise InvocationError(f"{error['errorType']}: {error['errorMessage']}")
        return reply["response"]

    def _hold_memory(self, request_id: str, started: float) -> None:
        """Lambda's memory limit: an environment whose peak passes the function's MemorySize
        is killed and the invocation fails with Runtime.OutOfMemory."""
        peak = peak_memory_mb(self.pid)
        if peak is None or peak <= self.version.memory:
            return
        self.stop()
        duration = (time.monotonic() - started) * 1000
        sys.stdout.write(
            f"[{self.version.function}] REPORT RequestId: {request_id}\t"
            f"Duration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms\t"
            f"Memory Size: {self.version.memory} MB\tMax Memory Used: {peak} MB\t"
            "Status: error\tError Type: Runtime.OutOfMemory\n"
        )
        sys.stdout.flush()
        raise InvocationError(
            f"Runtime.OutOfMemory: RequestId: {request_id} Error: Runtime exited with error: "
            f"signal: killed (Max Memory Used: {peak} MB of {self.version.memory} MB)"
        )

    @property
    def alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._requests.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait()
        with contextlib.suppress(OSError):
            self._results.close()


class FunctionPool:
    """Up to `size` execution environments of a function's current version, started when first
    needed (restored from its snapshot when the version uses SnapStart)."""

    def __init__(self, version: Version, *, size: int = 1) -> None:
        self.function = version.function
        self._version = version
        self._size = size
        self._idle: list[ExecutionEnvironment] = []
        self._live: set[ExecutionEnvironment] = set()  # every version's, idle or busy
        self._started = 0  # environments of the current version, idle or busy
        self._changed = threading.Condition()
        self._snapshots = SnapshotSlot()

    @property
    def version(self) -> Version:
        return self._version

    def invoke(self, event: Any) -> Any:
        environment = self._acquire()
        try:
            return environment.invoke(event)
        finally:
            self._release(environment)

    def prewarm(self) -> None:
        """Start one environment of the current version now (one being debugged listens for
        the debugger from its start), unless one is idle."""
        self._release(self._acquire())

    def publish(self) -> None:
        """Take the current version's snapshot now, as Lambda does when it publishes a SnapStart
        version (nothing to do without SnapStart); InvocationError when its init fails."""
        version = self._version
        if version.snapstart:
            self._snapshots.get(version)

    def deploy(self, version: Version) -> None:
        """Make `version` the one new invocations get."""
        with self._changed:
            retired, self._idle = self._idle, []
            self._live.difference_update(retired)
            self._version, self._started = version, 0
            self._changed.notify_all()
        for environment in retired:
            environment.stop()
        self._snapshots.discard()

    def _acquire(self) -> ExecutionEnvironment:
        with self._changed:
            while True:
                version = self._version
                for environment in self._idle:
                    self._idle.remove(environment)
                    return environment
                if self._started < self._size:
                    self._started += 1
                    break
                self._changed.wait()
        try:
            if version.snapstart:
                environment = self._snapshots.get(version).restore()
            else:
                environment = ExecutionEnvironment.start(version)
        except Exception:
            with self._changed:
                if self._version is version:
                    self._started -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._live.add(environment)
        return environment

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._changed:
            current = environment.version is self._version
            keep = current and environment.alive
            if keep:
                self._idle.append(environment)
            else:
                self._live.discard(environment)
                if current:
                    self._started -= 1
            self._changed.notify()
        if not keep:
            environment.stop()

    def stop(self) -> None:
        """Stop every environment, busy ones included, and the snapshot."""
        with self._changed:
            live, self._idle = list(self._live), []
            self._live.clear()
        for environment in live:
            environment.stop()
        self._snapshots.discard()


class SnapshotSlot:
    """The snapshot of a pool's current version, made when first needed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Any = None

    def get(self, version: Version) -> Any:
        # snapstart.py builds on this module's environments, so it is imported here.
        from devtools.local.snapstart import Snapshot  # noqa: PLC0415

        with self._lock:
            if self._snapshot is not None and self._snapshot.version is not version:
                self._snapshot.stop()
                self._snapshot = None
            if self._snapshot is None or not self._snapshot.alive:
                self._snapshot = Snapshot.take(version)
            return self._snapshot

    def discard(self) -> None:
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.stop()
                self._snapshot = None
