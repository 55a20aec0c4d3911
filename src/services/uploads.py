"""Uploads: keeping the metadata table in step with the bucket. Upload URLs are issued by
src.services.tickets.

For each bucket event on an object under uploads/:
- created: read the object as the event saw it (If-Match on its ETag; gone or changed means a
  later event will do the work), analyse it, store a thumbnail for images under thumbnails/
  (never uploads/, so it cannot trigger the function), then write the metadata if the event is
  newer than what the table holds. A thumbnail that lost to a newer event is deleted, and so are
  thumbnails of versions the new one replaced.
- removed: delete the metadata, leaving a tombstone, if the event is newer; then the object's
  thumbnails.

Thumbnails are named by their event's sequencer, and a cleanup deletes only thumbnails of events
older than its own. The table only moves forward, so once an event is recorded no older event's
thumbnail can be the one it names: two versions processed at the same moment never delete each
other's (a newer version's thumbnail may be written, or even recorded, before the older version
cleans up).

Transient AWS errors propagate: Lambda retries the event, and every step is idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, Protocol

from src.core.clock import utc_now
from src.models.objects import (
    IMAGE_TYPES,
    JSON_TYPES,
    SEQUENCER_WIDTH,
    THUMBNAILS_PREFIX,
    UPLOADS_PREFIX,
    ChangeKind,
    ObjectChange,
    ProcessingStatus,
    UploadMetadata,
    normalise_sequencer,
)
from src.repositories.uploads import NotRecorded, StoredObject
from src.services.content import (
    MAX_IMAGE_BYTES,
    MAX_JSON_BYTES,
    Analysis,
    analyse_image,
    count_json_records,
)

# S3's limit on keys, and the longest file name a thumbnail gets: its event's sequencer (at most
# SEQUENCER_WIDTH hex digits) and an extension.
MAX_KEY_BYTES = 1024
LONGEST_THUMBNAIL_NAME = SEQUENCER_WIDTH + len(".jpeg")


class ChangeOutcome(StrEnum):
    RECORDED = "recorded"
    FAILED = "failed"  # recorded as a file that can never be processed
    REMOVED = "removed"
    STALE = "stale"  # older than what is recorded, or the object changed since: nothing to do
    IGNORED = "ignored"  # not under uploads/, or not in this service's bucket


class MetadataStore(Protocol):
    def get(self, object_key: str) -> UploadMetadata | None: ...
    def record(self, metadata: UploadMetadata, position: str) -> NotRecorded | None: ...
    def record_removal(self, change: ObjectChange, now: datetime) -> bool: ...


class Objects(Protocol):
    @property
    def bucket(self) -> str: ...
    def open(self, bucket: str, key: str, etag: str | None) -> StoredObject | None: ...
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def children(self, prefix: str) -> list[str]: ...


class UploadProcessor:
    def __init__(
        self,
        objects: Objects,
        metadata: MetadataStore,
        *,
        image_memory: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`image_memory`: the bytes one image's processing may take (content.image_memory)."""
        self._objects = objects
        self._metadata = metadata
        self._image_memory = image_memory
        self._clock = clock

    def apply(self, change: ObjectChange) -> ChangeOutcome:
        if change.bucket != self._objects.bucket or not change.key.startswith(UPLOADS_PREFIX):
            return ChangeOutcome.IGNORED
        if change.kind is ChangeKind.REMOVED:
            return self._remove(change)
        return self._record(change)

    def _record(self, change: ObjectChange) -> ChangeOutcome:
        stored = self._objects.open(change.bucket, change.key, change.etag)
        if stored is None:
            return ChangeOutcome.STALE
        try:
            analysis = self._analyse(change.key, stored)
        finally:
            stored.body.close()
        thumbnail_key = None
        if analysis.thumbnail is not None:
            thumbnail_key = (
                f"{_thumbnail_folder(change.key)}{change.sequencer.upper()}"
                f".{analysis.thumbnail.extension}"
            )
            self._objects.put(
                thumbnail_key, analysis.thumbnail.data, analysis.thumbnail.content_type
            )
        metadata = UploadMetadata(
            objectKey=change.object_key,
            bucket=change.bucket,
            key=change.key,
            size=stored.size,
            contentType=stored.content_type,
            lastModified=stored.last_modified,
            processedAt=self._clock(),
            status=analysis.status,
            reason=analysis.reason,
            recordCount=analysis.record_count,
            width=analysis.width,
            height=analysis.height,
            thumbnailKey=thumbnail_key,
        )
        refused = self._metadata.record(metadata, change.position)
        if refused is None or refused.already_recorded:
            # Thumbnails of versions this one replaced; also when a previous attempt recorded
            # this version and stopped (or lost its response) before getting here.
            self._delete_thumbnails_before(change)
            if refused is not None:
                return ChangeOutcome.STALE
            if analysis.status is ProcessingStatus.INVALID:
                return ChangeOutcome.FAILED
            return ChangeOutcome.RECORDED
        if thumbnail_key is not None and refused.current_thumbnail_key != thumbnail_key:
            self._objects.delete(thumbnail_key)
        return ChangeOutcome.STALE

    def _remove(self, change: ObjectChange) -> ChangeOutcome:
        store = self._metadata
        removed = store.record_removal(change, self._clock())
        if removed or store.get(change.object_key) is None:
            # Also on a duplicate removal: a previous attempt may have stopped before this.
            self._delete_thumbnails_before(change)
        return ChangeOutcome.REMOVED if removed else ChangeOutcome.STALE

    def _delete_thumbnails_before(self, change: ObjectChange) -> None:
        """Delete the object's thumbnails of events older than `change`. A newer event's
        thumbnail stays even when it is not recorded yet: it is that event's to keep or delete.

        One DeleteObject each, not DeleteObjects: a folder holds one thumbnail per version,
        rarely more than two, and a multi-object delete's XML body cannot carry a key with a
        character XML 1.0 forbids (S3 keys may hold any UTF-8), nor does it raise when a key is
        not deleted."""
        folder, position = _thumbnail_folder(change.key), change.position
        for thumbnail_key in self._objects.children(folder):
            if _older_than(thumbnail_key, position):
                self._objects.delete(thumbnail_key)

    def _analyse(self, key: str, stored: StoredObject) -> Analysis:
        """An image or JSON by its declared type; otherwise an image by its content, JSON by a
        `.json` name, anything else stored as it is."""
        claimed = stored.content_type.split(";")[0].strip().lower()
        body: Any = stored.body
        if claimed not in IMAGE_TYPES and claimed not in JSON_TYPES:
            head = body.read(IMAGE_SIGNATURE_BYTES)
            body = _Peeked(head, body)
            claimed = _image_type(head) or (
                "application/json" if PurePosixPath(key).suffix.lower() == ".json" else claimed
            )
        if claimed in JSON_TYPES:
            if stored.size > MAX_JSON_BYTES:
                return _skipped(f"JSON over {MAX_JSON_BYTES // 2**20} MiB: records not counted")
            return count_json_records(body)
        if claimed in IMAGE_TYPES:
            if stored.size > MAX_IMAGE_BYTES:
                return _skipped(f"image over {MAX_IMAGE_BYTES // 2**20} MiB: not processed")
            return analyse_image(body.read(), claimed, memory=self._image_memory)
        return Analysis(ProcessingStatus.PROCESSED)


