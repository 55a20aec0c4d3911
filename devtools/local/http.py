"""The local stack's HTTP servers, API Gateway's stand-in and S3's front door, on werkzeug's.

HTTP/1.1 is parsed by http.server and werkzeug: a request line over 64 KiB is a 414, a header
line over 64 KiB or more than 100 headers a 431, a chunked body is read whole, and every
connection closes after one response, so nothing sent after a request's body is read as another
request. What AWS refuses in a request's framing is refused here before the application sees
it: a Content-Length that is not a number of bytes, a Content-Length beside a
Transfer-Encoding, a Transfer-Encoding other than chunked (400).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import get_input_stream

# The request's header lines as sent (werkzeug's environ joins repeated ones and drops names
# with an underscore).
HEADERS = "local.headers"
# What the application says of its answer, in plain words, for the request's log line.
SAID = "local.said"
MALFORMED = "local.malformed_headers"
READ_TIMEOUT_SECONDS = 30


def read_body(environ: dict[str, Any]) -> bytes | None:
    """The request's body (chunked or of its Content-Length); None when its framing breaks
    while it is read (a chunk header werkzeug cannot read, a client gone)."""
    try:
        return bytes(get_input_stream(environ).read())
    except (OSError, ValueError, ClientDisconnected):
        return None


type App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Server(ThreadedWSGIServer):
    """A thread per connection, and room for a burst of clients: connections beyond the
    listen backlog would be refused or reset, where API Gateway and S3 take them all."""

    request_queue_size = 1024


def framing_refusal(environ: dict[str, Any]) -> str | None:
    """Why AWS would refuse the request's framing, or None."""
    names = [name for name, _ in environ.get(HEADERS, [])]
    length = environ.get("CONTENT_LENGTH")
    encoding = environ.get("HTTP_TRANSFER_ENCODING")
    refusals = [
        (bool(environ.get(MALFORMED)), "a header line that is no header"),
        (any(name != name.strip() or " " in name for name in names), "a header name with a space"),
        (sum(name.lower() == "content-length" for name in names) > 1, "two Content-Lengths"),
        (
            length is not None and not (length.isascii() and length.isdigit()),
            "Content-Length is not a number of bytes",
        ),
        (
            encoding is not None and length is not None,
            "Content-Length and Transfer-Encoding together",
        ),
        (
            encoding is not None and encoding.strip().lower() != "chunked",
            "a Transfer-Encoding other than chunked",
        ),
    ]
    return next((reason for refused, reason in refusals if refused), None)


def make(host: str, port: int, app: App, label: str, *, with_query: bool = True) -> Server:
    """`app` served on host:port, each request logged as `[label] METHOD target -> status`,
    the target's query left out unless `with_query` (a presigned URL's is its signature)."""

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"
        # A client that stops sending mid-request is dropped, not waited for.
        timeout = READ_TIMEOUT_SECONDS

        def make_environ(self) -> Any:
            environ = super().make_environ()
            environ[HEADERS] = list(self.headers.items())
            # A header line the parser could not read ("Content-Length : 5") ends the headers
            # there: what follows would be taken for the body.
            environ[MALFORMED] = bool(getattr(self.headers, "defects", None))
            return environ

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # One write per line: requests are logged from concurrent threads. The path is
            # cut: a request line may be 64 KiB.
            target = getattr(self, "path", "")
            target = (target if with_query else urlsplit(target).path)[:200]
            said = getattr(self, "environ", {}).get(SAID)
            line = f"[{label}] {getattr(self, 'command', '-')} {target} -> {code}"
            _say(f"{line} {said}" if said else line)

        def log_error(self, format: str, *args: Any) -> None:
            _say(f"[{label}] refused: {(format % args)[:200]}")

        def log(self, type: str, message: str, *args: Any) -> None:
            if type == "error":
                _say(f"[{label}] {(message % args)[:300]}")

    return Server(host, port, app, handler=Handler)


def _say(line: str) -> None:
    sys.stdout.write(line.translate(_CONTROLS) + "\n")
    sys.stdout.flush()


_CONTROLS = {code: "?" for code in (*range(32), 127)}
