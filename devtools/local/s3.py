"""S3's front door for the local stack: every S3 request of the functions and every presigned URL
they issue goes through it (AWS_ENDPOINT_URL_S3), and it is forwarded to the emulator.

The emulator accepts any signature, so on its own it takes what S3 refuses. Here each request
is checked as S3 checks it for its kind before it is forwarded: a presigned request (SigV4 in
the query string) by its signature over the method, path, query and signed headers (a ticket
signs Content-Type and Content-Length), its access key and its expiry; a request signed in the
Authorization header (the SDK's) by its SigV4 signature, its key, its time and its payload's
digest. Either way every `x-amz-*` header it carries must be signed. A request with neither is
refused as S3 refuses it for a private bucket. Everything but the payload's digest is checked
before the body is read, so a client waiting for `100 Continue` is refused before sending it.
What S3 refuses in a request's framing is refused as S3 words it: a Transfer-Encoding (S3 takes
none, chunked included), a PUT or POST without a Content-Length, a header section over 8 KiB.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devtools.local.http import Problem, Request, Response, Server, make

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
# S3's limits: the request's header section (RequestHeaderSectionTooLarge) and one PUT's
# object (EntityTooLarge).
MAX_HEADER_SECTION = 8_192
MAX_OBJECT = 5 * 2**30
# The one x-amz-* header S3 takes unsigned.
UNSIGNED_AMZ = frozenset({"x-amz-content-sha256"})


class Refusal(Exception):
    """An answer S3 gives instead of doing the request: its status, code and message, the
    further elements S3 adds to its error (a signature's canonical request and string to
    sign, the headers not signed), and what differed in plain words, for the terminal."""

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

    def response(self, target: str, *, close: bool = False) -> Response:
        headers = [("Content-Type", "application/xml")]
        body = self.body(urlsplit(target).path)
        return Response(self.status, headers, body, close, said=f"{self.code}: {self.said}")


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


# How S3 words what the server refuses in a request's framing.
PROBLEMS = {
    Problem.MALFORMED: Refusal(
        400, "BadRequest", "An error occurred when parsing the HTTP request."
    ),
    Problem.TARGET_TOO_LONG: Refusal(414, "RequestURITooLong", "The request line is too long."),
    Problem.HEADERS_TOO_LARGE: Refusal(
        400,
        "RequestHeaderSectionTooLarge",
        "Your request header section exceeds the maximum allowed size.",
        elements={"MaxSizeAllowed": str(MAX_HEADER_SECTION)},
    ),
    Problem.ENCODING_NOT_IMPLEMENTED: Refusal(
        501,
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
        elements={"Header": "Transfer-Encoding"},
    ),
    Problem.VERSION_NOT_SUPPORTED: Refusal(
        505, "HttpVersionNotSupported", "The HTTP version specified is not supported."
    ),
    Problem.BODY_INCOMPLETE: Refusal(
        400,
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    ),
    Problem.BODY_TOO_LARGE: Refusal(
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        elements={"MaxSizeAllowed": str(MAX_OBJECT)},
    ),
    Problem.TIMEOUT: Refusal(
        400,
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within the"
        " timeout period. Idle connections will be closed.",
    ),
    Problem.INVALID_ANSWER: Refusal(
        500, "InternalError", "We encountered an internal error. Please try again."
    ),
    Problem.INTERNAL: Refusal(
        500, "InternalError", "We encountered an internal error. Please try again."
    ),
}


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
    method: str, target: str, headers: Message, keys: Mapping[str, Credentials], now: datetime
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
    credentials = _credentials(keys, scope[0])
    if now > signed_at + timedelta(seconds=expires):
        expired = (signed_at + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise Refusal(403, "AccessDenied", "Request has expired", said=f"expired at {expired}")
    unsigned_query = "&".join(
        pair for pair in split.query.split("&") if not pair.startswith("X-Amz-Signature=")
    )
    request = _signed_request(
        method, f"{split.path}?{unsigned_query}", headers, query["X-Amz-SignedHeaders"]
    )
    request.context["timestamp"] = query["X-Amz-Date"]
    signer = S3SigV4QueryAuth(credentials, "s3", scope[2])
    _verify(signer, request, scope[0], query["X-Amz-Signature"], query["X-Amz-SignedHeaders"])


def _verify(
    signer: SigV4Auth, request: AWSRequest, access_key: str, provided: str, signed: str
) -> None:
    """SignatureDoesNotMatch unless `provided` is the signature `signer` makes of `request`
    (`signed`: its SignedHeaders), whether it came in the query or the Authorization header."""
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, provided):
        raise _mismatch(access_key, signer, request, provided, signed.split(";"))


def _credentials(keys: Mapping[str, Credentials], access_key: str) -> Credentials:
    credentials = keys.get(access_key)
    if credentials is None:
        raise Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    return credentials


def _signed_request(method: str, target: str, headers: Message, signed: str) -> AWSRequest:
    """The request as its signer saw it: `target`, and the headers `signed` names (each value
    sent, in order)."""
    request = AWSRequest(method=method, url=f"http://{headers.get('host', '')}{target}")
    for name in signed.split(";"):
        for value in headers.get_all(name) or []:
            request.headers[name] = value
    return request


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
# What x-amz-content-sha256 may say besides the payload's digest.
PAYLOAD_KINDS = (
    "UNSIGNED-PAYLOAD",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
)
DIGEST = re.compile(r"[0-9a-f]{64}")


def check_request(
    method: str,
    target: str,
    headers: Message,
    *,
    keys: Mapping[str, Credentials],
    now: datetime,
) -> None:
    """Raise a Refusal unless S3 would take the request as signed, presigned or in its
    Authorization header by one of `keys`, with every x-amz-* header signed. The payload's
    digest is check_payload's, once the body is read."""
    query = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
    if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        check_presigned(method, target, headers, keys, now)
        signed = query["X-Amz-SignedHeaders"]
    elif headers.get("Authorization") is not None:
        signed = check_authorization(method, target, headers, keys=keys, now=now)
    else:
        check_presigned(method, target, headers, keys, now)  # refuses the unsigned request
        return
    _check_all_signed(headers, set(signed.split(";")))


