"""The local gateway and S3's front door as an HTTP peer meets them, over raw sockets: malformed
framing answered as API Gateway and S3 answer it, with one answer and the connection closed (a
request hidden in another's body is never served); chunked bodies read whole; requests after a
well-framed one answered in turn; a client waiting for `100 Continue` refused before it sends
its body; and the front door checking every request for its kind, presigned URLs with every
x-amz-* header signed and SigV4 Authorization headers against the keys it knows."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from devtools.local.api import Route, _pattern, _rank, make_server
from devtools.local.s3 import make_s3_front
from devtools.resources import free_port

KEY = Credentials("AKIALOCALFRONTDOOR01", "front-door-secret")
OBJECT_SIZE = 1234


class Echo:
    """A function that answers with what its event carried: the method and the body."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        body = event["body"] or ""
        answer = {"method": event["httpMethod"], "length": len(body), "body": body}
        return {"statusCode": 200, "body": json.dumps(answer)}


class Garbled:
    """A function whose answer has a header no HTTP message can carry."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"X-Split": "a\r\nSet-Cookie: b"}, "body": "{}"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[int]:
    routes = [
        Route("/echo", "ANY", "Echo", _pattern("/echo"), _rank("/echo")),
        Route("/garbled", "ANY", "Garbled", _pattern("/garbled"), _rank("/garbled")),
    ]
    pools: Any = {"Echo": Echo(), "Garbled": Garbled()}
    server = make_server("127.0.0.1", free_port(), routes, pools, "v1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


class Upstream(BaseHTTPRequestHandler):
    """The emulator's stand-in: takes every request, as S3 answers a PUT (200, no body); a HEAD
    describes an object of OBJECT_SIZE bytes."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", str(OBJECT_SIZE if self.command == "HEAD" else 0))
        self.end_headers()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def front_door() -> Iterator[int]:
    upstream = ThreadingHTTPServer(("127.0.0.1", free_port()), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    door = make_s3_front(
        free_port(), f"http://127.0.0.1:{upstream.server_address[1]}", {KEY.access_key: KEY}
    )
    threading.Thread(target=door.serve_forever, daemon=True).start()
    yield int(door.server_address[1])
    door.shutdown()
    upstream.shutdown()


def exchange(port: int, raw: bytes, *, then_close: bool = False) -> bytes:
    """Send `raw` on one connection (then end the sending side, with `then_close`) and read
    until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        # Answered and closed, perhaps before all of it was read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(raw)
            if then_close:
                connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


class _Stream(io.BytesIO):
    def close(self) -> None:
        pass  # http.client closes what it has read a response from


class _Received:
    """What was received, as a socket http.client reads responses from, one after another."""

    def __init__(self, data: bytes) -> None:
        self.file = _Stream(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self.file


def responses(received: bytes) -> list[tuple[int, bytes]]:
    """Each response in `received`, framed as http.client frames it: status and body."""
    source, found = _Received(received), []
    while source.file.tell() < len(received):
        response = http.client.HTTPResponse(source)  # type: ignore[arg-type]
        response.begin()
        found.append((response.status, response.read()))
    return found


def statuses(port: int, raw: bytes, **options: bool) -> list[int]:
    return [status for status, _ in responses(exchange(port, raw, **options))]


def presigned_put(port: int, key: str = "k.png") -> str:
    """A presigned PUT of an image, as the API's tickets sign it (type and size aside)."""
    url: str = s3_client(port, KEY).generate_presigned_url(
        "put_object",
        Params={"Bucket": "bucket", "Key": key, "ContentType": "image/png"},
        ExpiresIn=300,
    )
    return url


# A request head's end after the request line, and the status each server answers with.
FRAMING = [
    ("a Content-Length that is no number", b"Content-Length: abc\r\n\r\nhello", 400, 400),
    ("a negative Content-Length", b"Content-Length: -1\r\n\r\nhello", 400, 400),
    (
        "two Content-Lengths",
        b"Content-Length: 2\r\nContent-Length: 4\r\n\r\nhihi",
        400,
        400,
    ),
    # S3 takes no Transfer-Encoding at all: 501 NotImplemented.
    (
        "a Content-Length beside chunked, smuggling a second request",
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        501,
    ),
    ("a Transfer-Encoding other than chunked", b"Transfer-Encoding: gzip\r\n\r\n", 501, 501),
    (
        "two Content-Lengths, the second longer",
        b"Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello",
        400,
        400,
    ),
    (
        "a malformed chunk size",
        b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        400,
        501,
    ),
    (
        "a chunk size that is no number",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
        501,
    ),
    ("a space before a header's colon", b"Content-Length : 5\r\n\r\nhello", 400, 400),
    ("a header with a NUL", b"X-A: a\0b\r\nContent-Length: 0\r\n\r\n", 400, 400),
    # API Gateway: request line and header values over 10,240 bytes; S3: a header section
    # over 8 KiB (400 RequestHeaderSectionTooLarge).
    ("headers over the service's limit", b"X-Long: " + b"a" * 10_300 + b"\r\n\r\n", 431, 400),
    ("a header line over 64 KiB", b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, 400),
]


@pytest.mark.parametrize(
    ("case", "head", "at_gateway", "at_front_door"), FRAMING, ids=[c[0] for c in FRAMING]
)
@pytest.mark.parametrize("server", ["gateway", "front_door"])
def test_malformed_framing_gets_one_answer_and_the_connection_closes(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    *,
    server: str,
    case: str,
    head: bytes,
    at_gateway: int,
    at_front_door: int,
) -> None:
    port = request.getfixturevalue(server)
    path = b"/echo" if server == "gateway" else b"/bucket/key"

    answered = statuses(port, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + head)

    assert answered == [at_gateway if server == "gateway" else at_front_door]
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("case", "request_line", "status"),
    [
        ("over 64 KiB", b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414),
        ("not HTTP", b"HELLO", 400),
        ("HTTP/2.0 as text", b"GET /echo HTTP/2.0", 505),
    ],
)
@pytest.mark.parametrize("server", ["gateway", "front_door"])
def test_a_malformed_request_line_is_refused(
    request: pytest.FixtureRequest, server: str, case: str, request_line: bytes, status: int
) -> None:
    port = request.getfixturevalue(server)

    assert statuses(port, request_line + b"\r\nHost: x\r\n\r\n") == [status]


