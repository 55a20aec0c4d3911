"""SqsHandlerFunction: order events from the order queue, with partial batch failures.

Powertools' BatchProcessor runs each record and reports the failed ones as batchItemFailures, so
one bad record never fails the batch and the handler never raises for bad records. A record
fails when its event cannot apply yet (redelivery resolves it), can never apply (the queue's
redrive moves it to the DLQ after maxReceiveCount receives), or meets an AWS fault. Notifications
for the batch go out together at the end; a record whose notification was not published is
reported failed too, so its redelivery publishes it again.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from src.core.aws import dynamodb_client, sns_client
from src.core.config import OrderConsumerSettings
from src.core.errors import OrderEventNotApplicableYet, OrderEventRejected
from src.core.logging import configure_logging, lambda_entry
from src.core.snapstart import register_restore_hooks
from src.models.orders import OrderNotification, parse_order_message
from src.repositories.notifications import SnsNotificationPublisher
from src.repositories.orders import OrderRepository
from src.services.orders import OrderService

METRICS_NAMESPACE = "UsersService"

settings = OrderConsumerSettings.from_env()
configure_logging(settings.log_level)
logger = logging.getLogger(__name__)
metrics = Metrics(namespace=METRICS_NAMESPACE, service="orders")
metrics.set_default_dimensions(environment=settings.environment)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@functools.cache
def order_service() -> OrderService:
    """The orders service of this execution environment (built on first use, then reused)."""
    topic = settings.notification_topic_arn
    publisher = SnsNotificationPublisher(sns_client(), topic) if topic else None
    return OrderService(OrderRepository(dynamodb_client(), settings.orders_table), publisher)


# One count per outcome, as CloudWatch embedded metric format lines.
METRIC_NAMES = {
    "applied": "OrderEventsApplied",
    "duplicate": "OrderEventsDuplicate",
    "retried": "OrderEventsRetried",
    "rejected": "OrderEventsRejected",
    "unpublished": "OrderNotificationsUnpublished",
}


def _count(outcome: str) -> None:
    metrics.add_metric(name=METRIC_NAMES[outcome], unit=MetricUnit.Count, value=1)


def process_batch(event: dict[str, Any], service: OrderService) -> dict[str, Any]:
    """Apply every record of an SQS event; return the partial batch response."""
    notifications: dict[str, OrderNotification] = {}

    def apply_record(record: SQSRecord) -> None:
        context = {"messageId": record.message_id, "receiveCount": _receive_count(record)}
        try:
            result = service.apply(parse_order_message(record.body))
        except OrderEventRejected as exc:
            _count("rejected")
            logger.warning(
                "order event rejected; it ends in the DLQ", extra={**context, "reason": str(exc)}
            )
            raise
        except OrderEventNotApplicableYet as exc:
            _count("retried")
            logger.info("order event retried later", extra={**context, "reason": str(exc)})
            raise
        except Exception:
            _count("retried")
            logger.exception("order event failed; retried on redelivery", extra=context)
            raise
        _count(result.outcome)
        if result.notification is not None:
            notifications[record.message_id] = result.notification

    with processor(records=event["Records"], handler=apply_record):
        processor.process()
    failures = [entry["itemIdentifier"] for entry in processor.response()["batchItemFailures"]]
    unpublished = service.notify(notifications)
    for message_id in unpublished:
        _count("unpublished")
        logger.warning("notification not published; retried", extra={"messageId": message_id})
    failed = set(failures) | unpublished
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if record["messageId"] in failed
        ]
    }


def _receive_count(record: SQSRecord) -> int | None:
    count = record.attributes.approximate_receive_count
    return int(count) if count else None


register_restore_hooks(order_service, dynamodb_client, sns_client)


@lambda_entry
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_batch(event, order_service())
