"""S3's front door for the local stack: every S3 request of the functions and every presigned URL
they issue goes through it (AWS_ENDPOINT_URL_S3), and it is forwarded to the emulator.

The emulator accepts any signature, so on its own it takes uploads that S3 refuses. Here a
presigned request (SigV4 in the query string) is checked as S3 checks it before it is
forwarded: the signature over the method, path, query and the signed headers (a ticket signs
Content-Type and Content-Length), the access key, and the expiry. A request without any
signature is refused as S3 refuses it for a private bucket. Requests signed in the
Authorization header (the SDK's own) are forwarded as they are. A refusal is answered before
the body is read when the client waits for `100 Continue`, and after reading it otherwise, so
every request gets its answer at once.
"""

from __future__ import annotations

import hmac
import http.client
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devtools.local.api import Server

# Hop-by-hop headers: they describe one connection and are not forwarded.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "expect", "te", "trailer", "upgrade"}
)
SIGV4_DATE = "%Y%m%dT%H%M%SZ"
# The longest a SigV4 presigned URL may be valid (seven days).
MAX_EXPIRES = 604_800
AUTH_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
)


class Refusal(Exception):
    """An answer S3 gives instead of doing the request: its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self, resource: str) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{self.code}</Code><Message>{escape(self.message)}</Message>"
            f"<Resource>{escape(resource)}</Resource></Error>"
        ).encode()


def _auth_parameters(query: dict[str, str]) -> tuple[list[str], datetime, int]:
    """The credential scope, signing time and lifetime a SigV4 presigned URL gives."""
    missing = [name for name in AUTH_PARAMETERS if name not in query]
    if missing or query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise Refusal(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm,"
            " X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders,"
            " and X-Amz-Expires parameters.",
        )
    scope = query["X-Amz-Credential"].split("/")
    try:
        signed_at = datetime.strptime(query["X-Amz-Date"], SIGV4_DATE).replace(tzinfo=UTC)
        expires = int(query["X-Amz-Expires"])
    except ValueError:
        raise Refusal(
            400, "AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed"
        ) from None
    if len(scope) != 5 or scope[3:] != ["s3", "aws4_request"] or not 0 < expires <= MAX_EXPIRES:
        raise Refusal(
            400, "AuthorizationQueryParametersError", "X-Amz-Credential is not an S3 scope"
        )
    return scope, signed_at, expires


def check_presigned(
    method: str, target: str, headers: Any, keys: Mapping[str, Credentials], now: datetime
) -> None:
    """Raise a Refusal unless the request (its method, its request target as sent, its headers)
    is what a presigned URL of one of `keys` (access key -> credentials) allows at `now`, as
    S3 decides it."""
    split = urlsplit(target)
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    if "X-Amz-Signature" not in query:
        if "Signature" in query or "AWSAccessKeyId" in query:
            raise Refusal(400, "InvalidRequest", "use Signature Version 4 (AWS4-HMAC-SHA256)")
        raise Refusal(403, "AccessDenied", "Access Denied")
    scope, signed_at, expires = _auth_parameters(query)
    credentials = keys.get(scope[0])
    if credentials is None:
        raise Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    if now > signed_at + timedelta(seconds=expires):
        raise Refusal(403, "AccessDenied", "Request has expired")
    unsigned_query = "&".join(
        pair for pair in split.query.split("&") if not pair.startswith("X-Amz-Signature=")
    )
    request = AWSRequest(
        method=method, url=f"http://{headers.get('host', '')}{split.path}?{unsigned_query}"
    )
    for name in query["X-Amz-SignedHeaders"].split(";"):
        if headers.get(name) is not None:
            request.headers[name] = headers[name]
    request.context["timestamp"] = query["X-Amz-Date"]
    signer = S3SigV4QueryAuth(credentials, "s3", scope[2])
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        raise Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided."
            " Check your key and signing method.",
        )


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body, sent with a Content-Length or chunked."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""
    chunks = []
    while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()
    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
        pass  # trailers
    return b"".join(chunks)


class FrontHandler(BaseHTTPRequestHandler):
    """One connection to the front door; make_s3_front sets the class attributes."""

    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]
    keys: Mapping[str, Credentials]
    clock: Callable[[], datetime]
    _checked = False

    def _refusal(self) -> Refusal | None:
        if self.headers.get("Authorization"):
            return None
        try:
            check_presigned(self.command, self.path, self.headers, self.keys, self.clock())
        except Refusal as refusal:
            return refusal
        return None

    def handle_expect_100(self) -> bool:
        refusal = self._refusal()
        if refusal is not None:
            # Answered before the body is sent: the client sends nothing more on this
            # connection, which is closed.
            self.close_connection = True
            self._refuse(refusal)
            return False
        self._checked = True
        return super().handle_expect_100()

    def _serve(self) -> None:
        body = read_body(self)
        refusal = None if self._checked else self._refusal()
        self._checked = False
        if refusal is not None:
            self._refuse(refusal)
        else:
            self._forward(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def _refuse(self, refusal: Refusal) -> None:
        body = refusal.body(urlsplit(self.path).path)
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        if self.close_connection:
            headers.append(("Connection", "close"))
        self._answer(refusal.status, headers, body)

    def _forward(self, body: bytes) -> None:
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
        }
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except OSError as exc:
            self._refuse(Refusal(503, "ServiceUnavailable", f"the emulator: {exc}"))
            return
        finally:
            connection.close()
        passed = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP | {"date", "server"}
        ]
        if not any(name.lower() == "content-length" for name, _ in passed):
            passed.append(("Content-Length", str(len(answer))))
        self._answer(response.status, passed, answer)

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        status = str(args[1]) if len(args) > 1 else ""
        if status.startswith(("4", "5")):
            sys.stdout.write(f"[s3] {self.command} {urlsplit(self.path).path} -> {status}\n")
            sys.stdout.flush()


def make_s3_front(
    port: int,
    upstream: str,
    keys: Mapping[str, Credentials],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Server:
    """The front door on 127.0.0.1:`port`, forwarding to the emulator at `upstream`, taking the
    presigned URLs of `keys` (access key -> credentials); call serve_forever() on it (and
    shutdown() to stop)."""
    target = urlsplit(upstream)
    handler = type(
        "Handler",
        (FrontHandler,),
        {
            "upstream": (target.hostname, target.port or 80),
            "keys": dict(keys),
            "clock": staticmethod(clock),
        },
    )
    return Server(("127.0.0.1", port), handler)
