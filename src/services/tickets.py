"""Upload tickets: where and how a client uploads a file, and where its upload is since. The
bucket's events are processed by src.services.uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from src.core.clock import utc_now
from src.core.errors import UploadNotFound
from src.models.objects import UPLOADS_PREFIX, ProcessingStatus, UploadMetadata, object_key
from src.models.uploads import (
    DOWNLOAD_URL_SECONDS,
    UPLOAD_URL_SECONDS,
    Upload,
    UploadRequest,
    UploadTicket,
)
from src.repositories.uploads import Ticket


class UploadUrls(Protocol):
    @property
    def bucket(self) -> str: ...
    def presign_put(self, key: str, content_type: str, size: int, expires_in: int) -> str: ...
    def presign_get(self, key: str, expires_in: int) -> str: ...


class TicketStore(Protocol):
    def record(
        self, upload_id: str, key: str, content_type: str, now: datetime, also: Sequence[Any] = ()
    ) -> None: ...
    def get(self, upload_id: str, now: datetime) -> Ticket | None: ...


class MetadataReader(Protocol):
    def get(self, object_key: str) -> UploadMetadata | None: ...


class UploadTickets:
    def __init__(
        self,
        urls: UploadUrls,
        tickets: TicketStore,
        metadata: MetadataReader,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._urls = urls
        self._tickets = tickets
        self._metadata = metadata
        self._clock = clock
        self._new_id = new_id

    def issue(
        self, request: UploadRequest, record: Callable[[UploadTicket], Any] | None = None
    ) -> UploadTicket:
        """A presigned PUT for a fresh key under uploads/<uploadId>/ (the client's file name
        kept last), signing the content type and the size, recorded so that the upload can be
        followed. `record` gives a write to make
        with the ticket, atomically (the response's record, for an Idempotency-Key)."""
        upload_id = self._new_id()
        key = f"{UPLOADS_PREFIX}{upload_id}/{request.filename}"
        url = self._urls.presign_put(key, request.contentType, request.size, UPLOAD_URL_SECONDS)
        ticket = UploadTicket(
            uploadId=upload_id,
            key=key,
            uploadUrl=url,
            headers={"Content-Type": request.contentType, "Content-Length": str(request.size)},
            expiresIn=UPLOAD_URL_SECONDS,
        )
        also = () if record is None else (record(ticket),)
        self._tickets.record(upload_id, key, request.contentType, self._clock(), also)
        return ticket

    def status(self, upload_id: str) -> Upload:
        """Where the upload is: pending, processed (with download URLs), failed or removed."""
        now = self._clock()
        ticket = self._tickets.get(upload_id, now)
        if ticket is None:
            raise UploadNotFound(upload_id)
        found = self._metadata.get(object_key(self._urls.bucket, ticket.key))
        if found is None:
            status = "removed" if ticket.removed else "pending"
            return Upload(uploadId=upload_id, key=ticket.key, status=status)
        details: dict[str, Any] = {
            "contentType": found.contentType,
            "size": found.size,
            "lastModified": found.lastModified,
            "processedAt": found.processedAt,
        }
        if found.status is ProcessingStatus.INVALID:
            return Upload(
                uploadId=upload_id, key=ticket.key, status="failed", error=found.reason, **details
            )
        expires_at = now + timedelta(seconds=DOWNLOAD_URL_SECONDS)
        urls: dict[str, Any] = {
            "downloadUrl": self._urls.presign_get(ticket.key, DOWNLOAD_URL_SECONDS),
            "downloadUrlExpiresAt": expires_at,
        }
        if found.thumbnailKey is not None:
            urls["thumbnailUrl"] = self._urls.presign_get(found.thumbnailKey, DOWNLOAD_URL_SECONDS)
            urls["thumbnailUrlExpiresAt"] = expires_at
        return Upload(
            uploadId=upload_id,
            key=ticket.key,
            status="processed",
            recordCount=found.recordCount,
            width=found.width,
            height=found.height,
            **details,
            **urls,
        )
