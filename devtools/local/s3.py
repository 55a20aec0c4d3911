"""S3's front door for the local stack: every S3 request of the functions and every presigned URL
they issue goes through it (AWS_ENDPOINT_URL_S3), and it is forwarded to the emulator.

The emulator accepts any signature, so on its own it takes what S3 refuses. Here each request
is checked as S3 checks it for its kind before it is forwarded: a presigned request (SigV4 in
the query string) by its signature over the method, path, query and signed headers (a ticket
signs Content-Type and Content-Length), its access key and its expiry, with every `x-amz-*`
header it carries signed; a request signed in the Authorization header (the SDK's) by its
SigV4 signature, its key, its time and its payload's digest. A request with neither is refused
as S3 refuses it for a private bucket. The servers' framing rules are devtools/local/http.py's.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.datastructures import Headers

from devtools.local.http import HEADERS, SAID, Server, framing_refusal, make, read_body

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
    """An answer S3 gives instead of doing the request: its status, code and message, the
    further elements S3 adds to its error (a signature's canonical request and string to
    sign), and what differed in plain words, for the terminal."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        elements: Mapping[str, str] | None = None,
        said: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.elements = dict(elements or {})
        self.said = said or message

    def body(self, resource: str) -> bytes:
        more = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.elements.items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{self.code}</Code><Message>{escape(self.message)}</Message>{more}"
            f"<Resource>{escape(resource)}</Resource></Error>"
        ).encode()


def _mismatch(
    access_key: str, signer: Any, request: AWSRequest, provided: str, signed: list[str]
) -> Refusal:
    """S3's SignatureDoesNotMatch, with what it computed (as S3 gives it) and, in plain words,
    the signed headers as this request sent them: where a ticket's type or size differs."""
    canonical = signer.canonical_request(request)
    sent = [
        f"{name}: {request.headers[name]}" if name in request.headers else f"{name}: none"
        for name in signed
        if name != "host"
    ]
    return Refusal(
        403,
        "SignatureDoesNotMatch",
        SIGNATURE_MISMATCH,
        elements={
            "AWSAccessKeyId": access_key,
            "StringToSign": signer.string_to_sign(request, canonical),
            "SignatureProvided": provided,
            "CanonicalRequest": canonical,
        },
        said=(
            f"signature does not match: it signs {', '.join(signed)}; this request sent "
            f"{'; '.join(sent) or 'no other'} (a ticket signs its file's type and size)"
        ),
    )


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
        raise Refusal(
            403,
            "AccessDenied",
            "Access Denied",
            said="no signature: S3 takes a presigned URL or a signed Authorization header",
        )
    scope, signed_at, expires = _auth_parameters(query)
    credentials = keys.get(scope[0])
    if credentials is None:
        raise Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    if now > signed_at + timedelta(seconds=expires):
        expired = (signed_at + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise Refusal(403, "AccessDenied", "Request has expired", said=f"expired at {expired}")
    unsigned_query = "&".join(
        pair for pair in split.query.split("&") if not pair.startswith("X-Amz-Signature=")
    )
    request = AWSRequest(
        method=method, url=f"http://{headers.get('host', '')}{split.path}?{unsigned_query}"
    )
    signed = query["X-Amz-SignedHeaders"].split(";")
    for name in signed:
        if headers.get(name) is not None:
            request.headers[name] = headers[name]
    request.context["timestamp"] = query["X-Amz-Date"]
    signer = S3SigV4QueryAuth(credentials, "s3", scope[2])
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        raise _mismatch(scope[0], signer, request, query["X-Amz-Signature"], signed)


# SigV4 in the Authorization header, as the SDKs write it.
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
# How far a header-signed request's time may be from S3's clock.
MAX_SKEW = timedelta(minutes=15)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided."
    " Check your key and signing method."
)


def check_request(
    method: str,
    target: str,
    headers: Any,
    body: bytes,
    *,
    keys: Mapping[str, Credentials],
    now: datetime,
) -> None:
    """Raise a Refusal unless S3 would take the request as signed: presigned, or signed in its
    Authorization header by one of `keys`."""
    query = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
    if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        check_presigned(method, target, headers, keys, now)
        _all_x_amz_signed(headers, query.get("X-Amz-SignedHeaders", ""))
        return
    if headers.get("Authorization") is not None:
        check_authorization(method, target, headers, body, keys=keys, now=now)
        found = AUTHORIZATION.match(str(headers.get("Authorization")).strip())
        _all_x_amz_signed(headers, found["signed"] if found else "")
        return
    check_presigned(method, target, headers, keys, now)  # refuses the unsigned request


def _all_x_amz_signed(headers: Any, signed_headers: str) -> None:
    """S3's rule: every x-amz-* header a signed request carries is one its signature covers."""
    signed = set(signed_headers.split(";"))
    unsigned = sorted(
        name.lower()
        for name, _ in headers.items()
        if name.lower().startswith("x-amz-") and name.lower() not in signed
    )
    if unsigned:
        raise Refusal(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed:"
            f" {', '.join(unsigned)[:200]}",
        )


