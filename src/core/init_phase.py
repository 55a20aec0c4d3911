"""The init phase of an execution environment: Lambda importing a handler module.

Init makes what the environment keeps for its lifetime (modules, models, clients, services) and
frees almost nothing, so the cyclic garbage collector's passes during it find nothing to free.
Importing this module pauses the collector: it is each handler module's first import of ours,
before botocore's and pydantic's. `complete()`, the handler module's last statement, ends init:
SnapStart's priming where it applies, then every object init made goes into the collector's
permanent generation (`gc.freeze`), which later collections never walk, and collection resumes.

An init that raises leaves the collector paused; Lambda discards an environment whose init failed.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

gc.disable()

from src.core.snapstart import prepare_snapshot  # noqa: E402 - its imports run paused too


def complete(prime: Callable[[], None]) -> None:
    """The end of init: `prime` run in SnapStart's init (src.core.snapstart), init's objects
    frozen, the collector resumed."""
    prepare_snapshot(prime)
    gc.freeze()
    gc.enable()