def test_an_answer_no_http_message_can_carry_is_502_and_the_connection_goes_on(
    gateway: int,
) -> None:
    raw = (
        b"GET /garbled HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )

    answered = responses(exchange(gateway, raw))

    assert answered[0] == (502, b'{"message": "Internal server error"}')
    assert [status for status, _ in answered] == [502, 200]


def test_a_url_over_api_gateways_limit_is_414(gateway: int) -> None:
    assert statuses(gateway, b"GET /echo?q=" + b"a" * 10_300 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == [
        414
    ]


def test_a_body_over_api_gateways_limit_is_413_before_it_is_sent(gateway: int) -> None:
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n"

    assert statuses(gateway, raw) == [413]


def test_a_body_shorter_than_its_length_is_400(gateway: int, front_door: int) -> None:
    url = urlsplit(presigned_put(front_door))
    head = b"Content-Type: image/png\r\nContent-Length: 10\r\n\r\nabc"
    to_function = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + head
    to_bucket = f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n".encode() + head

    at_bucket = exchange(front_door, to_bucket, then_close=True)

    assert statuses(gateway, to_function, then_close=True) == [400]
    assert [status for status, _ in responses(at_bucket)] == [400]
    assert b"<Code>IncompleteBody</Code>" in at_bucket


def test_a_chunked_body_reaches_the_function_whole_and_the_next_request_is_answered(
    gateway: int,
) -> None:
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n3\r\n 1}\r\n0\r\nX-Trailer: t\r\n\r\n'
        b"DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n"
    )

    answered = responses(exchange(gateway, raw, then_close=True))

    assert [(status, json.loads(body)) for status, body in answered] == [
        (200, {"method": "POST", "length": 8, "body": '{"a": 1}'}),
        (200, {"method": "DELETE", "length": 0, "body": ""}),
    ]


