"""SqsHandlerFunction: order events from the order queue, with partial batch failures.

Each record is applied on its own and the failed ones are reported as batchItemFailures, so one
bad record never fails the batch and the handler never raises for bad records. A record that can
never apply (invalid, an illegal transition, an eventId reused) is set aside in the DLQ at once
with its reason, and acknowledged; a stale one (its version already passed) is acknowledged. A
record fails when its event cannot apply yet (redelivery resolves it), or meets an AWS fault
(the queue's redrive moves it to the DLQ after maxReceiveCount receives). Notifications for the
batch go out together at the end; a record whose notification was not published is reported
failed too, so its redelivery publishes it again.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from src.core import init_phase  # first of ours: the collector pauses for init
from src.core.aws import dynamodb_client, sns_client, sqs_client
from src.core.config import OrderConsumerSettings
from src.core.errors import OrderEventNotApplicableYet, OrderEventRejected
from src.core.logging import configure_logging, lambda_entry
from src.core.metrics import NAMESPACE, EmbeddedMetrics
from src.models.orders import OrderEvent, OrderNotification, parse_order_message
from src.repositories.dead_letters import SqsDeadLetterQueue
from src.repositories.notifications import NoNotifications, SnsNotificationPublisher
from src.repositories.orders import OrderRepository
from src.services.orders import OrderEventService, Result

settings = OrderConsumerSettings.from_env()
configure_logging(settings.log_level)
logger = logging.getLogger(__name__)
metrics = EmbeddedMetrics(NAMESPACE, {"service": "orders", "environment": settings.environment})


@functools.cache
def order_service() -> OrderEventService:
    """The order events service of this execution environment (built on first use, then
    reused)."""
    topic = settings.notification_topic_arn
    publisher = SnsNotificationPublisher(sns_client(), topic) if topic else NoNotifications()
    return OrderEventService(OrderRepository(dynamodb_client(), settings.orders_table), publisher)


@functools.cache
def dead_letter_queue() -> SqsDeadLetterQueue:
    """The order queue's DLQ, where rejected events are set aside."""
    return SqsDeadLetterQueue(sqs_client(), settings.dead_letter_queue_url)


class DeadLetters(Protocol):
    def set_aside(self, body: str, message_id: str, reason: str, rule: str) -> bool: ...


# One count per outcome, as CloudWatch embedded metric format lines.
METRIC_NAMES = {
    "applied": "OrderEventsApplied",
    "duplicate": "OrderEventsDuplicate",
    "stale": "OrderEventsStale",
    "retried": "OrderEventsRetried",
    "rejected": "OrderEventsRejected",
    "unpublished": "OrderNotificationsUnpublished",
}


def _count(outcome: str) -> None:
    metrics.count(METRIC_NAMES[outcome])


def process_batch(
    event: dict[str, Any], service: OrderEventService, dead_letters: DeadLetters
) -> dict[str, Any]:
    """Apply every record of an SQS event, setting rejected ones aside in `dead_letters`;
    return the partial batch response."""
    records = event["Records"]
    outcomes = _apply_all(records, service)
    notifications: dict[str, OrderNotification] = {}
    failed: set[str] = set()
    for record in records:
        message_id = record["messageId"]
        outcome = outcomes[message_id]
        context = {"messageId": message_id, "receiveCount": _receive_count(record)}
        if isinstance(outcome, OrderEventRejected):
            if not _set_aside(record, outcome, dead_letters, context):
                failed.add(message_id)
            continue
        if isinstance(outcome, Exception):
            failed.add(message_id)
            _report_failure(outcome, context)
            continue
        _count(outcome.outcome)
        if outcome.outcome == "stale":
            logger.info("order event stale; set aside, not applied", extra=context)
        if outcome.notification is not None:
            notifications[message_id] = outcome.notification
    unpublished = service.notify(notifications)
    for message_id in unpublished:
        _count("unpublished")
        logger.warning("notification not published; retried", extra={"messageId": message_id})
    failed |= unpublished
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record in records
            if record["messageId"] in failed
        ]
    }


def _apply_all(
    records: list[dict[str, Any]], service: OrderEventService
) -> dict[str, Result | Exception]:
    """The outcome of each record by message id. Orders are independent, so each order's
    events run in a thread of their own, in batch order: a batch of ten orders takes about one
    DynamoDB round trip instead of ten. Threads only apply; logging and counting stay here."""
    outcomes: dict[str, Result | Exception] = {}
    by_order: dict[str, list[tuple[str, OrderEvent]]] = {}
    for record in records:
        try:
            order_event = parse_order_message(record["body"])
        except Exception as exc:
            outcomes[record["messageId"]] = exc
            continue
        by_order.setdefault(order_event.orderId, []).append((record["messageId"], order_event))

    def apply_in_order(
        events: list[tuple[str, OrderEvent]],
    ) -> list[tuple[str, Result | Exception]]:
        applied: list[tuple[str, Result | Exception]] = []
        for message_id, order_event in events:
            try:
                applied.append((message_id, service.apply(order_event)))
            except Exception as exc:
                applied.append((message_id, exc))
        return applied

    groups = list(by_order.values())
    if len(groups) > 1:
        # Each thread runs in a copy of this invocation's context (its deadline, its log fields).
        contexts = [contextvars.copy_context() for _ in groups]
        results = list(
            _workers().map(
                lambda context, group: context.run(apply_in_order, group), contexts, groups
            )
        )
    else:
        results = [apply_in_order(group) for group in groups]
    for group_outcomes in results:
        outcomes.update(group_outcomes)
    return outcomes


@functools.cache
def _workers() -> ThreadPoolExecutor:
    # As many as the largest batch (template: BatchSize 10) and botocore's connection pool.
    return ThreadPoolExecutor(max_workers=10, thread_name_prefix="order")


def _set_aside(
    record: dict[str, Any],
    rejection: OrderEventRejected,
    dead_letters: DeadLetters,
    context: dict[str, Any],
) -> bool:
    """Send a rejected record to the DLQ with its reason; whether it went."""
    details = {**context, "reason": str(rejection), "rule": rejection.rule}
    if not dead_letters.set_aside(
        record["body"], record["messageId"], str(rejection), rejection.rule
    ):
        _count("retried")
        logger.error("order event rejected but not moved to the DLQ; retried", extra=details)
        return False
    _count("rejected")
    logger.warning("order event rejected; moved to the DLQ", extra=details)
    return True


def _report_failure(exc: Exception, context: dict[str, Any]) -> None:
    if isinstance(exc, OrderEventNotApplicableYet):
        _count("retried")
        logger.info("order event retried later", extra={**context, "reason": str(exc)})
    else:
        _count("retried")
        logger.error("order event failed; retried on redelivery", extra=context, exc_info=exc)


def _receive_count(record: dict[str, Any]) -> int | None:
    count = record.get("attributes", {}).get("ApproximateReceiveCount")
    return int(count) if count else None


# An event the consumer parses while SnapStart's init primes it (no AWS call, no data).
PRIMING_EVENT = '{"type": "order_created", "orderId": "prime", "customerId": "prime"}'


def prime() -> None:
    """SnapStart's init: the service and its clients built, the message parsing run once."""
    order_service()
    dead_letter_queue()
    _ = parse_order_message(PRIMING_EVENT).event_id


init_phase.complete(prime)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return process_batch(event, order_service(), dead_letter_queue())
    finally:
        metrics.flush()
