"""The local stack on another Docker-free emulator: MiniStack (PyPI `ministack`), installed in
an environment of its own (.venv-ministack, from requirements-ministack.txt; it pins another
botocore than ours) and started on a free loopback port. The whole acceptance suite runs
against a local stack using it, then a second start against the same emulator finds its
resources there and serves."""

from __future__ import annotations

import os
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


def test_the_acceptance_suite_passes_on_ministack(emulator: str) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_acceptance.py",
        ],
        cwd=ROOT,
        env={**os.environ, "ACCEPTANCE_EMULATOR_URL": emulator},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )

    assert run.returncode == 0, run.stdout[-6000:]
    assert " passed" in run.stdout.splitlines()[-1]


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
