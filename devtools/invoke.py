"""Run one function's handler in this process with a sample event, like `sam local invoke` but
without Docker: the function's environment comes from template.yaml, its AWS resources from an
in-process emulator (moto) holding what the template declares, created from the template.

    python -m devtools.invoke ApiFunction events/api_create_user.json

Prints the handler's log lines as they happen, then its response.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.resources import STACK, create_resources
from devtools.template import Evaluator, function_environment, load_template


@dataclass
class Context:
    """The Lambda context a handler sees."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def environment(
    template: dict[str, Any], function: str, physical: dict[str, str]
) -> dict[str, str]:
    evaluator = Evaluator(template, physical, stack_name=STACK)
    return {
        name: str(evaluator.resolve(value))
        for name, value in function_environment(function).items()
    }


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Invoke `function`'s handler with `event` inside a fresh emulated account."""
    from moto import mock_aws  # noqa: PLC0415 - a dev dependency

    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    template = load_template()
    handler_path = template["Resources"][function]["Properties"]["Handler"]
    module_name, handler_name = handler_path.rsplit(".", 1)
    import boto3  # noqa: PLC0415 - after the environment above

    with mock_aws():
        physical = create_resources(template, boto3.client)
        os.environ.update(environment(template, function, physical))
        module = importlib.import_module(module_name)
        return getattr(module, handler_name)(event, Context(function_name=function))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. ApiFunction")
    parser.add_argument("event", type=Path, help="a JSON event, e.g. events/api_get_user.json")
    args = parser.parse_args(argv)
    functions = {
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    if args.function not in functions:
        parser.error(f"unknown function {args.function!r}; one of {sorted(functions)}")
    response = invoke(args.function, json.loads(args.event.read_text()))
    print(json.dumps(response, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
