"""The AWS emulator of the local stack: moto in server mode on 127.0.0.1, or another emulator
named by AWS_ENDPOINT_URL (MiniStack, LocalStack), which is then used and not started.

What AWS refuses, this emulator refuses too, where moto alone would not:
- a function's request is authorised against its role (devtools/iam.py) before moto sees it:
  each function signs with an access key of its own (`role_credentials`), and a call its role
  does not grant gets AWS's refusal, with a line in the terminal naming the action and the
  resource. Requests signed with any other key (the local stack's own, a developer's CLI) are
  an administrator's, as an account's root user is;
- one request at a time changes moto's state, whose tables and queues are plain dicts and lists
  (docs/decisions.md, "The emulator under concurrency"); SQS's ReceiveMessage, which waits
  inside moto for messages under the queue's own lock, is left out;
- TransactWriteItems rolls back by item and honours ClientRequestToken
  (devtools/moto_dynamodb.py).

Where it differs from AWS: state lives in memory and ends with the process; moto checks no
signature (the S3 front door checks presigned URLs, devtools/local/s3.py) and does not run
Lambda itself (the local stack plays Lambda's part).

`python -m devtools.local.emulator --port <port>` runs it alone, without roles (`make bench`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from botocore.credentials import Credentials
from werkzeug.serving import BaseWSGIServer, make_server

from devtools.iam import Roles, access_key
from devtools.resources import EMULATOR_KEY, use_emulator_credentials

# The session token each function's credentials carry, as Lambda's role credentials do (an
# emulator's placeholder, not a secret).
SESSION_TOKEN = "local-role-session"  # noqa: S105


def role_credentials(functions: Iterable[str]) -> dict[str, Credentials]:
    """Function -> the credentials its execution environments get: an access key of its own
    (what tells the emulator whose call a request is: a digest of the function's name), the
    emulator's secret."""
    return {
        function: Credentials(
            "ASIA" + hashlib.sha256(function.encode()).hexdigest()[:16].upper(),
            EMULATOR_KEY,
            SESSION_TOKEN,
        )
        for function in functions
    }


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def require_free(port: int, variable: str) -> None:
    if not port_free(port):
        raise SystemExit(f"port {port} is in use: stop what uses it or set {variable}=<port>")


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        name[5:].replace("_", "-").lower(): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = str(environ[name])
    return headers


class Gate:
    """WSGI middleware before moto's application: roles checked, state changes serialised."""

    def __init__(self, app: Callable[..., Iterable[bytes]], log: Callable[[str], None]) -> None:
        self._app = app
        self._roles: Roles | None = None
        self._principals: dict[str, str] = {}
        self._log = log
        self._lock = threading.Lock()

    @property
    def roles(self) -> Roles | None:
        return self._roles

    def use_roles(self, roles: Roles, principals: Mapping[str, str]) -> None:
        """From now on, a request signed with an access key of `principals` (access key ->
        function) is authorised against that function's role in `roles`."""
        self._roles, self._principals = roles, dict(principals)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        headers = _headers(environ)
        # The request target as sent (werkzeug's PATH_INFO is already percent-decoded).
        target = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", ""))
        if "?" not in target and environ.get("QUERY_STRING"):
            target += f"?{environ['QUERY_STRING']}"
        url = f"http://{headers.get('host', 'localhost')}{target}"
        body = _read_body(environ)
        function = self._principals.get(access_key(url, headers) or "")
        if function is not None and self._roles is not None:
            denial = self._roles.check(
                function, environ["REQUEST_METHOD"], url, headers, lambda: body
            )
            if denial is not None:
                self._log(f"[iam] {function}: access denied: {denial.message}")
                start_response(
                    f"{denial.status} {'Forbidden' if denial.status == 403 else 'Bad Request'}",
                    [*denial.headers.items(), ("Content-Length", str(len(denial.body)))],
                )
                return [denial.body]
        if _long_poll(headers, body):
            return self._app(environ, start_response)
        with self._lock:
            return [b"".join(self._app(environ, start_response))]


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request's whole body, read before any lock is taken (a slow client holds none) and
    put back for moto."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body: bytes = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _long_poll(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the request is SQS's ReceiveMessage, which waits inside moto for messages (and
    takes the queue's own lock) rather than changing state at once."""
    if headers.get("x-amz-target") == "AmazonSQS.ReceiveMessage":
        return True
    return "/sqs/" in headers.get("authorization", "") and b"Action=ReceiveMessage" in body


class Emulator:
    """moto's server behind the gate, on 127.0.0.1:`port`, in a thread of this process."""

    def __init__(self, port: int) -> None:
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - slow, for make dev only
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        from devtools import moto_dynamodb  # noqa: PLC0415

        moto_dynamodb.apply()
        # The emulator's request log would drown everything else.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.gate = Gate(DomainDispatcherApplication(create_backend_app), _say)
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, self.gate, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def start_emulator(port: int, region: str) -> tuple[str, Emulator | None]:
    """The emulator's endpoint, and the server started for it (None for one already running).
    This process and the functions' environments then talk to it (AWS_ENDPOINT_URL)."""
    # The emulator's credentials whatever the shell holds; the region the event sources'
    # records name.
    use_emulator_credentials(region, replace=True)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return endpoint, None
    require_free(port, "LOCAL_AWS_PORT")
    server = Emulator(port)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    return endpoint, server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    require_free(port, "--port")
    Emulator(port)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