# The first bytes of each image format (WebP: "RIFF", its size, "WEBP").
IMAGE_SIGNATURE_BYTES = 12
IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def _image_type(head: bytes) -> str | None:
    """The image type the first bytes of a file say it is, if any."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, content_type in IMAGE_SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


class _Peeked:
    """A stream whose first bytes were read to tell its format, read from the start again."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data, self._head = self._head + self._rest.read(), b""
            return bytes(data)
        if not self._head:
            return bytes(self._rest.read(size))
        data, self._head = self._head[:size], self._head[size:]
        return data


def _older_than(thumbnail_key: str, position: str) -> bool:
    """Whether a thumbnail, named by its event's sequencer, is of an event before `position`;
    a name that is no sequencer is not one of ours to order: it stays."""
    try:
        return normalise_sequencer(PurePosixPath(thumbnail_key).stem) < position
    except ValueError:
        return False


def _skipped(reason: str) -> Analysis:
    return Analysis(ProcessingStatus.SKIPPED, reason=reason)


def _thumbnail_folder(key: str) -> str:
    """thumbnails/<key below uploads/>/: one folder per object, one file per version. Keys too
    long for that to fit S3's 1024-byte limit get thumbnails/#sha256/<hash of the key>/."""
    folder = f"{THUMBNAILS_PREFIX}{key[len(UPLOADS_PREFIX) :]}/"
    if len(folder.encode()) + LONGEST_THUMBNAIL_NAME <= MAX_KEY_BYTES:
        return folder
    return f"{THUMBNAILS_PREFIX}#sha256/{hashlib.sha256(key.encode()).hexdigest()}/"