def test_requests_on_one_connection_are_answered_in_turn_each_with_its_own_body(
    gateway: int,
) -> None:
    # What follows a body of the declared length is the next request, never part of the body.
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nyou"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )

    answered = responses(exchange(gateway, raw))

    assert [(status, json.loads(body)["method"]) for status, body in answered] == [
        (200, "POST"),
        (200, "PUT"),
        (200, "GET"),
    ]
    assert [json.loads(body)["body"] for _, body in answered] == ["hi", "you", ""]


def read_head(connection: socket.socket) -> bytes:
    """What the server sent up to the end of the first head it sent."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_the_gateway_asks_for_the_body_a_client_holds_back_for_100_continue(
    gateway: int,
) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway), timeout=10) as connection:
        connection.sendall(head)
        interim = read_head(connection)
        connection.sendall(b"hello")
        connection.shutdown(socket.SHUT_WR)
        rest = b""
        while chunk := connection.recv(65536):
            rest += chunk

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert [(status, json.loads(body)["body"]) for status, body in responses(rest)] == [
        (200, "hello")
    ]


@pytest.mark.parametrize(
    ("case", "query", "code"),
    [
        ("unsigned", "", "AccessDenied"),
        ("signed by an unknown key", None, "InvalidAccessKeyId"),
    ],
)
def test_the_front_door_refuses_before_the_body_a_client_holds_back(
    front_door: int, case: str, query: str | None, code: str
) -> None:
    url = urlsplit(presigned_put(front_door))
    signed = url.query.replace(KEY.access_key, "AKIANOBODY0000000000")
    target = f"{url.path}?{signed if query is None else query}".rstrip("?")
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        "Content-Length: 2097152\r\nExpect: 100-continue\r\n\r\n"
    ).encode()

    # The body is never sent: the answer comes on the head alone, and the connection closes.
    received = exchange(front_door, head)

    assert not received.startswith(b"HTTP/1.1 100")
    assert [status for status, _ in responses(received)] == [403]
    assert f"<Code>{code}</Code>".encode() in received


def test_a_put_without_a_length_is_411_at_the_front_door(front_door: int) -> None:
    raw = b"PUT /bucket/key?X-Amz-Signature=x HTTP/1.1\r\nHost: x\r\n\r\n"

    assert statuses(front_door, raw) == [411]


def s3_client(port: int, credentials: Credentials) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
        ),
    )


def test_requests_signed_in_their_header_by_a_known_key_are_forwarded(front_door: int) -> None:
    client = s3_client(front_door, KEY)

    put = client.put_object(Bucket="bucket", Key="k.txt", Body=b"abc", Metadata={"owner": "me"})
    head = client.head_object(Bucket="bucket", Key="k.txt")

    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    # A HEAD keeps the object's length, though it has no body.
    assert head["ContentLength"] == OBJECT_SIZE


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        ("x", 400, "AuthorizationHeaderMalformed"),
        ("AWS AKIALOCALFRONTDOOR01:c2lnbmF0dXJl", 400, "AuthorizationHeaderMalformed"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIANOBODY/20261205/us-east-1/s3/aws4_request,"
            " SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            403,
            "InvalidAccessKeyId",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={KEY.access_key}/20261205/us-east-1/s3/aws4_request,"
            " SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            403,
            "SignatureDoesNotMatch",
        ),
    ],
)
def test_a_bogus_authorization_header_is_refused_as_s3_refuses_it(
    front_door: int, authorization: str, status: int, code: str
) -> None:
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = requests.put(
        f"http://127.0.0.1:{front_door}/bucket/evil.txt",
        data=b"evil",
        headers={
            "Authorization": authorization,
            "X-Amz-Date": now,
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        },
        timeout=10,
    )

    assert response.status_code == status
    assert f"<Code>{code}</Code>" in response.text


def test_a_request_signed_by_an_unknown_key_is_refused(front_door: int) -> None:
    stranger = Credentials("AKIASTRANGER00000000", "not-ours")

    with pytest.raises(Exception, match="InvalidAccessKeyId"):
        s3_client(front_door, stranger).put_object(Bucket="bucket", Key="k.txt", Body=b"abc")


def test_a_body_other_than_the_one_signed_is_refused(front_door: int) -> None:
    url = f"http://127.0.0.1:{front_door}/bucket/k.txt"
    signed = AWSRequest(
        method="PUT",
        url=url,
        data=b"abc",
        headers={"X-Amz-Content-SHA256": hashlib.sha256(b"abc").hexdigest()},
    )
    S3SigV4Auth(KEY, "s3", "us-east-1").add_auth(signed)

    as_signed = requests.put(url, data=b"abc", headers=dict(signed.headers), timeout=10)
    altered = requests.put(url, data=b"abd", headers=dict(signed.headers), timeout=10)

    assert as_signed.status_code == 200
    assert altered.status_code == 400
    assert "<Code>XAmzContentSHA256Mismatch</Code>" in altered.text


@pytest.mark.parametrize(
    "header", [("x-amz-meta-owner", "mallory"), ("x-amz-website-redirect-location", "/evil")]
)
def test_an_unsigned_x_amz_header_is_refused(front_door: int, header: tuple[str, str]) -> None:
    url = presigned_put(front_door)
    signed = AWSRequest(
        method="PUT",
        url=f"http://127.0.0.1:{front_door}/bucket/k.txt",
        data=b"abc",
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    S3SigV4Auth(KEY, "s3", "us-east-1").add_auth(signed)

    signed_only = requests.put(url, data=b"png", headers={"Content-Type": "image/png"}, timeout=10)
    smuggled = [
        requests.put(
            url,
            data=b"png",
            headers={"Content-Type": "image/png", header[0]: header[1]},
            timeout=10,
        ),
        requests.put(
            signed.url, data=b"abc", headers={**signed.headers, header[0]: header[1]}, timeout=10
        ),
    ]

    assert signed_only.status_code == 200
    for response in smuggled:
        assert response.status_code == 403
        assert "<Code>AccessDenied</Code>" in response.text
        assert (
            "<Message>There were headers present in the request which were not signed</Message>"
            f"<HeadersNotSigned>{header[0]}</HeadersNotSigned>"
        ) in response.text


def test_a_refused_upload_says_what_differed_and_every_request_gets_a_line(
    front_door: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url = s3_client(front_door, KEY).generate_presigned_url(
        "put_object",
        Params={"Bucket": "bucket", "Key": "k.png", "ContentType": "image/png", "ContentLength": 3},
        ExpiresIn=300,
    )
    capsys.readouterr()

    wrong = requests.put(url, data=b"four", headers={"Content-Type": "text/plain"}, timeout=10)
    right = requests.put(url, data=b"png", headers={"Content-Type": "image/png"}, timeout=10)
    unsigned = requests.put(f"http://127.0.0.1:{front_door}/bucket/k.png", data=b"png", timeout=10)

    # The body, as S3's, carries what the front door computed from the request.
    assert wrong.status_code == 403
    assert "<CanonicalRequest>PUT\n/bucket/k.png\n" in wrong.text
    assert "content-type:text/plain\n" in wrong.text
    assert "<StringToSign>AWS4-HMAC-SHA256\n" in wrong.text
    assert f"<AWSAccessKeyId>{KEY.access_key}</AWSAccessKeyId>" in wrong.text
    # The terminal says it in words, one line per request, successes too.
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[s3]")]
    assert lines == [
        "[s3] PUT /bucket/k.png -> 403 SignatureDoesNotMatch: signature does not match: it"
        " signs content-length, content-type, host; this request sent content-length: 4;"
        " content-type: text/plain (a ticket signs its file's type and size)",
        "[s3] PUT /bucket/k.png -> 200",
        "[s3] PUT /bucket/k.png -> 403 AccessDenied: no signature: S3 takes a presigned URL or a"
        " signed Authorization header",
    ]
    assert (right.status_code, unsigned.status_code) == (200, 403)


def test_an_unsigned_x_amz_header_on_a_header_signed_request_is_refused(front_door: int) -> None:
    client = s3_client(front_door, KEY)

    def add_unsigned(request: Any, **_: Any) -> None:
        request.headers["x-amz-acl"] = "public-read"

    # Added after the signature is made, as a proxy or a tampering client would.
    client.meta.events.register_last("before-send.s3.PutObject", add_unsigned)

    with pytest.raises(Exception, match="AccessDenied"):
        client.put_object(Bucket="bucket", Key="k.txt", Body=b"abc")
