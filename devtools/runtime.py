"""The runtime environment: what a function imports on Lambda and nothing else.

`.venv-runtime` (`make runtime`, from requirements-runtime.txt) holds requirements.txt, the
layer's packages, plus the boto3 and botocore the python3.13 runtime ships, compiled to bytecode.
The local stack's workers and `make bench`'s cold starts run its interpreter, so a handler that
imports a package the artifact lacks fails here as it fails on Lambda.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / ".venv-runtime"
# SnapStart's hooks package (snapshot_restore_py), installed apart: on a worker's path in
# SnapStart mode only, as only the Lambda runtime provides it.
SNAPSTART_HOOKS = RUNTIME / "snapstart"


def runtime_python() -> Path:
    """The runtime environment's interpreter; an error saying how to build it when missing."""
    python = RUNTIME / "bin" / "python"
    if not (RUNTIME / ".installed").exists() or not python.exists():
        raise SystemExit(f"{RUNTIME.name} is missing: run `make runtime` (make dev and bench do)")
    return python
