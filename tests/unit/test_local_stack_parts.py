"""The local stack's stand-ins for AWS, piece by piece: API Gateway's proxy events and
responses, the SQS event source mapping's partial batch rule, asynchronous invocation, S3's
checks of presigned URLs."""

from __future__ import annotations

import base64
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.credentials import Credentials

from devtools.local.api import (
    Route,
    _pattern,
    _rank,
    build_event,
    make_server,
    routes_from_template,
)
from devtools.local.event_sources import Sequencer, failed_message_ids, invoke_async, sqs_record
from devtools.local.functions import InvocationError
from devtools.local.s3 import Refusal, check_presigned
from devtools.resources import free_port
from devtools.template import load_template


def route(resource: str) -> Route:
    return Route(resource, "ANY", "ApiFunction", _pattern(resource), _rank(resource))


def test_routes_come_from_the_template_most_specific_first() -> None:
    routes = routes_from_template(load_template())

    def first(method: str, path: str) -> tuple[str, dict[str, str] | None]:
        for candidate in routes:
            parameters = candidate.match(method, path)
            if parameters is not None:
                return candidate.resource, parameters
        raise AssertionError(path)

    assert first("GET", "/users") == ("/users", {})
    assert first("DELETE", "/users/a%20b") == ("/users/{userId}", {"userId": "a b"})
    assert first("GET", "/orders/o-1") == ("/orders/{orderId}", {"orderId": "o-1"})
    assert first("GET", "/docs/swagger-ui.css") == ("/{proxy+}", {"proxy": "docs/swagger-ui.css"})
    assert first("GET", "/") == ("/", {})
    assert first("GET", "/uploads/0a1b") == ("/uploads/{uploadId}", {"uploadId": "0a1b"})
    # Every character reaches a route, as on API Gateway: an encoded newline too.
    assert first("GET", "/uploads/n%0Ax") == ("/uploads/{uploadId}", {"uploadId": "n\nx"})
    assert first("GET", "/a%0A/b") == ("/{proxy+}", {"proxy": "a\n/b"})


def test_proxy_events_carry_multi_value_headers_and_query_strings() -> None:
    event = build_event(
        method="GET",
        raw_path="/users?limit=5&tag=a&tag=b&empty=",
        headers=[("Host", "127.0.0.1:3000"), ("X-Thing", "1"), ("X-Thing", "2")],
        body=b"",
        route=route("/users"),
        path_parameters={},
        source_ip="127.0.0.1",
        stage="v1",
    )

    assert event["queryStringParameters"] == {"limit": "5", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["headers"]["X-Thing"] == "2"
    assert event["multiValueHeaders"]["X-Thing"] == ["1", "2"]
    assert event["body"] is None
    assert event["pathParameters"] is None
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["path"] == "/v1/users"
    assert context["resourcePath"] == "/users"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"]


def test_the_event_path_is_as_sent_and_the_path_parameters_decoded() -> None:
    # API Gateway's REST APIs keep the client's percent-encoding in `path`.
    event = build_event(
        method="GET",
        raw_path="/orders/ord%231%2Fb?x=1",
        headers=[("Host", "127.0.0.1:3000")],
        body=b"",
        route=route("/orders/{orderId}"),
        path_parameters={"orderId": "ord#1/b"},
        source_ip="127.0.0.1",
        stage="v1",
    )

    assert event["path"] == "/orders/ord%231%2Fb"
    assert event["requestContext"]["path"] == "/v1/orders/ord%231%2Fb"
    assert event["pathParameters"] == {"orderId": "ord#1/b"}


@pytest.mark.parametrize(
    ("body", "content_type", "encoded"),
    [
        (b'{"a": 1}', "application/json", False),
        ("héllo".encode(), "text/plain", False),
        (b"\x89PNG\r\n\x1a\n\x00", "image/png", True),
        (b"\xff\xfe", "application/json", True),
    ],
)
def test_binary_bodies_are_base64(body: bytes, content_type: str, encoded: bool) -> None:
    event = build_event(
        method="POST",
        raw_path="/uploads",
        headers=[("Content-Type", content_type)],
        body=body,
        route=route("/uploads"),
        path_parameters={},
        source_ip="127.0.0.1",
        stage="v1",
    )

    assert event["isBase64Encoded"] is encoded
    decoded = base64.b64decode(event["body"]) if encoded else event["body"].encode()
    assert decoded == body


BATCH = {"m1", "m2", "m3"}


@pytest.mark.parametrize(
    ("response", "kept"),
    [
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        (None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, BATCH),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, BATCH),
        ({"batchItemFailures": "m1"}, BATCH),
        ("ok", BATCH),
    ],
)
def test_partial_batch_responses_as_lambda_reads_them(response: Any, kept: set[str]) -> None:
    assert failed_message_ids(response, BATCH) == kept


