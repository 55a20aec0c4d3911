"""Upload tickets: where and how a client uploads a file. The bucket's events are processed by
src.services.uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from src.models.objects import UPLOADS_PREFIX
from src.models.uploads import UPLOAD_URL_SECONDS, UploadRequest, UploadTicket


class UploadUrls(Protocol):
    def presign_put(self, key: str, content_type: str, expires_in: int) -> str: ...


class UploadTickets:
    def __init__(
        self, urls: UploadUrls, *, new_id: Callable[[], str] = lambda: uuid.uuid4().hex
    ) -> None:
        self._urls = urls
        self._new_id = new_id

    def issue(self, request: UploadRequest) -> UploadTicket:
        """A presigned PUT for a fresh key under uploads/ (the client's file name kept last)."""
        key = f"{UPLOADS_PREFIX}{self._new_id()}/{request.filename}"
        url = self._urls.presign_put(key, request.contentType, UPLOAD_URL_SECONDS)
        return UploadTicket(key=key, uploadUrl=url, expiresIn=UPLOAD_URL_SECONDS)
