"""A minimal Debug Adapter Protocol client: what VS Code does when it attaches to debugpy, as
far as a test needs (attach, a breakpoint, where it stopped, continue)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any


class DebugClient:
    def __init__(self, port: int, timeout: float = 30) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._sequence = 0
        self._buffer = b""

    def request(self, command: str, **arguments: Any) -> int:
        self._sequence += 1
        body = json.dumps(
            {"seq": self._sequence, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self._socket.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self._sequence

    def response(self, sequence: int) -> dict[str, Any]:
        return self.until(lambda message: message.get("request_seq") == sequence)

    def until(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next message that `wanted` accepts (the others are skipped)."""
        while True:
            message = self._read()
            if wanted(message):
                return message

    def attach_with_breakpoint(self, path: str, line: int) -> dict[str, Any]:
        """Attach, set one breakpoint, finish configuration; the breakpoint as debugpy took it."""
        self.response(self.request("initialize", adapterID="debugpy", pathFormat="path"))
        self.request("attach", justMyCode=False)
        self.until(lambda message: message.get("event") == "initialized")
        placed = self.response(
            self.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": line}])
        )
        self.request("configurationDone")
        breakpoint_: dict[str, Any] = placed["body"]["breakpoints"][0]
        return breakpoint_

    def close(self) -> None:
        self._socket.close()

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._receive()
        header, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        length = int(header.split(b":", 1)[1])
        while len(self._buffer) < length:
            self._buffer += self._receive()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        message: dict[str, Any] = json.loads(body)
        return message

    def _receive(self) -> bytes:
        chunk = self._socket.recv(65536)
        if not chunk:
            raise ConnectionError("the debugger closed the connection")
        return chunk
