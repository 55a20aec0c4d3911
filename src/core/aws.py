"""AWS clients, built once per execution environment and reused across invocations.

They are botocore clients, which is what boto3.client() returns, made without importing the
boto3 package. Endpoints and credentials come from botocore's own configuration, so
`AWS_ENDPOINT_URL` points the unchanged code at an emulator.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# Standard retry mode retries throttling, 5xx and timeouts with backoff. An attempt of the
# service's calls (small requests and answers) takes CONNECT_TIMEOUT + READ_TIMEOUT at most: the
# read timeout bounds each wait for bytes, and an answer comes in one; a streamed body is read
# after the call. The wait before attempt n + 1 is at most 2 ** (n - 1) s.
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
    tcp_keepalive=True,
)
# What an attempt must leave of the invocation when it ends: the longest wait before the next
# attempt (whose own check then refuses it), and a moment to answer.
ANSWER_MARGIN = 2.0 ** (MAX_ATTEMPTS - 2) + 0.5


class OutOfTime(BotoCoreError):
    """No attempt at an AWS call fits the time the invocation has left: the call is given up
    before Lambda's timeout would end the invocation unanswered. A botocore error, so that
    whatever handles AWS's failures handles it too."""

    fmt = "{left:.1f} s left in the invocation: no time for another AWS attempt"


# The end of the invocation in progress (time.monotonic()), None outside invocations.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextlib.contextmanager
def invocation_deadline(context: Any) -> Iterator[None]:
    """Within it, AWS calls fit the time `context` (Lambda's) says is left: an attempt starts
    only when it can end, timed out, with ANSWER_MARGIN left; otherwise OutOfTime."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    token = _deadline.set(time.monotonic() + remaining() / 1000 if remaining else None)
    try:
        yield
    finally:
        _deadline.reset(token)


def _within_deadline(**_: Any) -> None:
    """Before each attempt of each call (botocore's `before-send`)."""
    deadline = _deadline.get()
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left < CONNECT_TIMEOUT + READ_TIMEOUT + ANSWER_MARGIN:
        raise OutOfTime(left=left)


def _client(service: str, config: Config) -> Any:
    client = _session().create_client(service, config=config)
    client.meta.events.register_first("before-send", _within_deadline, unique_id="deadline")
    return client


@functools.cache
def _session() -> botocore.session.Session:
    """The botocore session of this execution environment (as boto3's default session is)."""
    return botocore.session.get_session()


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """The DynamoDB client of this execution environment."""
    return cast("DynamoDBClient", _client("dynamodb", CLIENT_CONFIG))


@functools.cache
def sns_client() -> SNSClient:
    """The SNS client of this execution environment."""
    return cast("SNSClient", _client("sns", CLIENT_CONFIG))


@functools.cache
def sqs_client() -> SQSClient:
    """The SQS client of this execution environment."""
    return cast("SQSClient", _client("sqs", CLIENT_CONFIG))


@functools.cache
def s3_client() -> S3Client:
    """The S3 client of this execution environment (SigV4, which presigned URLs need)."""
    config = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))
    return cast("S3Client", _client("s3", config))


class _EmptyBody:
    """The raw body of a canned response, as botocore reads one."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b"{}"


def _empty_answer(request: Any, **_: Any) -> AWSResponse:
    headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0"})
    return AWSResponse(request.url, 200, headers, _EmptyBody())


@contextlib.contextmanager
def rehearsal(client: DynamoDBClient) -> Iterator[None]:
    """Within it, the DynamoDB client's calls run their whole path (parameter validation,
    serialisation, endpoint resolution, signing, retries' bookkeeping, parsing) and get an empty
    answer (`{}`, HTTP 200) in place of the network: SnapStart's priming, which reaches no AWS,
    builds what a first call would."""
    events = client.meta.events
    # The stubs type every handler as returning None; a before-send handler returns the response.
    events.register_first(
        "before-send.dynamodb",
        _empty_answer,  # type: ignore[arg-type]
        unique_id="rehearsal",
    )
    try:
        yield
    finally:
        events.unregister("before-send.dynamodb", unique_id="rehearsal")


# Error codes that say "try again later" rather than "this request is wrong".
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
    }
)


TRANSIENT_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is an AWS fault that a later attempt may not meet: throttling, a 5xx, a
    connection or a response that timed out (what is left once botocore's retries are spent),
    or no time left to try again in this invocation."""
    if isinstance(exc, OutOfTime):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "TransactionCanceledException":
            # Cancelled by contention or throttling, not by a condition of ours.
            reasons = exc.response.get("CancellationReasons", [])
            return any(reason.get("Code") in TRANSIENT_CANCELLATIONS for reason in reasons)
        return code in TRANSIENT_ERROR_CODES or status >= 500
    return isinstance(exc, (ConnectionError, HTTPClientError))
