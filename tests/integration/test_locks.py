"""The dependency locks: complete, hash-pinned, consistent with each other, and fresh against
their hand-edited inputs (uv resolves them again, from its cache or the index)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.lock import LOCKS, ROOT, requirements, stale

PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?: ;[^-]*)?( --hash=sha256:[0-9a-f]{64})+$"
)
LAYER, RUNTIME, DEV = "requirements.txt", "requirements-runtime.txt", "requirements-dev.txt"


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in requirements((ROOT / lock).read_text()):
        match = PIN.match(line)
        assert match, f"{lock}: not an exact pin with hashes: {line[:120]}"
        found[match["name"].lower()] = match["version"]
    return found


@pytest.mark.parametrize("lock", [lock.output for lock in LOCKS])
def test_every_package_of_a_lock_is_pinned_with_its_hashes(lock: str) -> None:
    assert pins(lock)


def test_environments_that_share_a_package_share_its_version() -> None:
    layer, runtime, dev = pins(LAYER), pins(RUNTIME), pins(DEV)

    assert {name: runtime[name] for name in layer} == layer
    assert {name: dev[name] for name in runtime} == runtime
    assert (runtime["boto3"], runtime["botocore"]) == ("1.43.108", "1.43.127")


def test_every_lock_matches_its_input() -> None:
    assert stale(ROOT) == []


def test_an_input_changed_without_its_lock_is_found_stale(tmp_path: Path) -> None:
    # Given a copy of the inputs and locks, where requirements.in loses a package
    for path in [*ROOT.glob("requirements*.in"), *ROOT.glob("requirements*.txt")]:
        shutil.copyfile(path, tmp_path / path.name)
    runtime_input = tmp_path / "requirements.in"
    text = runtime_input.read_text()
    assert "ijson==3.6.0\n" in text
    runtime_input.write_text(text.replace("ijson==3.6.0\n", ""))

    # Then every lock that includes that input is stale, and only those
    assert stale(tmp_path) == [LAYER, RUNTIME, DEV]


def test_an_environment_s_first_build_and_each_sync_say_what_they_do(tmp_path: Path) -> None:
    for name in ("Makefile", "requirements-uv.txt", RUNTIME, "requirements-snapstart.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    # The uv this run's make found (on PATH, or the one it installed), as a fresh clone's would.
    uv = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")

    make = shutil.which("make") or "make"

    def build() -> list[str]:
        made = subprocess.run(
            [make, "--no-print-directory", ".venv-runtime/.installed", f"UV={uv}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return made.stdout.splitlines()

    first = build()
    later = (tmp_path / ".venv-runtime" / ".installed").stat().st_mtime + 10
    os.utime(tmp_path / RUNTIME, (later, later))  # the lock changed after the build
    again = build()

    assert first == [
        ".venv-runtime: building a Python 3.13 environment from requirements-runtime.txt with uv"
    ]
    assert again == [".venv-runtime: syncing to requirements-runtime.txt"]


def test_make_unit_builds_the_runtime_environment_its_tests_run_functions_in(
    tmp_path: Path,
) -> None:
    # A fresh clone: no environment yet. What `make unit` would run, without running it.
    for name in ("Makefile", "requirements-uv.txt", RUNTIME, "requirements-snapstart.txt", DEV):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    uv = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")
    planned = subprocess.run(
        [shutil.which("make") or "make", "--dry-run", "unit", f"UV={uv}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert "--python .venv-runtime/bin/python requirements-runtime.txt" in planned
    assert planned.index(".venv-runtime") < planned.index("-m pytest tests/unit")
