"""The local stack on another Docker-free emulator: MiniStack (PyPI `ministack`), installed in
an environment of its own (.venv-ministack, from requirements-ministack.txt; it pins another
botocore than ours) and started on a free loopback port. The acceptance cases of each path
through the emulator (users, orders, uploads) run against a local stack using it, then a second
start against the same emulator finds its resources there and serves. The whole suite runs on
MiniStack in tests/integration/test_ministack_deploy.py, against the stack deployed there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.local_stack import ROOT, local_stack, ministack


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ministack(tmp_path_factory.mktemp("ministack")) as url:
        yield url


# A case of each path through the emulator; the browser and schemathesis cases test the API's
# document, which is the same whatever the emulator.
SMOKE = " or ".join(
    (
        "test_an_http_client_goes_through_the_users_lifecycle",
        "test_a_client_retries_a_create_safely_with_an_idempotency_key",
        "test_a_producer_with_duplicates_and_a_poison_message",
        "test_uploads_json_and_image_then_a_deletion",
        "test_the_bucket_takes_only_the_upload_its_ticket_names",
    )
)


def test_the_acceptance_smoke_cases_pass_on_a_local_stack_using_ministack(emulator: str) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_acceptance.py",
            "-k",
            SMOKE,
        ],
        cwd=ROOT,
        env={**os.environ, "ACCEPTANCE_EMULATOR_URL": emulator},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )

    assert run.returncode == 0, run.stdout[-6000:]
    # Every case selected passed: none skipped, none failed.
    assert re.fullmatch(r"\d+ passed, \d+ deselected in .*", run.stdout.splitlines()[-1])


def test_a_second_start_against_the_same_emulator_works(emulator: str, tmp_path: Path) -> None:
    with local_stack(tmp_path / "first", AWS_ENDPOINT_URL=emulator) as first:
        created = requests.post(
            f"{first.api}/users", json={"email": "again@example.com", "name": "A"}, timeout=30
        )
    with local_stack(tmp_path / "second", AWS_ENDPOINT_URL=emulator) as second:
        again = requests.get(f"{second.api}/users/{created.json()['userId']}", timeout=30)

    assert created.status_code == 201
    assert second.outputs["UsersTableName"] == first.outputs["UsersTableName"]
    assert again.status_code == 200
    assert again.json() == created.json()
