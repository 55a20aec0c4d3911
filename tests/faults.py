"""AWS faults on demand: a boto3 client wrapper whose calls fail now and then, the way AWS and
the network fail, before or after the call takes effect.

Before the effect: throttling (400 ThrottlingException), a 5xx (InternalServerError), a
connection that never opened (ConnectTimeoutError). After the effect: the response lost on
the way back (ReadTimeoutError) or a 5xx answered for a request that was applied anyway. These
are what reach the service once botocore's own retries are spent.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

BEFORE = ("throttling", "server_error", "connect_timeout")
AFTER = ("read_timeout", "server_error_after")


def _fault(kind: str, operation: str) -> Exception:
    if kind == "throttling":
        return ClientError(
            {
                "Error": {"Code": "ThrottlingException", "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            operation,
        )
    if kind in ("server_error", "server_error_after"):
        return ClientError(
            {
                "Error": {"Code": "InternalServerError", "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            },
            operation,
        )
    if kind == "connect_timeout":
        return ConnectTimeoutError(endpoint_url="https://injected")
    return ReadTimeoutError(endpoint_url="https://injected")


class FaultyClient:
    """Wraps `client`; each call of an operation in `operations` fails with probability `rate`,
    half the time before taking effect and half the time after. `injected` counts by kind."""

    def __init__(self, client: Any, rng: random.Random, rate: float, operations: set[str]):
        self._client = client
        self.rng = rng
        self.rate = rate
        self._operations = operations
        self.injected: Counter[str] = Counter()
        # The order consumer applies orders from several threads.
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._operations:
            return attribute

        def call(**kwargs: Any) -> Any:
            with self._lock:
                roll = self.rng.random()
                kind = self.rng.choice(BEFORE if roll < self.rate / 2 else AFTER)
            if roll < self.rate / 2:
                self._count(kind)
                raise _fault(kind, name)
            result = attribute(**kwargs)
            if roll < self.rate:
                self._count(kind)
                raise _fault(kind, name)
            return result

        return call

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1