def _check_all_signed(headers: Message, signed: set[str]) -> None:
    """S3 refuses a signed request carrying an x-amz-* header (or a Host) its signature does
    not cover."""
    names = {name.lower() for name in headers}
    unsigned = sorted(
        name
        for name in names
        if ((name.startswith("x-amz-") and name not in UNSIGNED_AMZ) or name == "host")
        and name not in signed
    )
    if unsigned:
        raise Refusal(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            elements={"HeadersNotSigned": ", ".join(unsigned)},
        )


def check_authorization(
    method: str,
    target: str,
    headers: Message,
    *,
    keys: Mapping[str, Credentials],
    now: datetime,
) -> str:
    """The headers the request's SigV4 Authorization header signs (`a;b;c`); a Refusal unless
    it is one of `keys`'s, for this request, at `now`, as S3 decides it."""
    found = AUTHORIZATION.match(str(headers.get("Authorization")).strip())
    scope = found["credential"].split("/") if found else []
    if found is None or len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
        raise Refusal(
            400,
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; it must be AWS4-HMAC-SHA256 with a"
            " Credential of an S3 scope, SignedHeaders and a Signature.",
        )
    credentials = _credentials(keys, scope[0])
    stamp = _check_time(headers, now)
    digest = headers.get("X-Amz-Content-SHA256")
    if digest is None:
        raise Refusal(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if not (DIGEST.fullmatch(digest) or digest in PAYLOAD_KINDS):
        raise Refusal(
            400,
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- payload kind, or a"
            " valid sha256 value.",
        )
    request = _signed_request(method, target, headers, found["signed"])
    request.context["timestamp"] = stamp
    signer = S3SigV4Auth(credentials, "s3", scope[2])
    _verify(signer, request, scope[0], found["signature"], found["signed"])
    return found["signed"]


def _check_time(headers: Message, now: datetime) -> str:
    """The header-signed request's x-amz-date, checked against `now`."""
    stamp = headers.get("X-Amz-Date") or ""
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
    return str(stamp)


def check_payload(headers: Message, body: bytes) -> None:
    """Raise a Refusal unless the body is the one a header-signed request's digest names."""
    digest = headers.get("X-Amz-Content-SHA256")
    if (
        headers.get("Authorization") is not None
        and digest is not None
        and DIGEST.fullmatch(digest)
        and digest != hashlib.sha256(body).hexdigest()
    ):
        raise Refusal(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )


def framing_refusal(request: Request) -> Refusal | None:
    """What S3 refuses in the request's framing before looking at its signature, or None."""
    if request.header("Transfer-Encoding") is not None:
        return PROBLEMS[Problem.ENCODING_NOT_IMPLEMENTED]
    if sum(len(name) + len(value) + 4 for name, value in request.headers) > MAX_HEADER_SECTION:
        return PROBLEMS[Problem.HEADERS_TOO_LARGE]
    if request.method in ("PUT", "POST") and request.content_length is None:
        return Refusal(
            411, "MissingContentLength", "You must provide the Content-Length HTTP header."
        )
    if (request.content_length or 0) > MAX_OBJECT:
        return PROBLEMS[Problem.BODY_TOO_LARGE]
    return None


class FrontDoor:
    """The front door's application: the emulator it forwards to, the keys whose signatures
    it takes (access key -> credentials), and its clock."""

    def __init__(
        self,
        upstream: str,
        keys: Mapping[str, Credentials],
        clock: Callable[[], datetime],
    ) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.keys, self.clock = dict(keys), clock

    def __call__(self, request: Request) -> Response:
        headers = Message()
        for name, value in request.headers:
            headers[name] = value
        refusal = framing_refusal(request)
        if refusal is not None:
            return refusal.response(request.target, close=True)
        try:
            check_request(request.method, request.target, headers, keys=self.keys, now=self.clock())
            body = request.body.read(MAX_OBJECT)
            check_payload(headers, body)
        except Refusal as refused:
            return refused.response(request.target)
        return self._forward(request, body)

    def refusal(self, problem: Problem, request: Request | None) -> Response:
        return PROBLEMS[problem].response(request.target if request else "/")

    def _forward(self, request: Request, body: bytes) -> Response:
        forwarded = {
            name: value
            for name, value in request.headers
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
        }
        if body or request.method in ("PUT", "POST"):
            forwarded["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(request.method, request.target, body=body, headers=forwarded)
            response = connection.getresponse()
            answer = response.read()
        except OSError as exc:
            return Refusal(503, "ServiceUnavailable", f"the emulator: {exc}").response(
                request.target
            )
        finally:
            connection.close()
        # The emulator's framing is its connection's: the server frames the answer again (a
        # HEAD keeps the object's Content-Length).
        passed = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP | {"date", "server"}
        ]
        return Response(response.status, passed, answer)


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
