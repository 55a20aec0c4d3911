"""Lambda SnapStart, done as AWS advises for Python: the init phase imports every path, builds
every service and client and primes them with work that reaches neither AWS nor data; the
snapshot keeps all of it, and the runtime renews credentials and connections after a restore.
Only what must be unique to an execution environment is renewed after each restore: the random
seed (copies restored from one snapshot would otherwise draw the same numbers) and the mark
that makes the first invocation log as a cold start.

Nothing of this runs outside SnapStart's init (AWS_LAMBDA_INITIALIZATION_TYPE "snap-start");
`snapshot_restore_py` exists only in that runtime.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from src.core import logging as service_logging

SNAP_START = "snap-start"


def renew_unique_state() -> None:
    """After a restore: a fresh random seed, and the next invocation marked cold."""
    random.seed()
    service_logging.mark_cold_start()


def prepare_snapshot(
    prime: Callable[[], None],
    *,
    initialization_type: str | None = None,
    register: Callable[..., Any] | None = None,
) -> bool:
    """In SnapStart's init, run `prime` and renew the unique state after every restore; False
    (nothing run, nothing registered) in any other init."""
    if initialization_type is None:
        initialization_type = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
    if initialization_type != SNAP_START:
        return False
    if register is None:
        from snapshot_restore_py import register_after_restore  # noqa: PLC0415

        register = register_after_restore
    prime()
    # The first HTTP request's host name goes through the idna codec, imported on first use.
    "prime.invalid".encode("idna")
    register(renew_unique_state)
    return True
