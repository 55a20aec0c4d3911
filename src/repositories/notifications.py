"""Order notifications on SNS, published in batches (PublishBatch takes up to 10 entries)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from src.models.orders import OrderNotification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

logger = logging.getLogger(__name__)

PUBLISH_BATCH_LIMIT = 10


class SnsNotificationPublisher:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, notifications: Sequence[OrderNotification]) -> set[int]:
        """Publish every notification; return the positions of those that were not published.
        Subscribers can filter on the `type` message attribute."""
        failed: set[int] = set()
        for start in range(0, len(notifications), PUBLISH_BATCH_LIMIT):
            chunk = notifications[start : start + PUBLISH_BATCH_LIMIT]
            entries: list[PublishBatchRequestEntryTypeDef] = [
                {
                    "Id": str(start + offset),
                    "Message": notification.to_json(),
                    "MessageAttributes": {
                        "type": {"DataType": "String", "StringValue": notification.type}
                    },
                }
                for offset, notification in enumerate(chunk)
            ]
            try:
                response = self._client.publish_batch(
                    TopicArn=self._topic_arn, PublishBatchRequestEntries=entries
                )
            except (BotoCoreError, ClientError):
                logger.exception("publishing %d notifications failed", len(chunk))
                failed.update(range(start, start + len(chunk)))
                continue
            for entry in response.get("Failed", []):
                logger.error(
                    "notification not published",
                    extra={"code": entry.get("Code"), "senderFault": entry.get("SenderFault")},
                )
                failed.add(int(entry["Id"]))
        return failed


class NoNotifications:
    """The publisher of a stack without a notification topic: nothing is sent, nothing fails."""

    def publish(self, notifications: Sequence[OrderNotification]) -> set[int]:
        return set()
