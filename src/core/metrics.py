"""Counts as CloudWatch embedded metric format (EMF): one JSON line per invocation on stdout,
which CloudWatch Logs turns into metrics without an API call.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

# The namespace of every metric the functions emit; each function adds its `service` dimension.
NAMESPACE = "UsersService"


class EmbeddedMetrics:
    """Counts named events during an invocation; `flush` writes them as one EMF line."""

    def __init__(self, namespace: str, dimensions: dict[str, str]) -> None:
        self._namespace = namespace
        self._dimensions = dimensions
        self._counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        self._counts[name] += value

    def flush(self) -> None:
        """Write what was counted since the last flush (nothing when nothing was)."""
        if not self._counts:
            return
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [sorted(self._dimensions)],
                        "Metrics": [
                            {"Name": name, "Unit": "Count"} for name in sorted(self._counts)
                        ],
                    }
                ],
            },
            **self._dimensions,
            **self._counts,
        }
        self._counts.clear()
        sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
        sys.stdout.flush()
