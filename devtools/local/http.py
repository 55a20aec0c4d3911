"""The local stack's HTTP/1.1 servers, API Gateway's stand-in and S3's front door.

h11 parses every request: the request line and header syntax, the body's framing (Content-Length
or chunked, extensions and trailers included), keep-alive and pipelining; a request it cannot
frame exactly is refused, never guessed at, so no request can hide inside another. A thread
serves each connection. An application answers each request with a Response; what the server
refuses itself (a Problem) the application words, as the service it stands for words it.
An application reads the body when it wants it: a client waiting for `100 Continue` is told to
send it only then, so a request refused on its headers is refused before its body is sent.
"""

from __future__ import annotations

import enum
import socket
import socketserver
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

import h11

# The longest request line and header section taken (the services' own limits, lower, are the
# applications' to apply).
MAX_REQUEST_LINE = 65_536
MAX_HEADER_SECTION = 65_536
# How long a connection may stay silent, between requests or within one.
IDLE_TIMEOUT = 30.0
# A connection closed with a request's body unread is read on (and what comes discarded) for
# this long at most, so that the client reads the answer instead of a reset.
LINGER = 2.0
LINGER_BYTES = 16 * 2**20
NO_BODY_STATUSES = (204, 304)
# Framing headers are the server's to write.
FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


class Problem(enum.Enum):
    """What the server refuses before or while an application reads a request."""

    MALFORMED = "the request is not HTTP/1.1 as RFC 9112 frames it"
    TARGET_TOO_LONG = "the request line is too long"
    HEADERS_TOO_LARGE = "the request's headers are too large"
    ENCODING_NOT_IMPLEMENTED = "a Transfer-Encoding other than chunked"
    VERSION_NOT_SUPPORTED = "an HTTP version other than 1.0 and 1.1"
    BODY_INCOMPLETE = "the body ended before its length, or a chunk is malformed"
    BODY_TOO_LARGE = "the body is larger than the service takes"
    TIMEOUT = "the client sent nothing for too long"
    INVALID_ANSWER = "the answer cannot be written as HTTP"
    INTERNAL = "the application failed"


class HTTPRefusal(Exception):
    """Raised while a request is read: the server answers with the application's refusal."""

    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(detail or problem.value)
        self.problem = problem


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # Closes the connection, the request's body unread: a refusal of its framing, after which
    # nothing more on the connection can be read as a request.
    close: bool = False
    # What the application says of its answer, in plain words, for the request's log line.
    said: str = ""


class Body:
    """A request's body, read from its connection on demand."""

    def __init__(self, connection: h11.Connection, sock: socket.socket) -> None:
        self._connection, self._socket = connection, sock

    def read(self, limit: int | None = None) -> bytes:
        """The whole body; an HTTPRefusal when it is incomplete, malformed, or longer than
        `limit`."""
        if self._connection.they_are_waiting_for_100_continue:
            continue_ = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            self._socket.sendall(self._connection.send(continue_) or b"")
        chunks: list[bytes] = []
        size = 0
        while True:
            event = _next_event(self._connection, self._socket, Problem.BODY_INCOMPLETE)
            if isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            if not isinstance(event, h11.Data):
                raise HTTPRefusal(Problem.BODY_INCOMPLETE)
            size += len(event.data)
            if limit is not None and size > limit:
                raise HTTPRefusal(Problem.BODY_TOO_LARGE)
            chunks.append(bytes(event.data))


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # as sent: percent-encoded, with its query
    headers: list[tuple[str, str]]  # as sent, in order, names in the case sent
    body: Body
    client: str

    def header(self, name: str) -> str | None:
        """The last value sent of the header `name` (any case), or None."""
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[-1] if found else None

    @property
    def content_length(self) -> int | None:
        """The body's declared length (h11 has checked that every value sent is this one)."""
        value = self.header("Content-Length")
        return None if value is None else int(value.split(",")[0])


