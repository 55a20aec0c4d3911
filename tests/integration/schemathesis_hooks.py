"""schemathesis hooks for the acceptance suite's run (SCHEMATHESIS_HOOKS).

schemathesis treats each request it sends as a request of its own, and its stateful checks
expect a 201 to stand for a resource just made. It draws Idempotency-Key values from a small
space, so two requests of different test cases often share a key, and the second would be a
replay of the first (a 201 for a user deleted since, or a 422 for another body): right for the
API, wrong for what the checks assume. As a client does for a new request, each valid key is
made unique here; invalid keys are sent as drawn (they must get their 400). Replays, 409 and 422
are tested in tests/integration/test_api_idempotency.py and the acceptance suite.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

HEADER = "idempotency-key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
SUFFIX_LENGTH = 33  # "." and 32 hex digits


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    for name, value in list((case.headers or {}).items()):
        if name.lower() == HEADER and isinstance(value, str) and VALID_KEY.fullmatch(value):
            case.headers[name] = f"{value[: 255 - SUFFIX_LENGTH]}.{uuid.uuid4().hex}"