def test_sqs_records_have_the_event_source_mapping_shape() -> None:
    record = sqs_record(
        {
            "MessageId": "m1",
            "ReceiptHandle": "r1",
            "Body": "{}",
            "Attributes": {"ApproximateReceiveCount": "2"},
            "MessageAttributes": {"kind": {"StringValue": "x", "DataType": "String"}},
        },
        "arn:aws:sqs:us-east-1:123456789012:q",
        "us-east-1",
    )

    assert record["messageId"] == "m1"
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"]["kind"]["stringValue"] == "x"
    assert record["md5OfBody"] == "99914b932bd37a50b983c5e7c90ae93b"


class FailingPool:
    function = "S3HandlerFunction"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def invoke(self, event: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise InvocationError("ClientError: throttled")
        return None


def test_async_invocation_retries_then_succeeds() -> None:
    pool = FailingPool(failures=2)
    sent: list[dict[str, Any]] = []

    invoke_async(pool, {"Records": []}, retries=2, on_failure=sent.append, delay=0)  # type: ignore[arg-type]

    assert pool.calls == 3
    assert sent == []


def test_async_invocation_past_its_retries_goes_to_the_on_failure_destination() -> None:
    pool = FailingPool(failures=99)
    sent: list[dict[str, Any]] = []
    event = {"Records": [{"s3": {"object": {"key": "uploads/a"}}}]}

    invoke_async(pool, event, retries=2, on_failure=sent.append, delay=0)  # type: ignore[arg-type]

    assert pool.calls == 3
    (record,) = sent
    assert record["requestPayload"] == event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == {"errorType": "ClientError", "errorMessage": "throttled"}
    json.dumps(record)


def test_sequencers_grow_in_emission_order() -> None:
    sequencer = Sequencer()
    values = [sequencer.next() for _ in range(1000)]

    assert values == sorted(values)
    assert len(set(values)) == 1000


# --- S3's front door: presigned URLs checked as S3 checks them ---------------------------------

KEY = Credentials("test", "test")


def presigned(method: str = "put_object", **params: Any) -> str:
    """A presigned URL as the API's client makes it, good for 900 s."""
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:4570",
        region_name="us-east-1",
        aws_access_key_id=KEY.access_key,
        aws_secret_access_key=KEY.secret_key,
        config=Config(signature_version="s3v4"),
    )
    url: str = client.generate_presigned_url(
        method, Params={"Bucket": "uploads", "Key": "uploads/a b.png", **params}, ExpiresIn=900
    )
    return url


def signed_at(url: str) -> datetime:
    (stamp,) = parse_qs(urlsplit(url).query)["X-Amz-Date"]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def refusal(
    url: str,
    headers: dict[str, str],
    *,
    method: str = "PUT",
    after: float = 0,
    credentials: Credentials = KEY,
) -> str | None:
    """The code S3 refuses the request with, `after` seconds past the signing, or None."""
    split = urlsplit(url)
    message = Message()
    for name, value in {"Host": split.netloc, **headers}.items():
        message[name] = value
    try:
        now = (signed_at(url) if "X-Amz-Date" in url else datetime.now(UTC)) + timedelta(
            seconds=after
        )
        check_presigned(
            method,
            f"{split.path}?{split.query}",
            message,
            {credentials.access_key: credentials},
            now,
        )
    except Refusal as refused:
        return refused.code
    return None


TICKET = {"ContentType": "image/png", "ContentLength": 1234}
AS_SIGNED = {"Content-Type": "image/png", "Content-Length": "1234"}


def test_a_put_as_its_ticket_signs_it_is_taken() -> None:
    url = presigned(**TICKET)

    assert refusal(url, AS_SIGNED) is None
    assert refusal(url, {**AS_SIGNED, "User-Agent": "curl/8.5.0"}) is None  # unsigned header
    assert refusal(url, AS_SIGNED, after=900) is None


@pytest.mark.parametrize(
    "headers",
    [
        {**AS_SIGNED, "Content-Type": "application/x-www-form-urlencoded"},
        {**AS_SIGNED, "Content-Type": "text/plain"},
        {"Content-Length": "1234"},
        {**AS_SIGNED, "Content-Length": "1235"},
        {"Content-Type": "image/png", "Transfer-Encoding": "chunked"},
        {**AS_SIGNED, "Host": "127.0.0.1:9999"},
    ],
)
def test_another_type_size_or_host_does_not_match_the_signature(headers: dict[str, str]) -> None:
    assert refusal(presigned(**TICKET), headers) == "SignatureDoesNotMatch"


def test_a_changed_request_does_not_match_the_signature() -> None:
    url = presigned(**TICKET)
    path, _, query = url.partition("?")

    assert refusal(f"{path}x?{query}", AS_SIGNED) == "SignatureDoesNotMatch"
    assert refusal(f"{path}?{query}&acl=", AS_SIGNED) == "SignatureDoesNotMatch"
    assert refusal(url, AS_SIGNED, method="DELETE") == "SignatureDoesNotMatch"
    assert refusal(url.replace("X-Amz-Expires=900", "X-Amz-Expires=901"), AS_SIGNED) == (
        "SignatureDoesNotMatch"
    )
    assert refusal(url, AS_SIGNED, credentials=Credentials("test", "other")) == (
        "SignatureDoesNotMatch"
    )


