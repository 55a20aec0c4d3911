"""Lambda SnapStart: what must not be shared between execution environments restored from one
snapshot. Connections in cached clients (and the services holding them) are dropped so each
environment opens its own; the random module is reseeded; the first invocation after a restore
is logged as a cold start. Outside SnapStart (no `snapshot_restore_py`, which only the Lambda
runtime provides) this registers nothing."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from src.core import logging as service_logging


def reset_after_restore(*cached: Any) -> None:
    """Clear `cached` (functools.cache functions), reseed, and mark the next invocation cold."""
    for function in cached:
        function.cache_clear()
    random.seed()
    service_logging.mark_cold_start()


def register_restore_hooks(*cached: Any, register: Callable[..., Any] | None = None) -> bool:
    """Run reset_after_restore(*cached) after every SnapStart restore; False when not on
    SnapStart."""
    if register is None:
        try:
            from snapshot_restore_py import register_after_restore  # noqa: PLC0415
        except ImportError:
            return False
        register = register_after_restore
    register(lambda: reset_after_restore(*cached))
    return True
