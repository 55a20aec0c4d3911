"""ApiFunction's /uploads routes: upload tickets, and each upload's status (the bucket's own
function processes the uploads).

A route group (src.handlers.http, Api.include): imported by the first request under /uploads,
so that a cold start serving another path loads neither the upload models nor the S3 client.
"""

from __future__ import annotations

import functools
from http import HTTPStatus

from src.core.aws import dynamodb_client, s3_client
from src.handlers.api_settings import settings
from src.handlers.http import Routes
from src.handlers.idempotency import KeyedRequest, recorded_with
from src.models.uploads import Upload, UploadPath, UploadRequest, UploadTicket
from src.repositories.uploads import MetadataRepository, ObjectStore, TicketRepository
from src.services.tickets import UploadTickets


@functools.cache
def upload_tickets() -> UploadTickets:
    """Upload tickets and the uploads' status, for this execution environment."""
    client = dynamodb_client()
    return UploadTickets(
        ObjectStore(s3_client(), settings.uploads_bucket),
        TicketRepository(client, settings.metadata_table),
        MetadataRepository(client, settings.metadata_table),
    )


routes = Routes(services=upload_tickets)


@routes.post(
    "/uploads",
    status=HTTPStatus.CREATED,
    idempotent=True,
    summary="Get a presigned URL to upload a file",
    tags=("uploads",),
)
def create_upload(body: UploadRequest, idempotency: KeyedRequest | None = None) -> UploadTicket:
    # Under an Idempotency-Key, the response is recorded in the ticket's own transaction.
    return upload_tickets().issue(body, recorded_with(idempotency, HTTPStatus.CREATED))


@routes.get(
    "/uploads/{uploadId}",
    errors=(HTTPStatus.NOT_FOUND,),
    summary="Follow an upload to its result",
    tags=("uploads",),
)
def get_upload(path: UploadPath) -> Upload:
    return upload_tickets().status(path.uploadId)
