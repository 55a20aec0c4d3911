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
        module = importlib.import_module(module_name)
        return getattr(module, handler_name)(event, LambdaContext(function_name=function))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. ApiFunction")
    parser.add_argument("event", type=Path, help="a JSON event, e.g. events/api_get_user.json")
    args = parser.parse_args(argv)
    functions = function_handlers(load_template())
    if args.function not in functions:
        parser.error(f"unknown function {args.function!r}; one of {sorted(functions)}")
    response = invoke(args.function, json.loads(args.event.read_text()))
    print(json.dumps(response, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