class App(Protocol):
    def __call__(self, request: Request) -> Response: ...

    def refusal(self, problem: Problem, request: Request | None) -> Response:
        """The service's answer to `problem` (`request` is None when none could be read)."""
        ...


class Server(socketserver.ThreadingTCPServer):
    """A thread per connection, and room for a burst of clients: connections beyond the
    listen backlog would be refused or reset, where API Gateway and S3 take them all."""

    request_queue_size = 1024
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def shutdown(self) -> None:
        """Stop serving and close the listening socket (open connections finish)."""
        super().shutdown()
        self.server_close()


def make(host: str, port: int, app: App, label: str, *, with_query: bool = True) -> Server:
    """`app` served on host:port (call serve_forever() on it, and shutdown() to stop), each
    request logged as `[label] METHOD target -> status` and what the application said of its
    answer, the target's query left out unless `with_query` (a presigned URL's is its
    signature)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            _serve_connection(self.request, self.client_address[0], app, log)

    def log(method: str, target: str, status: int, said: str) -> None:
        # The target is cut: a request line may be 64 KiB.
        target = (target if with_query else urlsplit(target).path)[:200]
        _say(f"[{label}] {method} {target} -> {status}" + (f" {said}" if said else ""))

    return Server((host, port), Handler)


def _serve_connection(
    sock: socket.socket, client: str, app: App, log: Callable[[str, str, int, str], None]
) -> None:
    sock.settimeout(IDLE_TIMEOUT)
    connection = h11.Connection(
        h11.SERVER, max_incomplete_event_size=MAX_REQUEST_LINE + MAX_HEADER_SECTION
    )
    try:
        while _serve_one(connection, sock, client, app, log):
            connection.start_next_cycle()
    except OSError:
        pass  # the client went away
    finally:
        _close(sock, connection)


def _serve_one(
    connection: h11.Connection,
    sock: socket.socket,
    client: str,
    app: App,
    log: Callable[[str, str, int, str], None],
) -> bool:
    """Read and answer one request; whether the connection serves another."""
    request, reason = None, "unreadable"
    try:
        request = _read_request(connection, sock, client)
        if request is None:
            return False
        response = app(request)
    except HTTPRefusal as refused:
        reason = str(refused)
        response = replace(app.refusal(refused.problem, request), close=True)
    except Exception:  # the application's fault: a 500 for the client, its trace in the terminal
        _say(traceback.format_exc())
        response = app.refusal(Problem.INTERNAL, request)
    method, target = (request.method, request.target) if request else ("-", f"({reason})")
    head = _head_of(connection, method, response)
    if head is None:
        response = app.refusal(Problem.INVALID_ANSWER, request)
        head = _head_of(connection, method, response)
    # Logged before it is sent: a client that has its answer finds the line written.
    log(method, target, response.status, response.said)
    if head is not None:
        with_body = method != "HEAD" and response.status not in NO_BODY_STATUSES
        _send(connection, sock, head, response.body if with_body else b"")
    done = connection.our_state is h11.DONE and connection.their_state is h11.DONE
    return done and not response.close


def _read_request(connection: h11.Connection, sock: socket.socket, client: str) -> Request | None:
    """The next request on the connection; None when the client closed it between requests."""
    try:
        event = _next_event(connection, sock, Problem.MALFORMED, idle_ok=True)
    except HTTPRefusal as refused:
        line_end = _head(connection).find(b"\n")
        if refused.problem is Problem.HEADERS_TOO_LARGE and not 0 <= line_end <= MAX_REQUEST_LINE:
            raise HTTPRefusal(Problem.TARGET_TOO_LONG) from None
        raise
    if event is None or isinstance(event, h11.ConnectionClosed):
        return None
    if not isinstance(event, h11.Request):
        raise HTTPRefusal(Problem.MALFORMED)
    if event.http_version not in (b"1.0", b"1.1"):
        raise HTTPRefusal(Problem.VERSION_NOT_SUPPORTED)
    if len(event.method) + len(event.target) + len(b"  HTTP/1.1") > MAX_REQUEST_LINE:
        raise HTTPRefusal(Problem.TARGET_TOO_LONG)
    if sum(len(k) + len(v) + len(b": \r\n") for k, v in event.headers) > MAX_HEADER_SECTION:
        raise HTTPRefusal(Problem.HEADERS_TOO_LARGE)
    return Request(
        method=event.method.decode("ascii"),
        target=event.target.decode("ascii"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items()],
        body=Body(connection, sock),
        client=client,
    )


def _next_event(
    connection: h11.Connection, sock: socket.socket, problem: Problem, *, idle_ok: bool = False
) -> object:
    """The connection's next event, reading as needed; None when the client closed an idle
    connection or left it silent. A parse failure is an HTTPRefusal of `problem` (or of the
    problem h11 names)."""
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise HTTPRefusal(_H11_PROBLEMS.get(exc.error_status_hint, problem), str(exc)) from None
        if event is not h11.NEED_DATA:
            return event
        try:
            data = sock.recv(65_536)
        except TimeoutError:
            if idle_ok and not _head(connection):
                return None
            raise HTTPRefusal(Problem.TIMEOUT) from None
        if not data and idle_ok and not _head(connection):
            return None
        connection.receive_data(data)


_H11_PROBLEMS = {
    431: Problem.HEADERS_TOO_LARGE,
    501: Problem.ENCODING_NOT_IMPLEMENTED,
}


def _head(connection: h11.Connection) -> bytes:
    """What the client sent of a request not yet parsed."""
    return connection.trailing_data[0]


def _head_of(connection: h11.Connection, method: str, response: Response) -> h11.Response | None:
    """The response's head (a HEAD's Content-Length is the one the application gives, if any);
    None when it cannot be written as HTTP (a header h11 refuses, a status below 200)."""
    fields = [(k, v) for k, v in response.headers if k.lower() not in FRAMING]
    declared = [v for k, v in response.headers if k.lower() == "content-length"]
    if method == "HEAD" and declared:
        fields.append(("Content-Length", declared[-1]))
    elif response.status not in NO_BODY_STATUSES:
        fields.append(("Content-Length", str(len(response.body))))
    if response.close or not _settled(connection):
        fields.append(("Connection", "close"))
    try:
        return h11.Response(status_code=response.status, headers=fields, reason=_phrase(response))
    except h11.LocalProtocolError:
        return None


def _send(connection: h11.Connection, sock: socket.socket, head: h11.Response, body: bytes) -> None:
    data = connection.send(head) or b""
    if body:
        data += connection.send(h11.Data(data=body)) or b""
    sock.sendall(data + (connection.send(h11.EndOfMessage()) or b""))


def _settled(connection: h11.Connection) -> bool:
    """Whether the client's request is read to its end, reading what is already received of a
    body the application left (a refused request's body sent whole, a GET's empty one)."""
    try:
        while connection.their_state is h11.SEND_BODY:
            if connection.next_event() is h11.NEED_DATA:
                break
    except h11.RemoteProtocolError:
        pass
    return connection.their_state is h11.DONE


def _phrase(response: Response) -> bytes:
    try:
        return HTTPStatus(response.status).phrase.encode()
    except ValueError:
        return b""


def _close(sock: socket.socket, connection: h11.Connection) -> None:
    """Close the connection; one whose request body is unread is read on and what comes
    discarded for a moment first, so that the client reads the answer instead of a reset."""
    try:
        if connection.their_state not in (h11.DONE, h11.IDLE, h11.CLOSED, h11.MUST_CLOSE):
            sock.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + LINGER, 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                chunk = sock.recv(65_536)
                if not chunk:
                    break
                drained += len(chunk)
    except OSError:
        pass
    finally:
        sock.close()


def _say(line: str) -> None:
    # One write per line: requests are logged from concurrent threads.
    sys.stdout.write(line.translate(_CONTROLS) + "\n")
    sys.stdout.flush()


_CONTROLS = {code: "?" for code in (*range(9), *range(11, 32), 127)}
