"""AWS clients, built once per execution environment and reused across invocations.

They are botocore clients, which is all that boto3.client() returns; the boto3 package on top
(its resource layer and s3transfer) buys the handlers nothing (docs/decisions.md, "Cold starts:
what each function imports"). Endpoints and credentials come from botocore's own configuration, so
`AWS_ENDPOINT_URL` points the unchanged code at an emulator.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast, overload

import botocore.loaders
import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, DataNotFoundError, HTTPClientError

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


class _ModelFiles(botocore.loaders.JSONFileLoader):
    """botocore's model files (`name.json` or `name.json.gz`) decoded into plain dicts, which
    keep the files' order as the OrderedDicts botocore decodes into do, at under half the cost:
    the files a DynamoDB client reads took 51-77 ms that way against 21-25 ms (docs/decisions.md,
    "Cold starts: botocore's model loading")."""

    def load_file(self, file_path: str) -> Any:
        for extension, open_file in ((".json", open), (".json.gz", gzip.open)):
            if os.path.isfile(file_path + extension):
                with open_file(file_path + extension, "rb") as file:
                    return json.loads(file.read())
        return None


class _KnownServices(Sequence[str]):
    """The services `loader` has a `type_name` model of, as botocore lists them, except that
    asking whether it has one looks in that service's directory only. botocore asks that before
    loading any model, and its list looks through every service's directory (over 400)."""

    def __init__(self, loader: _Loader, type_name: str) -> None:
        self._loader, self._type_name = loader, type_name

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name in {"", ".", ".."} or os.sep in name:
            return False
        try:
            self._loader.list_api_versions(name, self._type_name)
        except DataNotFoundError:
            return False
        return True

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._every()[index]

    def __len__(self) -> int:
        return len(self._every())

    def _every(self) -> list[str]:
        services: list[str] = botocore.loaders.Loader.list_available_services(
            self._loader, self._type_name
        )
        return services


class _Loader(botocore.loaders.Loader):
    """botocore's data loader, over the same search paths (`AWS_DATA_PATH` included), with the
    two shortcuts above."""

    def __init__(self, data_path: str | None) -> None:
        search_paths = botocore.loaders.create_loader(data_path).search_paths
        super().__init__(
            extra_search_paths=search_paths,
            file_loader=_ModelFiles(),
            include_default_search_paths=False,
        )

    # botocore's stubs say list; botocore asks the answer `in` and joins it into an error.
    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        return _KnownServices(self, type_name)


@functools.cache
def _session() -> botocore.session.Session:
    """The botocore session of this execution environment (as boto3's default session is),
    loading botocore's models with `_Loader`."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _Loader(session.get_config_variable("data_path")))
    return session


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
