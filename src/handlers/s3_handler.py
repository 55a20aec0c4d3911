"""S3HandlerFunction: bucket notifications (ObjectCreated:*, ObjectRemoved:*) for uploads/.

Each record becomes an ObjectChange (key URL-decoded) for the uploads service. Bad content is
recorded, not raised; an AWS fault raises, so that Lambda's asynchronous retries (and, past
them, the on-failure destination in template.yaml) take over. Every step is idempotent, so a
retried event with several records does no harm.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import unquote_plus

from src.core.aws import dynamodb_client, s3_client
from src.core.config import UploadProcessorSettings
from src.core.logging import configure_logging, lambda_entry
from src.core.snapstart import register_restore_hooks
from src.models.uploads import ChangeKind, ObjectChange
from src.repositories.uploads import MetadataRepository, ObjectStore
from src.services.uploads import UploadService

settings = UploadProcessorSettings.from_env()
configure_logging(settings.log_level)
logger = logging.getLogger(__name__)


@functools.cache
def upload_service() -> UploadService:
    """The uploads service of this execution environment (built on first use, then reused)."""
    return UploadService(
        ObjectStore(s3_client(), settings.uploads_bucket),
        MetadataRepository(dynamodb_client(), settings.metadata_table),
    )


def changes(event: dict[str, Any]) -> list[ObjectChange]:
    """The object changes in an S3 notification event (other event kinds are left out).

    The records are read directly rather than through Powertools' S3Event: importing its
    data_classes package loads every event class it knows (23 ms) on top of Powertools'
    own package init (51 ms), and this function needs nothing else from Powertools.
    """
    result = []
    for record in event.get("Records", []):
        name = record.get("eventName", "")
        if name.startswith("ObjectCreated:"):
            kind = ChangeKind.CREATED
        elif name.startswith("ObjectRemoved:"):
            kind = ChangeKind.REMOVED
        else:
            logger.info("event ignored", extra={"eventName": name})
            continue
        s3_object = record["s3"]["object"]
        if not s3_object.get("sequencer"):
            # Without a sequencer the event cannot be ordered against others for the key.
            logger.error("event without a sequencer ignored", extra={"eventName": name})
            continue
        result.append(
            ObjectChange(
                kind=kind,
                bucket=record["s3"]["bucket"]["name"],
                key=unquote_plus(s3_object["key"]),  # S3 sends keys form-encoded ("+": space)
                etag=s3_object.get("eTag"),
                sequencer=s3_object["sequencer"],
            )
        )
    return result


def process_event(event: dict[str, Any], service: UploadService) -> dict[str, Any]:
    outcomes = []
    for change in changes(event):
        outcome = service.apply(change)
        logger.info(
            "object change applied",
            extra={"kind": change.kind, "objectKey": change.object_key, "outcome": outcome},
        )
        outcomes.append({"objectKey": change.object_key, "outcome": outcome.value})
    return {"processed": outcomes}


register_restore_hooks(upload_service, dynamodb_client, s3_client)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_event(event, upload_service())
