"""Uploads: the API's upload tickets, bucket change events, and the metadata kept per object."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from src.models.common import Timestamp, omit_none

UPLOADS_PREFIX = "uploads/"
THUMBNAILS_PREFIX = "thumbnails/"
# A presigned URL is good for 15 minutes at most (the contract's limit).
UPLOAD_URL_SECONDS = 900

IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
JSON_TYPES = {"application/json"}
# What clients may upload; anything else is refused before a URL is issued.
UPLOAD_CONTENT_TYPES = Literal[
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "application/json",
    "text/plain",
    "text/csv",
    "application/pdf",
]

# A file name, not a path: no separators, no control characters, no leading dot.
Filename = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=200,
        pattern=r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]*$",
    ),
    Field(examples=["holiday.png"]),
]


class UploadRequest(BaseModel):
    """Body of `POST /uploads`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    filename: Filename
    contentType: UPLOAD_CONTENT_TYPES


class UploadTicket(BaseModel):
    """Where and how to upload: PUT the bytes to `uploadUrl` with the same Content-Type."""

    model_config = ConfigDict(defer_build=True)

    key: str = Field(examples=["uploads/3f1c2a9e8d4b4a519a430c6f1e2b7d10/holiday.png"])
    uploadUrl: str
    expiresIn: int = Field(description="Seconds the URL stays valid", examples=[900])


class ChangeKind(StrEnum):
    CREATED = "created"
    REMOVED = "removed"


class ObjectChange(BaseModel):
    """One bucket notification record, decoded: the key is URL-decoded already."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: ChangeKind
    bucket: str
    key: str
    etag: str | None = None
    # S3's sequencer: hex digits, compared after right-padding (at most 64 stored).
    sequencer: str = Field(pattern=r"^[0-9A-Fa-f]{1,64}$")

    @property
    def object_key(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class ProcessingStatus(StrEnum):
    PROCESSED = "processed"
    INVALID = "invalid"  # the content is not what it claims to be
    SKIPPED = "skipped"  # not processed on purpose (too large), with the reason


class UploadMetadata(BaseModel):
    """The metadata item kept for each object under uploads/."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    objectKey: str
    bucket: str
    key: str
    size: int
    contentType: str
    lastModified: Timestamp
    processedAt: Timestamp
    status: ProcessingStatus
    reason: str | None = Field(default=None, exclude_if=omit_none)
    recordCount: int | None = Field(default=None, exclude_if=omit_none)
    width: int | None = Field(default=None, exclude_if=omit_none)
    height: int | None = Field(default=None, exclude_if=omit_none)
    thumbnailKey: str | None = Field(default=None, exclude_if=omit_none)
