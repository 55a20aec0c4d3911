"""What Lambda hands a handler, for everything that invokes handlers outside Lambda (tests,
`make invoke`, the local stack, `make bench`): the context object, the sample events in
events/, and API Gateway proxy events for any method and path built from them."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that code reads."""

    function_name: str = "ApiFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    remaining_ms: int = 300_000
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "2026/11/27/[$LATEST]0123456789abcdef"

    def __post_init__(self) -> None:
        name = self.function_name
        self.invoked_function_arn = (
            self.invoked_function_arn or f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        )
        self.log_group_name = self.log_group_name or f"/aws/lambda/{name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_event(name: str) -> dict[str, Any]:
    """A copy of the sample event events/<name>."""
    with (EVENTS / name).open() as handle:
        event: dict[str, Any] = json.load(handle)
    return event


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The v1 proxy event API Gateway sends for this request, built from the sample events;
    with `claims`, those of the token its authorizer checked."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "users":
        event = load_event("api_get_user.json")
        event["resource"] = "/users/{userId}"
        event["pathParameters"] = {"userId": parts[1]}
    else:
        event = load_event("api_list_users.json")
        event["resource"] = path
        event["pathParameters"] = None
    event["path"] = path
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["resourcePath"] = event["resource"]
    event["requestContext"]["path"] = "/v1" + path
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = (
        {key: [value] for key, value in query.items()} if query else None
    )
    all_headers = copy.deepcopy(event["headers"])
    if body is not None or raw_body is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    event["headers"] = all_headers
    event["multiValueHeaders"] = {key: [value] for key, value in all_headers.items()}
    event["body"] = (
        raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    )
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    return event
