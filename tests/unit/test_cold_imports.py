"""What each handler imports at cold start: only what its first request needs. Time is for
`make bench`; this holds the module list, which a stray import would change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# boto3 (with s3transfer) is what the handlers' botocore clients do without: about 20 ms.
HEAVY = ["aws_lambda_powertools", "pydantic", "PIL", "email_validator", "ijson", "asyncio", "boto3"]


def imported_at_cold_start(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        # Queue messages are validated by pydantic models.
        ("src.handlers.sqs_handler", {"pydantic"}),
        ("src.handlers.s3_handler", set()),
        # The API's router is its own (src.handlers.http); its models are pydantic's.
        ("src.handlers.api_handler", {"pydantic"}),
    ],
)
def test_a_handler_imports_nothing_heavy_its_path_does_not_need(
    module: str, allowed: set[str]
) -> None:
    loaded = {name.split(".")[0] for name in imported_at_cold_start(module)}

    assert {name for name in HEAVY if name in loaded} == allowed
