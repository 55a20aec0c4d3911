"""Objects in the uploads bucket: the change events the bucket sends, and the metadata item kept
per object. Used by the bucket processor, whose path needs nothing else from the models.

They are dataclasses, filled by the code from S3's own events, so the bucket processor imports
no pydantic.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from src.core.clock import iso_utc

UPLOADS_PREFIX = "uploads/"
THUMBNAILS_PREFIX = "thumbnails/"
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
JSON_TYPES = {"application/json"}
# S3 sequencers are hex strings of varying length, ordered after right-padding the shorter with
# zeros (S3 event docs); stored padded to a fixed width, they compare as strings.
SEQUENCER_WIDTH = 64
SEQUENCER = re.compile(rf"[0-9A-Fa-f]{{1,{SEQUENCER_WIDTH}}}")


def normalise_sequencer(sequencer: str) -> str:
    """The sequencer in a form whose string order is the event order; ValueError for a string
    that is no sequencer."""
    value = sequencer.strip().upper()
    if not SEQUENCER.fullmatch(value):
        raise ValueError(f"not an S3 sequencer: {sequencer!r}")
    return value.ljust(SEQUENCER_WIDTH, "0")


# An upload's ticket lives beside the metadata: objectKey "upload#<uploadId>".
TICKET_PREFIX = "upload#"


def object_key(bucket: str, key: str) -> str:
    """An object's metadata key: s3://bucket/key."""
    return f"s3://{bucket}/{key}"


def upload_id_of(key: str) -> str | None:
    """The upload id of an object key (its folder under uploads/); None for a key without one."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    folder, separator, _ = key[len(UPLOADS_PREFIX) :].partition("/")
    return folder if separator and folder else None


class ChangeKind(StrEnum):
    CREATED = "created"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One bucket notification record, decoded: the key is URL-decoded already. ValueError for
    a sequencer that is not one."""

    kind: ChangeKind
    bucket: str
    key: str
    sequencer: str
    etag: str | None = None

    def __post_init__(self) -> None:
        if not SEQUENCER.fullmatch(self.sequencer):
            raise ValueError("not an S3 sequencer")

    @property
    def object_key(self) -> str:
        return object_key(self.bucket, self.key)

    @property
    def position(self) -> str:
        """Where the event stands in its object's order of events (normalise_sequencer)."""
        return normalise_sequencer(self.sequencer)


class ProcessingStatus(StrEnum):
    PROCESSED = "processed"
    INVALID = "invalid"  # the content is not what it claims to be
    SKIPPED = "skipped"  # not processed on purpose (too large), with the reason


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadMetadata:
    """The metadata item kept for each object under uploads/."""

    objectKey: str
    bucket: str
    key: str
    size: int
    contentType: str
    lastModified: datetime
    processedAt: datetime
    status: ProcessingStatus
    reason: str | None = None
    recordCount: int | None = None
    width: int | None = None
    height: int | None = None
    thumbnailKey: str | None = None

    def to_record(self) -> dict[str, Any]:
        """Plain values to store: timestamps as ISO 8601 UTC strings, unset attributes left out."""
        record = {name: value for name, value in asdict(self).items() if value is not None}
        record["lastModified"] = iso_utc(self.lastModified)
        record["processedAt"] = iso_utc(self.processedAt)
        record["status"] = self.status.value
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> UploadMetadata:
        """The metadata from stored plain values (numbers may come back as Decimal)."""
        numbers = ("size", "recordCount", "width", "height")
        return cls(
            **{
                **record,
                **{name: int(record[name]) for name in numbers if record.get(name) is not None},
                "lastModified": datetime.fromisoformat(record["lastModified"]),
                "processedAt": datetime.fromisoformat(record["processedAt"]),
                "status": ProcessingStatus(record["status"]),
            }
        )
