"""The local gateway and S3's front door as an HTTP peer meets them, over raw sockets: malformed
framing answered as API Gateway and S3 answer it (400, 411, 414, 431), chunked bodies read
whole, one response per connection (nothing smuggled in a body), and the front door checking
every request for its kind: presigned URLs with no unsigned x-amz-* header, and SigV4
Authorization headers against the keys it knows."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.credentials import Credentials

from devtools.local.api import Route, _pattern, _rank, make_server
from devtools.local.s3 import make_s3_front
from devtools.resources import free_port

KEY = Credentials("AKIALOCALFRONTDOOR01", "front-door-secret")


class Echo:
    """A function that answers with what its event carried: the body and its length."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        body = event["body"] or ""
        return {"statusCode": 200, "body": json.dumps({"length": len(body), "body": body})}


@pytest.fixture(scope="module")
def gateway() -> Iterator[int]:
    routes = [Route("/echo", "ANY", "Echo", _pattern("/echo"), _rank("/echo"))]
    server = make_server("127.0.0.1", free_port(), routes, {"Echo": Echo()}, "v1")  # type: ignore[dict-item]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


class Upstream(BaseHTTPRequestHandler):
    """The emulator's stand-in: takes every request, as S3 answers a PUT (200, no body)."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = do_DELETE = _answer

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


def exchange(port: int, raw: bytes) -> list[bytes]:
    """Send `raw` on one connection and read until the server closes it: each response's
    status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        # Answered and closed, perhaps before all of it was read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(raw)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return [line for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def statuses(port: int, raw: bytes) -> list[int]:
    return [int(line.split()[1]) for line in exchange(port, raw)]


FRAMING = [
    ("a Content-Length that is no number", b"Content-Length: abc\r\n\r\nhello", [400]),
    ("a negative Content-Length", b"Content-Length: -1\r\n\r\nhello", [400]),
    (
        "a Content-Length beside chunked, smuggling a second request",
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
        [400],
    ),
    ("a Transfer-Encoding other than chunked", b"Transfer-Encoding: gzip\r\n\r\n", [400]),
    ("two Content-Lengths", b"Content-Length: 5\r\nContent-Length: 0\r\n\r\nhello", [400]),
    (
        "two Content-Lengths, the second longer",
        b"Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello",
        [400],
    ),
    ("a space before a header's colon", b"Content-Length : 5\r\n\r\nhello", [400]),
    (
        "a chunk size that is no number",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        [400],
    ),
    ("a header line over 64 KiB", b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n", [431]),
    ("more than 100 headers", b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n", [431]),
]


@pytest.mark.parametrize(("case", "head", "expected"), FRAMING, ids=[c for c, _, _ in FRAMING])
@pytest.mark.parametrize("server", ["gateway", "front_door"])
def test_malformed_framing_gets_one_answer_and_the_connection_closes(
    request: pytest.FixtureRequest, server: str, case: str, head: bytes, expected: list[int]
) -> None:
    port = request.getfixturevalue(server)
    path = b"/echo" if server == "gateway" else b"/bucket/key"

    assert statuses(port, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + head) == expected


@pytest.mark.parametrize("server", ["gateway", "front_door"])
def test_a_request_line_over_64_kib_is_414(request: pytest.FixtureRequest, server: str) -> None:
    port = request.getfixturevalue(server)

    assert statuses(port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == [414]


def test_a_chunked_body_reaches_the_function_whole(gateway: int) -> None:
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    with socket.create_connection(("127.0.0.1", gateway), timeout=10) as connection:
        connection.sendall(raw)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk

    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body) == {"length": 8, "body": '{"a": 1}'}


def test_a_second_request_on_the_connection_is_never_read_as_one(gateway: int) -> None:
    # Each connection answers one request and closes, so a request hidden after another's
    # body is never served.
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        b"DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert statuses(gateway, raw) == [200]


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


def test_a_request_signed_in_its_header_by_a_known_key_is_forwarded(front_door: int) -> None:
    response = s3_client(front_door, KEY).put_object(Bucket="bucket", Key="k.txt", Body=b"abc")

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


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


@pytest.mark.parametrize(
    "header", [("x-amz-meta-owner", "mallory"), ("x-amz-website-redirect-location", "/evil")]
)
def test_an_unsigned_x_amz_header_on_a_presigned_put_is_refused(
    front_door: int, header: tuple[str, str]
) -> None:
    url = s3_client(front_door, KEY).generate_presigned_url(
        "put_object",
        Params={"Bucket": "bucket", "Key": "k.png", "ContentType": "image/png"},
        ExpiresIn=300,
    )

    signed_only = requests.put(url, data=b"png", headers={"Content-Type": "image/png"}, timeout=10)
    smuggled = requests.put(
        url, data=b"png", headers={"Content-Type": "image/png", header[0]: header[1]}, timeout=10
    )

    assert signed_only.status_code == 200
    assert smuggled.status_code == 403
    assert "<Code>AccessDenied</Code>" in smuggled.text
    assert f"not signed: {header[0]}" in smuggled.text


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
