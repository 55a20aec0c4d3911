"""What a plain `sam deploy` gives: the resources template.yaml declares and nothing else (no
parameter or secret made out of band), with the API function configured as the template says.
Run in a fresh interpreter, so the handler reads the template's variables at import as it does
on Lambda."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.local_stack import ROOT

PAGE_THROUGH_USERS = """
import json, os

import boto3
from moto import mock_aws

from devtools.lambda_events import LambdaContext, api_event
from devtools.resources import create_resources, function_environments, use_emulator_credentials
from devtools.template import load_template

use_emulator_credentials()
template = load_template()
with mock_aws():
    physical = create_resources(template, boto3.client)
    os.environ.update(function_environments(template, physical)["ApiFunction"])
    from src.handlers.api_handler import handler

    def call(method, path, body=None, query=None):
        response = handler(api_event(method, path, body, query=query), LambdaContext())
        return response["statusCode"], json.loads(response["body"] or "null")

    created = [
        call("POST", "/users", {"email": f"user{i}@example.com", "name": f"User {i}"})
        for i in range(25)
    ]
    pages, query = [], {"limit": "10"}
    while True:
        status, body = call("GET", "/users", query=query)
        pages.append([status, [user["userId"] for user in body["users"]]])
        if "nextKey" not in body:
            break
        query = {"limit": "10", "lastKey": body["nextKey"]}
    print(json.dumps({"created": created, "pages": pages}))
"""


def test_a_stack_from_the_template_alone_pages_through_every_user_once() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PAGE_THROUGH_USERS],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert [status for status, _ in outcome["created"]] == [201] * 25
    created = {user["userId"] for _, user in outcome["created"]}
    assert [status for status, _ in outcome["pages"]] == [200, 200, 200]
    assert [len(ids) for _, ids in outcome["pages"]] == [10, 10, 5]
    seen = [user_id for _, ids in outcome["pages"] for user_id in ids]
    assert sorted(seen) == sorted(created)
