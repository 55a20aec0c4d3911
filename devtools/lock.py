"""The dependency locks: every environment is installed from a file that pins every package,
transitive ones included, with the hashes of its distributions (`uv pip compile`).

`python -m devtools.lock` (`make lock`) writes each lock from its hand-edited input, keeping the
versions a lock already holds unless its input asks otherwise or `--upgrade-package` names them;
`--check` writes nothing and exits 1 naming every lock its input no longer matches. Each lock is
resolved under the lock before it as a constraint, so a package shared by two environments has
one version in both.
Locks are universal (every platform) for Python 3.13: the same requirements.txt serves this
machine and the aarch64 layer `sam build` makes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.13"


@dataclass(frozen=True)
class Lock:
    input: str
    output: str
    constraint: str | None = None


LOCKS = (
    Lock("requirements.in", "requirements.txt"),
    Lock("requirements-runtime.in", "requirements-runtime.txt", constraint="requirements.txt"),
    Lock("requirements-dev.in", "requirements-dev.txt", constraint="requirements-runtime.txt"),
    Lock("requirements-tools.in", "requirements-tools.txt"),
    Lock("requirements-snapstart.in", "requirements-snapstart.txt"),
    Lock("requirements-ministack.in", "requirements-ministack.txt"),
    Lock("requirements-uv.in", "requirements-uv.txt"),
)


def uv() -> str:
    """The uv the Makefile found or installed (UV), else the one on PATH, else .uv's."""
    installed = ROOT / ".uv" / "bin" / "uv"
    found = os.environ.get("UV") or shutil.which("uv") or (installed.exists() and str(installed))
    if not found:
        raise SystemExit("uv not found: run this through make (`make lock`), which provides it")
    return found


def compile_lock(
    root: Path, lock: Lock, output: Path, *, offline: bool = False, upgrade: Sequence[str] = ()
) -> None:
    """Resolve `lock.input` into `output`, preferring the versions `output` already pins.
    Offline, from uv's cache only: fails when the cache lacks what the resolution needs."""
    command = [
        uv(),
        "pip",
        "compile",
        "--quiet",
        *(["--offline"] if offline else []),
        "--universal",
        "--python-version",
        PYTHON_VERSION,
        "--generate-hashes",
        "--custom-compile-command",
        "make lock",
        "--output-file",
        str(output),
        lock.input,
    ]
    if lock.constraint:
        command += ["--constraint", lock.constraint]
    for package in upgrade:
        command += ["--upgrade-package", package]
    subprocess.run(
        command, cwd=root, check=True, timeout=600, stderr=subprocess.DEVNULL if offline else None
    )


def requirements(text: str) -> list[str]:
    """The requirement lines of a lock, each with its hashes, without comments or line breaks:
    what an install reads, whatever the layout a uv version writes."""
    lines = text.replace("\\\n", " ").splitlines()
    return sorted(
        " ".join(line.split())
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    )


def resolved(root: Path, lock: Lock, scratch: Path, *, upgrade: Sequence[str] = ()) -> Path:
    """`lock` resolved again into `scratch`, starting from the versions its current file pins.
    Without upgrades, uv's cache is tried first (it usually holds what is needed: a second);
    the index answers the rest."""
    current, fresh = root / lock.output, scratch / lock.output
    if current.exists():
        shutil.copyfile(current, fresh)
    if not upgrade:
        try:
            compile_lock(root, lock, fresh, offline=True)
        except subprocess.CalledProcessError:
            pass
        else:
            return fresh
    compile_lock(root, lock, fresh, upgrade=upgrade)
    return fresh


def stale(root: Path) -> list[str]:
    """The locks under `root` that their inputs no longer match."""
    found = []
    with tempfile.TemporaryDirectory() as scratch:
        for lock in LOCKS:
            current, fresh = root / lock.output, resolved(root, lock, Path(scratch))
            if not current.exists() or requirements(current.read_text()) != requirements(
                fresh.read_text()
            ):
                found.append(lock.output)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")
    parser.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="let this package move to its newest version its input allows (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(ROOT)
        for name in outdated:
            print(f"{name} is stale against its input: run `make lock`", file=sys.stderr)
        return 1 if outdated else 0
    with tempfile.TemporaryDirectory() as scratch:
        for lock in LOCKS:
            current = ROOT / lock.output
            fresh = resolved(ROOT, lock, Path(scratch), upgrade=args.upgrade_package)
            # Rewritten only when changed: make rebuilds the environments of a newer lock.
            if current.exists() and current.read_text() == fresh.read_text():
                print(f"{lock.output}: unchanged")
            else:
                shutil.copyfile(fresh, current)
                print(f"{lock.output}: locked from {lock.input}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
