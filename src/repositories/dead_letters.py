"""Order events set aside in the order queue's dead-letter queue by the consumer itself: a
message that can never apply is sent there at once, its body unchanged, with message attributes
that say why, and then acknowledged (never retried)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

# The message attributes of a set-aside message.
REASON_ATTRIBUTE = "rejectionReason"
RULE_ATTRIBUTE = "rejectionRule"
MESSAGE_ID_ATTRIBUTE = "originalMessageId"
# A reason is cut to this many characters (refusals name at most ten problems).
MAX_REASON_LENGTH = 1000
# What SQS takes in a message attribute's string: its body's characters.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class SqsDeadLetterQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def set_aside(self, body: str, message_id: str, reason: str, rule: str) -> bool:
        """Send the message to the DLQ with its reason; False when it was not sent (the caller
        leaves it on the queue, to be tried again)."""
        try:
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=body,
                MessageAttributes={
                    REASON_ATTRIBUTE: {
                        "DataType": "String",
                        "StringValue": _NOT_SQS_TEXT.sub("?", reason[:MAX_REASON_LENGTH]),
                    },
                    RULE_ATTRIBUTE: {"DataType": "String", "StringValue": rule},
                    MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id},
                },
            )
        except (BotoCoreError, ClientError):
            logger.exception("setting a rejected message aside in the DLQ failed")
            return False
        return True
