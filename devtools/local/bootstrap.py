"""The Lambda runtime inside one local execution environment: the process the local stack starts
for a function, with the runtime environment's interpreter (devtools/runtime.py) and a
sys.path of the function's code (LAMBDA_TASK_ROOT) and the runtime requirements only. It is run
by path with `-P`, so nothing of devtools/ is importable from it: it uses the standard library.

Two modes, as Lambda has:
- on demand: init (import the handler module) at start, then invocations one at a time;
- SnapStart (`--snapshot`): init once with AWS_LAMBDA_INITIALIZATION_TYPE=snap-start, the
  before-snapshot hooks, then a fork server: each execution environment is a copy of this
  process that runs the after-restore hooks (snapshot_restore_py's registries) before its
  first invocation.

Invocations arrive on stdin, one JSON line each ({"id", "event", "deadline_ms"}); results leave
on the file descriptor in LOCAL_RESPONSE_FD ({"id", "response"} or {"id", "error"}), so that
stdout and stderr carry only the function's own logs. An init error is the reply to the first
invocation, after which the environment exits, as Lambda discards an environment whose init
failed. The memory limit is held by the supervisor (functions.py). Where it differs from
Lambda: no Runtime API over HTTP, no freezing between invocations.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
import resource
import signal
import socket
import sys
import time
import traceback
from typing import Any

# How Lambda names init failures (errorType) and words them (errorMessage).
IMPORT_ERROR = "Runtime.ImportModuleError"
SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"


class LambdaContext:
    """Lambda's context object: the attributes code reads, with the time left before the
    invocation's deadline."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(handler_path: str) -> Any:
    """Import the handler module and find the handler, as the runtime's init does."""
    module_name, _, attribute = handler_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        path = module_name.replace(".", "/")
        raise InitError(SYNTAX_ERROR, f"Syntax error in module '{path}': {exc}") from exc
    except ImportError as exc:
        raise InitError(IMPORT_ERROR, f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, attribute, None)
    if handler is None:
        raise InitError(
            HANDLER_NOT_FOUND, f"Handler '{attribute}' missing on module '{module_name}'"
        )
    return handler


def report(error_type: str, message: str, exc: BaseException) -> dict[str, Any]:
    """Log an error as the runtime does, with the stack of the code that raised it, and return
    Lambda's error shape."""
    print(f"[ERROR] {error_type}: {message}", file=sys.stderr)
    trace = traceback.TracebackException.from_exception(exc)
    # The runtime's own frames (this file, the import machinery) are left out, as Lambda's.
    trace.stack = traceback.StackSummary.from_list(
        [frame for frame in trace.stack if not _runtime_frame(frame.filename)]
    )
    sys.stderr.write("".join(trace.format()))
    sys.stderr.flush()
    return {"errorType": error_type, "errorMessage": message}


def _runtime_frame(filename: str) -> bool:
    return (
        filename == __file__
        or filename.startswith("<frozen importlib")
        or filename == importlib.__file__
    )


def init(handler_path: str) -> tuple[Any, dict[str, Any] | None]:
    """The init phase: the handler, or the error every invocation of this environment gets."""
    try:
        return load_handler(handler_path), None
    except InitError as exc:
        return None, report(exc.error_type, str(exc), exc.__cause__ or exc)
    except Exception as exc:  # an exception raised by module-level code
        return None, report(type(exc).__name__, str(exc), exc)


def run_hooks(registry: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]) -> None:
    for function, args, kwargs in registry:
        function(*args, **kwargs)


def serve(handler: Any, init_error: dict[str, Any] | None, first_report: str = "") -> int:
    """Invocations from stdin, one at a time, until stdin closes; each between the START, END
    and REPORT lines the runtime logs (`first_report` adds the init or restore duration to
    the first REPORT)."""
    results = os.fdopen(int(os.environ["LOCAL_RESPONSE_FD"]), "w", buffering=1)
    start_debugger()
    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, Any] = {"id": request["id"]}
        version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        if init_error is not None:
            # The invocation meets the init's error, between its START and a REPORT that
            # names it; the environment is then discarded.
            print(f"START RequestId: {request['id']} Version: {version}", flush=True)
            failed = f"\tStatus: error\tError Type: {init_error['errorType']}"
            print_report(request["id"], 0.0, failed)
            reply["error"] = init_error
            results.write(json.dumps(reply) + "\n")
            return 1
        wait_for_debugger()
        print(f"START RequestId: {request['id']} Version: {version}", flush=True)
        started = time.perf_counter()
        try:
            context = LambdaContext(request["id"], request["deadline_ms"])
            response = handler(request["event"], context)
            json.dumps(response)  # what Lambda returns must be JSON
            reply["response"] = response
        except Exception as exc:
            reply["error"] = report(type(exc).__name__, str(exc), exc)
        print_report(request["id"], (time.perf_counter() - started) * 1000, first_report)
        first_report = ""
        results.write(json.dumps(reply, default=str) + "\n")
    return 0


