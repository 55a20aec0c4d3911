"""Uploads through the API: the request for an upload URL, the ticket it gets, and the upload as
`GET /uploads/{uploadId}` follows it. The bucket's own events and metadata are in
src.models.objects."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from src.models.common import (
    BLANK_CLASS,
    INTEGRAL,
    REFUSED_CLASS,
    Timestamp,
    omit_none,
    pattern_rule,
)

# A presigned URL is good for 15 minutes at most (the contract's limit).
UPLOAD_URL_SECONDS = 900

# The largest file a ticket admits, in bytes (50 MiB: what the processor reads into memory to
# decode an image). The presigned PUT signs the exact size, so S3 refuses any other.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

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

# A file name, not a path, checked as sent (the OpenAPI document's pattern is the whole rule):
# no leading dot, no path separator, no blank at either end and no control character or
# bidirectional override anywhere (the characters names are trimmed of and refused).
_NOT_IN_NAME = f"/\\\\{REFUSED_CLASS}"
Filename = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    *pattern_rule(
        f"^[^.{BLANK_CLASS}{_NOT_IN_NAME}](?:[^{_NOT_IN_NAME}]*[^{BLANK_CLASS}{_NOT_IN_NAME}])?$",
        "should be a file name, not a path: no leading dot, no / or \\, no whitespace or"
        " invisible character at either end, no control character or bidirectional override",
    ),
    Field(
        examples=["holiday.png"],
        description=(
            "A file name, not a path: no leading dot, no / or \\, no whitespace or invisible"
            " character at either end, no control character or bidirectional override"
        ),
    ),
]


class UploadRequest(BaseModel):
    """Body of `POST /uploads`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    filename: Filename
    contentType: UPLOAD_CONTENT_TYPES
    size: Annotated[
        StrictInt,
        Field(
            ge=1,
            le=MAX_UPLOAD_BYTES,
            description="The file's size in bytes: the upload URL admits this size only",
            examples=[48213],
        ),
        INTEGRAL,
    ]


# An upload's id: 32 hex digits (a UUID's), the folder of its key under uploads/.
UPLOAD_ID_PATTERN = r"^[0-9a-f]{32}$"
# How long the download and thumbnail URLs of a processed upload stay valid.
DOWNLOAD_URL_SECONDS = 900


class UploadTicket(BaseModel):
    """Where and how to upload: PUT the file to `uploadUrl` with `headers` (its Content-Type
    and Content-Length, both signed: S3 refuses another type or size). Follow the upload at
    `GET /uploads/{uploadId}`."""

    model_config = ConfigDict(defer_build=True)

    uploadId: str = Field(examples=["3f1c2a9e8d4b4a519a430c6f1e2b7d10"])
    key: str = Field(examples=["uploads/3f1c2a9e8d4b4a519a430c6f1e2b7d10/holiday.png"])
    uploadUrl: str
    headers: dict[str, str] = Field(
        description="The headers the PUT must carry, as they are signed",
        examples=[{"Content-Type": "image/png", "Content-Length": "48213"}],
    )
    expiresIn: int = Field(description="Seconds the URL stays valid", examples=[900])


class UploadPath(BaseModel):
    """Path of `/uploads/{uploadId}`."""

    model_config = ConfigDict(defer_build=True)

    uploadId: Annotated[str, StringConstraints(pattern=UPLOAD_ID_PATTERN)] = Field(
        description="`uploadId` of the ticket"
    )


class Upload(BaseModel):
    """An upload and where its processing is: `pending` (ticket issued, nothing processed
    yet), `processed` (its metadata, and presigned GET URLs of the file and, for images, its
    thumbnail), `failed` (the file can never be processed: `error` says why), or `removed`."""

    model_config = ConfigDict(defer_build=True)

    uploadId: str
    key: str
    status: Literal["pending", "processed", "failed", "removed"]
    error: str | None = Field(default=None, exclude_if=omit_none)
    contentType: str | None = Field(default=None, exclude_if=omit_none)
    size: int | None = Field(default=None, exclude_if=omit_none)
    lastModified: Timestamp | None = Field(default=None, exclude_if=omit_none)
    processedAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
    recordCount: int | None = Field(default=None, exclude_if=omit_none)
    width: int | None = Field(default=None, exclude_if=omit_none)
    height: int | None = Field(default=None, exclude_if=omit_none)
    downloadUrl: str | None = Field(default=None, exclude_if=omit_none)
    downloadUrlExpiresAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
    thumbnailUrl: str | None = Field(default=None, exclude_if=omit_none)
    thumbnailUrlExpiresAt: Timestamp | None = Field(default=None, exclude_if=omit_none)