def check_authorization(
    method: str,
    target: str,
    headers: Any,
    body: bytes,
    *,
    keys: Mapping[str, Credentials],
    now: datetime,
) -> None:
    """Raise a Refusal unless the request's SigV4 Authorization header is one of `keys`'s, for
    this request, at `now`, as S3 decides it."""
    found = AUTHORIZATION.match(str(headers.get("Authorization")).strip())
    scope = found["credential"].split("/") if found else []
    if found is None or len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
        raise Refusal(
            400,
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; it must be AWS4-HMAC-SHA256 with a"
            " Credential of an S3 scope, SignedHeaders and a Signature.",
        )
    credentials = keys.get(scope[0])
    if credentials is None:
        raise Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    stamp = _check_time_and_payload(headers, body, now)
    request = AWSRequest(method=method, url=f"http://{headers.get('host', '')}{target}")
    signed = found["signed"].split(";")
    for name in signed:
        if headers.get(name) is not None:
            request.headers[name] = headers[name]
    request.context["timestamp"] = stamp
    signer = S3SigV4Auth(credentials, "s3", scope[2])
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, found["signature"]):
        raise _mismatch(scope[0], signer, request, found["signature"], signed)


def _check_time_and_payload(headers: Any, body: bytes, now: datetime) -> str:
    """The header-signed request's x-amz-date, checked against `now`, once its payload digest
    is checked against `body`."""
    stamp, digest = headers.get("X-Amz-Date") or "", headers.get("X-Amz-Content-SHA256")
    try:
        signed_at = datetime.strptime(stamp, SIGV4_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise Refusal(
            403, "AccessDenied", "AWS authentication requires a valid x-amz-date"
        ) from None
    if abs(now - signed_at) > MAX_SKEW:
        raise Refusal(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    if digest is None:
        raise Refusal(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if re.fullmatch(r"[0-9a-f]{64}", digest) and digest != hashlib.sha256(body).hexdigest():
        raise Refusal(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return str(stamp)


class FrontDoor:
    """The front door's WSGI application: the emulator it forwards to, the keys whose
    signatures it takes (access key -> credentials), and its clock."""

    def __init__(
        self,
        upstream: str,
        keys: Mapping[str, Credentials],
        clock: Callable[[], datetime],
    ) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.keys, self.clock = dict(keys), clock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        target = environ.get("RAW_URI") or "/"
        headers = Headers(environ[HEADERS])
        try:
            body = self._body(environ, method)
            check_request(method, target, headers, body, keys=self.keys, now=self.clock())
        except Refusal as refusal:
            status, answer = refusal.status, refusal.body(urlsplit(target).path)
            sent = [("Content-Type", "application/xml"), ("Content-Length", str(len(answer)))]
            environ[SAID] = f"{refusal.code}: {refusal.said}"
        else:
            status, sent, answer = self._forward(method, target, headers, body)
        start_response(f"{status} {_phrase(status)}", sent)
        return [] if method == "HEAD" else [answer]

    def _body(self, environ: dict[str, Any], method: str) -> bytes:
        refusal = framing_refusal(environ)
        if refusal is not None:
            raise Refusal(400, "BadRequest", refusal)
        chunked = "HTTP_TRANSFER_ENCODING" in environ
        if method in ("PUT", "POST") and "CONTENT_LENGTH" not in environ and not chunked:
            raise Refusal(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        body = read_body(environ)
        if body is None:
            raise Refusal(400, "IncompleteBody", "The request body could not be read whole.")
        return body

    def _forward(
        self, method: str, target: str, headers: Headers, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        forwarded = {
            name: value
            for name, value in headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
        }
        if body or method in ("PUT", "POST"):
            forwarded["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(method, target, body=body, headers=forwarded)
            response = connection.getresponse()
            answer = response.read()
        except OSError as exc:
            refusal = Refusal(503, "ServiceUnavailable", f"the emulator: {exc}")
            answer = refusal.body(urlsplit(target).path)
            return 503, [("Content-Type", "application/xml")], answer
        finally:
            connection.close()
        passed = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP | {"date", "server", "content-length"}
        ]
        passed.append(("Content-Length", str(len(answer))))
        return response.status, passed, answer


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def make_s3_front(
    port: int,
    upstream: str,
    keys: Mapping[str, Credentials],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Server:
    """The front door on 127.0.0.1:`port`, forwarding to the emulator at `upstream`, taking the
    signatures of `keys` (access key -> credentials); call serve_forever() on it (and
    shutdown() to stop). Each request is logged, a refusal with what differed."""
    return make("127.0.0.1", port, FrontDoor(upstream, keys, clock), "s3", with_query=False)
