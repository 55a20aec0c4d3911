"""Lambda SnapStart for the local stack: per function version, one process runs init with
AWS_LAMBDA_INITIALIZATION_TYPE=snap-start and the before-snapshot hooks (the snapshot); every
execution environment is then a copy of that process (fork) that runs the after-restore hooks
before its first invocation. Concurrent invocations get separate copies, as Lambda scales out.

`snapshot_restore_py` (AWS's package, as the runtime provides it) is importable in this mode
only: it is installed apart (.venv-runtime/snapstart, requirements-snapstart.txt) and added to
the workers' sys.path. As after a real restore, a copy holds the snapshot's memory: connections
opened during init, and `random`'s state (the bootstrap undoes the reseeding fork does). Where
it differs from Lambda: a restore takes milliseconds. The local stack takes each version's
snapshot when it deploys the version, at start and at each reload, as Lambda takes it when a
version is published.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from typing import Self

from devtools.local.functions import (
    ExecutionEnvironment,
    InvocationError,
    Version,
    stream_logs,
)

INIT_TIMEOUT = 120.0  # seconds; SnapStart's init may take up to 15 minutes on Lambda


def _read_line(control: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = control.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


class Snapshot:
    """The snapshot process of one function version, and restores from it."""

    def __init__(
        self, version: Version, process: subprocess.Popen[str], control: socket.socket
    ) -> None:
        self.version = version
        self._process = process
        self._control = control
        self._lock = threading.Lock()

    @classmethod
    def take(cls, version: Version) -> Self:
        """Run init and the before-snapshot hooks; InvocationError when either fails."""
        started = time.perf_counter()
        ours, theirs = socket.socketpair()
        process = subprocess.Popen(
            [*version.interpreter(), "--snapshot", version.handler, str(theirs.fileno())],
            cwd=version.task_root,
            env=version.environment("snap-start"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(theirs.fileno(),),
            text=True,
            start_new_session=True,
        )
        theirs.close()
        assert process.stdout is not None
        stream_logs(version, process.stdout)
        ours.settimeout(INIT_TIMEOUT)
        try:
            status = _read_line(ours)
        except TimeoutError:
            status = json.dumps({"errorType": "Runtime.InitTimeout", "errorMessage": "init"})
        ours.settimeout(None)
        snapshot = cls(version, process, ours)
        if status != "ready":
            snapshot.stop()
            error = json.loads(status) if status.startswith("{") else {}
            raise InvocationError(
                f"{error.get('errorType', 'Runtime.ExitError')}: "
                f"{error.get('errorMessage', 'the snapshot process exited during init')}"
            )
        print(
            f"[{version.function}] snapshot of version {version.number} taken in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        return snapshot

    def restore(self) -> ExecutionEnvironment:
        """A new execution environment restored from this snapshot."""
        stdin_read, stdin_write = os.pipe()
        output_read, output_write = os.pipe()
        results_read, results_write = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._control, [b"f"], [stdin_read, output_write, results_write])
                reply = _read_line(self._control)
        finally:
            for fd in (stdin_read, output_write, results_write):
                os.close(fd)
        if not reply.isdigit():
            for fd in (stdin_write, output_read, results_read):
                os.close(fd)
            raise InvocationError("Runtime.RestoreError: the snapshot process is gone")
        stream_logs(self.version, os.fdopen(output_read))
        return ExecutionEnvironment(
            self.version, int(reply), os.fdopen(stdin_write, "w"), os.fdopen(results_read)
        )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """Stop the snapshot process; environments restored from it go on until stopped."""
        with contextlib.suppress(OSError):
            self._control.close()
        if self.alive:
            self._process.kill()
        self._process.wait()
