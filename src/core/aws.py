"""AWS clients, built once per execution environment and reused across invocations.

They are botocore clients, which is all that boto3.client() returns; the boto3 package on top
(its resource layer and s3transfer) buys the handlers nothing (docs/decisions.md, "Cold starts:
what each function imports"). Endpoints and credentials come from botocore's own configuration, so
`AWS_ENDPOINT_URL` points the unchanged code at an emulator.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

# Standard retry mode retries throttling and 5xx with backoff; short timeouts keep a stuck
# connection from eating the whole function timeout.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


@functools.cache
def _session() -> botocore.session.Session:
    """The botocore session of this execution environment (as boto3's default session is)."""
    return botocore.session.get_session()


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """The DynamoDB client of this execution environment."""
    return cast("DynamoDBClient", _session().create_client("dynamodb", config=CLIENT_CONFIG))


@functools.cache
def sns_client() -> SNSClient:
    """The SNS client of this execution environment."""
    return cast("SNSClient", _session().create_client("sns", config=CLIENT_CONFIG))


@functools.cache
def s3_client() -> S3Client:
    """The S3 client of this execution environment (SigV4, which presigned URLs need)."""
    config = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))
    return cast("S3Client", _session().create_client("s3", config=config))


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
    connection or a response that timed out (what is left once botocore's retries are spent)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "TransactionCanceledException":
            # Cancelled by contention or throttling, not by a condition of ours.
            reasons = exc.response.get("CancellationReasons", [])
            return any(reason.get("Code") in TRANSIENT_CANCELLATIONS for reason in reasons)
        return code in TRANSIENT_ERROR_CODES or status >= 500
    return isinstance(exc, (ConnectionError, HTTPClientError))
