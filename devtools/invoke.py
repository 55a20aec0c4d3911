"""Run one function's handler in this process with a sample event, like `sam local invoke` but
without Docker: the function's environment comes from template.yaml, its AWS resources from an
in-process emulator (moto) holding what the template declares, created from the template.

    python -m devtools.invoke ApiFunction events/api_get_user.json
    python -m devtools.invoke S3HandlerFunction     # the function's own sample event

An event of another service than the function's (an SQS batch to ApiFunction), or a file that
is missing or not JSON, is refused with a line saying so.

For an S3 event, the objects its creation records name are put in the bucket first (sample
content by extension), and the records carry their real size and ETag, as S3's would: the
processor then reads and records them. Prints the handler's log lines as they happen, then its
response.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from devtools.lambda_events import LambdaContext
from devtools.resources import (
    create_resources,
    function_environments,
    function_handlers,
    use_emulator_credentials,
)
from devtools.template import load_template

EVENTS = Path(__file__).resolve().parents[1] / "events"
# The sample event each function is invoked with when none is given: one that does what the
# function is for on a fresh emulated account (a user created, orders applied, an upload
# recorded, an administrator's token made).
DEFAULT_EVENTS = {
    "ApiFunction": "api_create_user.json",
    "SqsHandlerFunction": "sqs_order_batch.json",
    "S3HandlerFunction": "s3_put_json.json",
    "AccessTokenFunction": "cognito_token_administrator.json",
}
# What invokes each kind of function, by its template events (none: the user pool's trigger).
SOURCES = {"Api": "API Gateway", "SQS": "SQS", "S3": "S3"}


def event_source(event: Any) -> str:
    """Which service sends an event of this shape."""
    if isinstance(event, dict) and "httpMethod" in event:
        return "API Gateway"
    if isinstance(event, dict) and "triggerSource" in event:
        return "Cognito"
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = str(records[0].get("eventSource") or records[0].get("EventSource") or "")
        return {"aws:sqs": "SQS", "aws:s3": "S3"}.get(source, source or "unknown")
    return "unknown"


def function_sources(template: dict[str, Any], function: str) -> set[str]:
    """The services that invoke `function`, by its template events."""
    events = template["Resources"][function]["Properties"].get("Events", {}).values()
    return {SOURCES.get(event["Type"], event["Type"]) for event in events} or {"Cognito"}


def sample_content(key: str) -> tuple[bytes, str]:
    """Content of the type a key's extension names: two JSON records, or a small PNG."""
    if key.endswith(".png"):
        from PIL import Image  # noqa: PLC0415 - a dev dependency, for image samples only

        image = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 80, 40)).save(image, format="PNG")
        return image.getvalue(), "image/png"
    return b'[{"id": 1}, {"id": 2}]', "application/json"


def stage_objects(event: dict[str, Any], s3: Any) -> None:
    """Put the object of each creation record in `event`, and give the record its real size
    and ETag."""
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        body, content_type = sample_content(key)
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)["ETag"]
        record["s3"]["object"].update(size=len(body), eTag=etag.strip('"'))


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Invoke `function`'s handler with `event` inside a fresh emulated account."""
    import boto3  # noqa: PLC0415 - dev dependencies, after the credentials are set
    from moto import mock_aws  # noqa: PLC0415

    use_emulator_credentials()
    template = load_template()
    module_name, handler_name = function_handlers(template)[function].rsplit(".", 1)
    with mock_aws():
        physical = create_resources(template, boto3.client)
        os.environ.update(function_environments(template, physical)[function])
        # Set by Lambda for every function: its MemorySize.
        settings = {
            **template["Globals"]["Function"],
            **template["Resources"][function]["Properties"],
        }
        os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(settings.get("MemorySize", 128))
        stage_objects(event, boto3.client("s3"))
        module = importlib.import_module(module_name)
        return getattr(module, handler_name)(event, LambdaContext(function_name=function))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. ApiFunction")
    parser.add_argument(
        "event",
        type=Path,
        nargs="?",
        help="a JSON event, e.g. events/api_get_user.json (default: the function's sample)",
    )
    args = parser.parse_args(argv)
    template = load_template()
    functions = function_handlers(template)
    if args.function not in functions:
        parser.error(f"unknown function {args.function!r}; one of {sorted(functions)}")
    event_file = args.event or EVENTS / DEFAULT_EVENTS[args.function]
    try:
        event = json.loads(event_file.read_text())
    except OSError as exc:
        parser.error(f"cannot read the event {str(event_file)!r}: {exc.strerror}")
    except ValueError as exc:
        parser.error(f"the event {str(event_file)!r} is not JSON: {exc}")
    source, takes = event_source(event), function_sources(template, args.function)
    if source not in takes:
        parser.error(
            f"{event_file} is a {source} event; {args.function} is invoked by"
            f" {' and '.join(sorted(takes))} (events/ holds a sample of each)"
        )
    response = invoke(args.function, event)
    print(json.dumps(response, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