def test_an_expired_unknown_unsigned_or_malformed_url_is_refused() -> None:
    url = presigned(**TICKET)
    path = url.partition("?")[0]

    assert refusal(url, AS_SIGNED, after=901) == "AccessDenied"
    assert refusal(url, AS_SIGNED, credentials=Credentials("other", "test")) == (
        "InvalidAccessKeyId"
    )
    assert refusal(path, AS_SIGNED) == "AccessDenied"
    assert refusal(url.replace("X-Amz-Date=", "X-Amz-Datum="), AS_SIGNED) == (
        "AuthorizationQueryParametersError"
    )
    assert refusal(f"{path}?AWSAccessKeyId=test&Signature=x&Expires=1", AS_SIGNED) == (
        "InvalidRequest"
    )


def test_a_presigned_get_is_checked_the_same_way() -> None:
    url = presigned("get_object")

    assert refusal(url, {}, method="GET") is None
    assert refusal(url, {}, method="GET", after=3600) == "AccessDenied"


def test_the_gateway_takes_a_burst_of_connections_opened_before_it_serves() -> None:
    # Given the local gateway, not yet accepting, and 200 clients connecting at once
    server = make_server("127.0.0.1", free_port(), [], {}, "local")
    host, port = server.server_address[:2]
    clients = [socket.create_connection((str(host), port), timeout=2) for _ in range(200)]
    # When it serves them
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answers = []
        for client in clients:
            client.sendall(b"GET /nowhere HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
            answers.append(client.makefile("rb").readline())
            client.close()
    finally:
        server.shutdown()
    # Then every one of them is answered
    assert answers == [b"HTTP/1.1 403 Forbidden\r\n"] * 200


class Echo:
    """A function that answers with the authorizer its event carries."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        authorizer = event["requestContext"].get("authorizer")
        return {"statusCode": 200, "body": json.dumps(authorizer)}


class Trigger:
    """The user pool's token trigger, run in-process."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        from src.handlers.token_handler import handler

        return handler(event, None)


@pytest.mark.parametrize(
    ("method", "path", "caller", "status", "scopes"),
    [
        # Without the header: no authorizer, as on a stack deployed without one.
        ("DELETE", "/users/u-1", None, 200, None),
        # An administrator's token passes every route.
        ("DELETE", "/users/u-1", "administrator root@example.com", 200, "admin"),
        ("GET", "/users", "administrator root@example.com", 200, "admin"),
        # A user's token: their record's routes and the others, not the administrators'.
        ("GET", "/users/u-1", "user ada@example.com", 200, "self"),
        ("PUT", "/users/u-1", "user ada@example.com", 200, "self"),
        ("GET", "/orders/o-1", "user ada@example.com", 200, "self"),
        ("DELETE", "/users/u-1", "user ada@example.com", 401, None),
        ("POST", "/users", "user ada@example.com", 401, None),
        ("GET", "/users", "user ada@example.com", 401, None),
        # A header naming no caller is no token.
        ("GET", "/orders/o-1", "root", 401, None),
        ("GET", "/orders/o-1", "superuser ada@example.com", 401, None),
    ],
)
def test_the_gateway_checks_a_named_callers_token_scopes_as_api_gateway_does(
    method: str, path: str, caller: str | None, status: int, scopes: str | None
) -> None:
    from devtools.local.api import LOCAL_CALLER_HEADER, token_trigger

    template = load_template()
    trigger = token_trigger(template)
    assert trigger == "AccessTokenFunction"
    pools: Any = {"ApiFunction": Echo(), trigger: Trigger()}
    server = make_server(
        "127.0.0.1", free_port(), routes_from_template(template), pools, "v1", trigger=trigger
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    try:
        headers = {} if caller is None else {LOCAL_CALLER_HEADER: caller}
        response = requests.request(
            method, f"http://{host}:{port}{path}", headers=headers, timeout=10
        )
    finally:
        server.shutdown()

    assert response.status_code == status
    if status == 401:
        assert response.json() == {"message": "Unauthorized"}
    elif scopes is None:
        assert response.json() is None
    else:
        claims = response.json()["claims"]
        granted = claims["scope"].split()
        assert "users-api/self" in granted
        assert ("users-api/admin" in granted) == (scopes == "admin")
        assert claims["email"] == caller.split()[1]  # type: ignore[union-attr]


def test_routes_take_the_scopes_of_their_stack() -> None:
    secured = {(r.resource, r.method): r.scopes for r in routes_from_template(load_template())}
    opened = routes_from_template(
        load_template(), {"Environment": "development", "UnsafeOpenDevelopmentApi": "yes"}
    )

    assert secured[("/users/{userId}", "ANY")] == ("users-api/admin",)
    assert secured[("/users/{userId}", "GET")] == ("users-api/self", "users-api/admin")
    assert secured[("/users", "OPTIONS")] is None
    assert {route.scopes for route in opened} == {None}
