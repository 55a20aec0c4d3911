"""S3HandlerFunction: bucket notifications (ObjectCreated:*, ObjectRemoved:*) for uploads/.

Each record becomes an ObjectChange (key URL-decoded) for the upload processor. Bad content is
recorded, not raised; an AWS fault raises, so that Lambda's asynchronous retries (and, past
them, the on-failure destination in template.yaml) take over. Every step is idempotent, so a
retried event with several records does no harm.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from typing import Any
from urllib.parse import unquote_plus

from src.core import init_phase  # first of ours: the collector pauses for init
from src.core.aws import dynamodb_client, s3_client
from src.core.config import UploadProcessorSettings
from src.core.logging import configure_logging, lambda_entry
from src.core.metrics import NAMESPACE, EmbeddedMetrics
from src.models.objects import ChangeKind, ObjectChange, upload_id_of
from src.repositories.uploads import MetadataRepository, ObjectStore
from src.services import content
from src.services.uploads import ChangeOutcome, UploadProcessor

settings = UploadProcessorSettings.from_env()
configure_logging(settings.log_level)
logger = logging.getLogger(__name__)
metrics = EmbeddedMetrics(NAMESPACE, {"service": "uploads", "environment": settings.environment})
# One count per outcome, as CloudWatch embedded metric format lines.
METRIC_NAMES = {
    ChangeOutcome.RECORDED: "UploadsProcessed",
    ChangeOutcome.FAILED: "UploadsFailed",
    ChangeOutcome.REMOVED: "UploadsRemoved",
    ChangeOutcome.STALE: "UploadEventsStale",
    ChangeOutcome.IGNORED: "UploadEventsIgnored",
}


@functools.cache
def upload_processor() -> UploadProcessor:
    """The upload processor of this execution environment (built on first use, then reused)."""
    return UploadProcessor(
        ObjectStore(s3_client(), settings.uploads_bucket),
        MetadataRepository(dynamodb_client(), settings.metadata_table),
        image_memory=content.image_memory(settings.aws_lambda_function_memory_size),
    )


def changes(event: dict[str, Any]) -> list[ObjectChange]:
    """The object changes in an S3 notification event's records, read as S3 documents them;
    other event kinds are left out."""
    records = event.get("Records") if isinstance(event, dict) else None
    result = []
    for record in records if isinstance(records, list) else []:
        change = _object_change(record)
        if change is not None:
            result.append(change)
    return result


def _object_change(record: Any) -> ObjectChange | None:
    """One record as an ObjectChange; None (logged) for records that are not one. S3 sends no
    malformed records: one here came from elsewhere, and no retry would make it valid."""
    name = record.get("eventName") if isinstance(record, dict) else None
    if not isinstance(name, str) or not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
        logger.info("event ignored", extra={"eventName": str(name)[:100]})
        return None
    kind = ChangeKind.CREATED if name.startswith("ObjectCreated:") else ChangeKind.REMOVED
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    s3_object = s3.get("object") if isinstance(s3, dict) else None
    if not (
        isinstance(bucket, dict)
        and isinstance(bucket.get("name"), str)
        and isinstance(s3_object, dict)
        and isinstance(s3_object.get("key"), str)
    ):
        logger.error("malformed S3 record ignored", extra={"eventName": name})
        return None
    etag, sequencer = s3_object.get("eTag"), s3_object.get("sequencer")
    try:
        return ObjectChange(
            kind=kind,
            bucket=bucket["name"],
            key=unquote_plus(s3_object["key"]),  # S3 sends keys form-encoded ("+": space)
            etag=etag if isinstance(etag, str) else None,
            sequencer=sequencer if isinstance(sequencer, str) else "",
        )
    except ValueError:
        # Without a sequencer the event cannot be ordered against others for the key.
        logger.error("S3 record without a valid sequencer ignored", extra={"eventName": name})
        return None


def process_event(event: dict[str, Any], service: UploadProcessor) -> dict[str, Any]:
    outcomes = []
    for change in changes(event):
        outcome = service.apply(change)
        logger.info(
            "object change applied",
            extra={"kind": change.kind, **_loggable(change), "outcome": outcome},
        )
        metrics.count(METRIC_NAMES[outcome])
        outcomes.append({"objectKey": change.object_key, "outcome": outcome.value})
    return {"processed": outcomes}


def _loggable(change: ObjectChange) -> dict[str, str]:
    """What a log line says of an object: its upload id (the key's folder under uploads/) and
    a digest of its key, never the key itself, whose file name a person chose."""
    digest = hashlib.sha256(change.object_key.encode()).hexdigest()[:16]
    return {"uploadId": upload_id_of(change.key) or "", "objectKeyDigest": digest}


def prime() -> None:
    """SnapStart's init: the service and its clients built, both decoders run once."""
    upload_processor()
    content.prime()


init_phase.complete(prime)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return process_event(event, upload_processor())
    finally:
        metrics.flush()
