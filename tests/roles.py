"""Each handler run in-process by a test makes its AWS calls with its function's role, as on
Lambda: every request the function's code (src/) sends while its handler is on the call stack
is authorised against that function's role (devtools/iam.py) before moto sees it, and a call
the role does not grant gets AWS's refusal. Calls made by the tests themselves (setting up
tables, reading what a handler stored, playing another client from within a handler) are not
a function's and pass as an administrator's would.

The roles are resolved against the resource names the tests configure (the environment that
tests/conftest.py sets, which template.yaml's variables name)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from devtools.iam import Roles, roles_from_template
from devtools.resources import table_arn
from devtools.template import declared_variables, load_template


def _physical(template: dict[str, Any]) -> dict[str, str]:
    """Logical id (and "id.Arn") -> the name the tests give that resource, read from the
    variables through which template.yaml hands each resource to its functions."""
    physical: dict[str, str] = {}
    resources = template["Resources"]
    for function, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for variable, value in declared_variables(template, function).items():
            if not (isinstance(value, dict) and "Ref" in value and variable in os.environ):
                continue
            logical_id, name = value["Ref"], os.environ[variable]
            physical[logical_id] = name
            match resources.get(logical_id, {}).get("Type"):
                case "AWS::DynamoDB::Table":
                    physical[f"{logical_id}.Arn"] = table_arn(name)
                case "AWS::S3::Bucket":
                    physical[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
                case "AWS::SQS::Queue":  # Ref gives its URL
                    host, account, queue = name.removeprefix("https://").split("/")
                    region = host.split(".")[1]
                    physical[f"{logical_id}.Arn"] = f"arn:aws:sqs:{region}:{account}:{queue}"
    return physical


ROLES: Roles = roles_from_template(load_template(), _physical(load_template()))
# The module of each function's handler: its frames on the stack say whose call it is.
HANDLER_MODULES = {
    resource["Properties"]["Handler"].rpartition(".")[0]: function
    for function, resource in load_template()["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}


# Test helpers that wrap a function's own clients (injecting faults): a call through them is
# still the function's.
TRANSPARENT = frozenset({"tests.faults", __name__})


def calling_function() -> str | None:
    """The function whose code makes the call in progress: the first of our frames above the
    SDK's is the function's code (src/) under its handler, not a test's own code (a helper
    playing another client, called back from within a handler)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("src."):
            break
        if module.startswith("tests.") and module not in TRANSPARENT:
            return None
        frame = frame.f_back  # type: ignore[assignment]
    while frame is not None:
        function = HANDLER_MODULES.get(frame.f_globals.get("__name__", ""))
        if function is not None:
            return function
        frame = frame.f_back  # type: ignore[assignment]
    return None


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _read(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    position = body.tell()
    data: bytes = body.read()
    body.seek(position)
    return data


def authorise(request: Any, **_: Any) -> AWSResponse | None:
    """A `before-send` handler: AWS's refusal when the calling function's role does not allow
    the request; None (the request goes on to moto) otherwise."""
    function = calling_function()
    if function is None:
        return None
    denial = ROLES.check(
        function, request.method, request.url, dict(request.headers), lambda: _read(request.body)
    )
    if denial is None:
        return None
    return AWSResponse(
        request.url, denial.status, HTTPHeaders.from_dict(denial.headers), _Body(denial.body)
    )


def least_privilege_report(usage_files: list[Path], justified: str) -> list[str]:
    """The grants of the functions' roles that no call checked in this test run used (here and
    in the local stacks whose `usage_files` are given), less those `justified` names as
    `Function: action`: what the roles grant beyond what the code is seen to need."""
    for usage in usage_files:
        ROLES.record(json.loads(usage.read_text()))
    return [
        str(grant) for grant in ROLES.unused() if f"`{grant.role}: {grant.action}`" not in justified
    ]
