"""One execution environment of one function: imports the handler on its first invocation (the
init phase) and then serves invocations one at a time, as Lambda does.

Requests arrive on stdin, one JSON line each ({"id", "event"}); results leave on the file
descriptor in LOCAL_RESPONSE_FD ({"id", "response"} or {"id", "error"}), so that stdout and
stderr carry only the function's own logs.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any

from devtools.lambda_events import LambdaContext


def main() -> int:
    function, handler_path = sys.argv[1], sys.argv[2]
    module_name, attribute = handler_path.rsplit(".", 1)
    results = os.fdopen(int(os.environ["LOCAL_RESPONSE_FD"]), "w", buffering=1)
    handler: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, Any] = {"id": request["id"]}
        try:
            if handler is None:
                handler = getattr(importlib.import_module(module_name), attribute)
            response = handler(
                request["event"],
                LambdaContext(function_name=function, aws_request_id=request["id"]),
            )
            json.dumps(response)  # what Lambda returns must be JSON
            reply["response"] = response
        except Exception as exc:
            traceback.print_exc()
            reply["error"] = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        results.write(json.dumps(reply, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
