"""The functions of the local stack: pools of worker processes, each an execution environment
with the function's own environment variables, whose logs stream to the terminal prefixed by the
function's name."""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class InvocationError(Exception):
    """The function failed (an exception, a timeout, a crash): Lambda's "Unhandled"."""


class Worker:
    def __init__(self, function: str, handler: str, environment: dict[str, str]) -> None:
        self.function = function
        read_fd, write_fd = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local.worker", function, handler],
            cwd=ROOT,
            env={**environment, "LOCAL_RESPONSE_FD": str(write_fd), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self._results = os.fdopen(read_fd)
        threading.Thread(target=self._stream_logs, daemon=True).start()

    def _stream_logs(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            sys.stdout.write(f"[{self.function}] {line}")
            sys.stdout.flush()

    def invoke(self, event: Any, timeout: float) -> Any:
        assert self._process.stdin is not None
        request_id = str(uuid.uuid4())
        self._process.stdin.write(json.dumps({"id": request_id, "event": event}) + "\n")
        self._process.stdin.flush()
        ready, _, _ = select.select([self._results], [], [], timeout)
        if not ready:
            self.stop()
            raise InvocationError(f"Task timed out after {timeout:.0f} seconds")
        line = self._results.readline()
        if not line:
            raise InvocationError("the execution environment exited")
        reply = json.loads(line)
        if "error" in reply:
            error = reply["error"]
            raise InvocationError(f"{error['errorType']}: {error['errorMessage']}")
        return reply["response"]

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        if self.alive:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class FunctionPool:
    """Up to `size` execution environments of one function, started when first needed."""

    def __init__(
        self,
        function: str,
        handler: str,
        environment: dict[str, str],
        *,
        timeout: float,
        size: int = 1,
    ) -> None:
        self.function = function
        self._handler = handler
        self._environment = environment
        self._timeout = timeout
        self._size = size
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._started: list[Worker] = []
        self._lock = threading.Lock()

    def invoke(self, event: Any) -> Any:
        worker = self._acquire()
        try:
            return worker.invoke(event, self._timeout)
        finally:
            if worker.alive:
                self._idle.put(worker)
            else:
                with self._lock:
                    self._started.remove(worker)

    def _acquire(self) -> Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._started) < self._size:
                worker = Worker(self.function, self._handler, self._environment)
                self._started.append(worker)
                return worker
        return self._idle.get()

    def stop(self) -> None:
        with self._lock:
            for worker in self._started:
                worker.stop()
            self._started.clear()
