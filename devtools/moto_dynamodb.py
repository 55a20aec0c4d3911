"""Two corrections to moto's DynamoDB TransactWriteItems, so that the emulator keeps DynamoDB's
guarantees (docs/decisions.md, "The emulator under concurrency"). Applied by `apply()` to the
pinned moto (requirements-dev.txt), in the local stack's emulator and in the tests.

- **Rollback by item.** moto copies every table a transaction touches before applying it and,
  when one item fails, puts the copies back: the cost grows with the tables' size, and a write
  another request committed meanwhile is lost with the copy. Here only the items the
  transaction touches are copied and restored: the cost is the transaction's own, whatever the
  table holds.
- **ClientRequestToken.** botocore sends a token with every TransactWriteItems and sends the
  same one when it retries. DynamoDB answers a repeated token within 10 minutes with success
  and does not apply the transaction again (IdempotentParameterMismatchException when the
  request differs); moto ignores the token, so a retry of an applied transaction fails its own
  conditions. Here a token that succeeded is remembered for 10 minutes, per emulated account
  and region.

Neither makes moto safe under concurrent requests: its tables are plain dicts. The local stack's
emulator serialises its requests (devtools/local/emulator.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import weakref
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

# How long DynamoDB remembers a ClientRequestToken.
TOKEN_LIFETIME = 600.0


class IdempotentParameterMismatchException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            "The request uses the same client token as a previous, but non-identical request.",
        )


def _key_of(backend: DynamoDBBackend, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    if kind != "Put":
        key: dict[str, Any] = request["Key"]
        return key
    table = backend.get_table(request["TableName"])
    attributes = request["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _apply(backend: DynamoDBBackend, kind: str, request: dict[str, Any], key: Any) -> None:
    """One transaction item's write, its condition already checked."""
    table_name = request["TableName"]
    expressions: dict[str, Any] = {
        "condition_expression": request.get("ConditionExpression"),
        "expression_attribute_names": request.get("ExpressionAttributeNames"),
        "expression_attribute_values": request.get("ExpressionAttributeValues"),
    }
    if kind == "Put":
        backend.put_item(table_name, request["Item"], **expressions)
    elif kind == "Delete":
        backend.delete_item(table_name, key, **expressions)
    elif kind == "Update":
        backend.update_item(
            table_name, key, update_expression=request["UpdateExpression"], **expressions
        )


class _Transaction:
    """One TransactWriteItems: its items checked and applied in order, each item's previous
    state kept so that a failure puts back exactly what the transaction changed."""

    def __init__(self, backend: DynamoDBBackend) -> None:
        self._backend = backend
        self._targets: set[tuple[str, str]] = set()
        # (table, key, the item before this transaction or None), in the order applied.
        self._before: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        # The item a failed condition returns (ReturnValuesOnConditionCheckFailure).
        self.returned: dict[str, Any] | None = None

    def item(self, kind: str, request: dict[str, Any]) -> None:
        if kind not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = request["TableName"]
        key = _key_of(self._backend, kind, request)
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in self._targets:
            raise MultipleTransactionsException()
        self._targets.add(target)
        current = self._backend.get_item(table_name, key)
        condition = request.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition,
            request.get("ExpressionAttributeNames"),
            request.get("ExpressionAttributeValues"),
        ).expr(current):
            self.returned = None
            if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                self.returned = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=self.returned)
        if kind != "ConditionCheck":
            previous = copy.deepcopy(current.to_json()["Attributes"]) if current else None
            self._before.append((table_name, key, previous))
            _apply(self._backend, kind, request, key)

    def roll_back(self) -> None:
        for table_name, key, item in reversed(self._before):
            if item is None:
                self._backend.delete_item(table_name, key)
            else:
                self._backend.put_item(table_name, item, overwrite=True)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, rolled back by item (see the module's docstring)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    transaction = _Transaction(self)
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        try:
            transaction.item(*next(iter(item.items())))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            transaction.roll_back()
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), transaction.returned))
        except Exception as exc:
            errors.append((type(exc).__name__, str(exc), None))
    if any(code is not None for code, _, _ in errors):
        transaction.roll_back()
        raise TransactionCanceledException(errors)


# Per backend (an emulated account and region, gone when moto resets): token -> the request's
# fingerprint and when it succeeded.
_tokens: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, float]]] = weakref.WeakKeyDictionary()
_tokens_lock = threading.Lock()
_moto_response = DynamoHandler.transact_write_items


def transact_write_items_response(self: DynamoHandler) -> ActionResult:
    """moto's TransactWriteItems response, honouring ClientRequestToken as DynamoDB does."""
    token = self.body.get("ClientRequestToken")
    if token is None:
        return _moto_response(self)
    request = {name: value for name, value in self.body.items() if name != "ClientRequestToken"}
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    key = str(token)
    now = time.monotonic()
    with _tokens_lock:
        tokens = _tokens.setdefault(self.dynamodb_backend, {})
        for expired in [k for k, (_, at) in tokens.items() if now - at > TOKEN_LIFETIME]:
            del tokens[expired]
        seen = tokens.get(key)
    if seen is not None:
        if seen[0] != fingerprint:
            raise IdempotentParameterMismatchException()
        return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
    result = _moto_response(self)
    with _tokens_lock:
        _tokens.setdefault(self.dynamodb_backend, {})[key] = (fingerprint, now)
    return result


def apply() -> None:
    """Install both corrections into moto (idempotent)."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = transact_write_items_response  # type: ignore[method-assign]