def print_report(request_id: str, duration_ms: float, extra: str) -> None:
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    used_mb = max_memory_used_mb()
    print(f"END RequestId: {request_id}")
    print(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory} MB\t"
        f"Max Memory Used: {used_mb} MB{extra}",
        flush=True,
    )


def max_memory_used_mb() -> int:
    """This environment's peak resident memory, in MB: the kernel's high-water mark for the
    process (VmHWM; a restored copy's includes the snapshot pages it maps). Not ru_maxrss,
    which Linux carries across exec from the process that started this one: every environment
    would report the supervisor's peak instead of its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return peak // 2**20 if sys.platform == "darwin" else peak // 1024


def start_debugger() -> None:
    """With LOCAL_DEBUG_PORT, listen for a debugpy client (debugpy is put on sys.path for this
    environment only). Breakpoints set in the repository's src/ map onto this copy of it."""
    port = os.environ.get("LOCAL_DEBUG_PORT")
    if not port:
        return
    import debugpy  # noqa: PLC0415 - present in debug mode only

    debugpy.listen(("127.0.0.1", int(port)))
    print(f"[debug] waiting for a debugger on 127.0.0.1:{port}", flush=True)


def wait_for_debugger() -> None:
    if os.environ.get("LOCAL_DEBUG_PORT"):
        import debugpy  # noqa: PLC0415

        debugpy.wait_for_client()


def snapshot_server(handler_path: str, control_fd: int) -> int:
    """SnapStart: init and the before-snapshot hooks once, then one restored copy of this
    process per fork request. A request is the byte b"f" with three descriptors (stdin, log
    output, results) for the copy; the reply is its pid as a decimal line."""
    import snapshot_restore_py  # noqa: PLC0415 - provided in SnapStart mode only

    started = time.perf_counter()
    handler, init_error = init(handler_path)
    if init_error is None:
        try:
            run_hooks(snapshot_restore_py.get_before_snapshot())
        except Exception as exc:
            init_error = report(type(exc).__name__, str(exc), exc)
    if init_error is not None:
        print_init_failure((time.perf_counter() - started) * 1000, init_error)
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready\n" if init_error is None else json.dumps(init_error).encode() + b"\n")
    if init_error is not None:
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    return fork_server(handler, control)


def fork_server(handler: Any, control: socket.socket) -> int:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # restored copies are reaped by the kernel
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(control, 1, 3)
        except OSError:
            return 0
        if len(fds) != 3:
            return 0  # the supervisor is gone
        # A fork reseeds `random` in the child (an at-fork hook); a restore from a snapshot
        # does not: the copy gets the snapshot's state back, as on Lambda.
        snapshot_state = random.getstate()
        pid = os.fork()
        if pid == 0:
            random.setstate(snapshot_state)
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            return restored_copy(handler, fds)
        for fd in fds:
            os.close(fd)
        control.sendall(f"{pid}\n".encode())


def restored_copy(handler: Any, fds: list[int]) -> int:
    """One execution environment restored from the snapshot: its own stdin, logs and results,
    then the after-restore hooks, then invocations."""
    import snapshot_restore_py  # noqa: PLC0415

    stdin, output, results = fds
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(stdin)
    os.close(output)
    os.environ["LOCAL_RESPONSE_FD"] = str(results)
    os.setsid()  # its own process group: stopping the snapshot does not stop it
    error = None
    started = time.perf_counter()
    try:
        run_hooks(snapshot_restore_py.get_after_restore())
    except Exception as exc:
        error = report(AFTER_RESTORE_ERROR, f"{type(exc).__name__}: {exc}", exc)
    restore_ms = (time.perf_counter() - started) * 1000
    return serve(handler, error, f"\tRestore Duration: {restore_ms:.2f} ms")


def main() -> int:
    if sys.argv[1] == "--snapshot":
        return snapshot_server(sys.argv[2], int(sys.argv[3]))
    started = time.perf_counter()
    handler, init_error = init(sys.argv[1])
    init_ms = (time.perf_counter() - started) * 1000
    if init_error is not None:
        print_init_failure(init_ms, init_error)
    return serve(handler, init_error, f"\tInit Duration: {init_ms:.2f} ms")


def print_init_failure(init_ms: float, error: dict[str, Any]) -> None:
    """The line Lambda logs for an init that failed."""
    print(
        f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\t"
        f"Error Type: {error['errorType']}",
        flush=True,
    )


if __name__ == "__main__":
    # os._exit: a restored copy must not run the snapshot process's exit handlers.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
