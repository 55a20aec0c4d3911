"""ApiFunction: the REST API (API Gateway v1 proxy events).

Routes only translate: the validated request into one service call, the result into a response.
Routing, validation errors, error mapping, CORS and 404/405 live in `src.handlers.http`.
"""

from __future__ import annotations

import contextlib
import functools
from http import HTTPStatus
from typing import Any

from src.core import init_phase  # first of ours: the collector pauses for init
from src.core.aws import dynamodb_client, rehearsal
from src.core.errors import NotFound
from src.core.logging import configure_logging, lambda_entry
from src.handlers import docs
from src.handlers.api_settings import settings
from src.handlers.http import Api, Response, Routes
from src.handlers.idempotency import KeyedRequest, recorded_with
from src.models.users import (
    Caller,
    CreateUserRequest,
    ListUsersQuery,
    UpdateUserRequest,
    User,
    UserPage,
    UserPath,
)
from src.repositories.idempotency import IdempotencyRepository
from src.repositories.users import UserRepository
from src.services.users import UserService

configure_logging(settings.log_level)

app = Api(
    title="Users, orders and uploads API",
    version="1.0.0",
    description="Users on DynamoDB, the orders applied from the order queue, and uploads.",
    cors_allow_origin=settings.cors_allow_origin,
)


@functools.cache
def idempotency_records() -> IdempotencyRepository:
    """The Idempotency-Key records of this execution environment."""
    return IdempotencyRepository(dynamodb_client(), settings.idempotency_table)


app.idempotency_store = idempotency_records


@functools.cache
def user_service() -> UserService:
    """The users service of this execution environment (built on first use, then reused)."""
    return UserService(UserRepository(dynamodb_client(), settings.users_table))


# What a client can do next with the user a response returns (OpenAPI links).
USER_LINKS = {
    name: (operation, {"userId": "$response.body#/userId"})
    for name, operation in (
        ("GetUser", "get_user"),
        ("UpdateUser", "update_user"),
        ("DeleteUser", "delete_user"),
    )
}


@app.post(
    "/users",
    status=HTTPStatus.CREATED,
    errors=(HTTPStatus.CONFLICT, HTTPStatus.FORBIDDEN),
    idempotent=True,
    links=USER_LINKS,
    summary="Create a user (administrators)",
    tags=("users",),
)
def create_user(
    caller: Caller, body: CreateUserRequest, idempotency: KeyedRequest | None = None
) -> User:
    # Under an Idempotency-Key, the response is recorded in the user's own transaction.
    return user_service().create_user(caller, body, recorded_with(idempotency, HTTPStatus.CREATED))


@app.get(
    "/users",
    errors=(HTTPStatus.FORBIDDEN,),
    summary="List users, a page at a time (administrators)",
    tags=("users",),
)
def list_users(caller: Caller, query: ListUsersQuery) -> UserPage:
    return user_service().list_users(caller, query.limit, query.lastKey)


@app.get(
    "/users/{userId}",
    errors=(HTTPStatus.NOT_FOUND,),
    summary="Get a user (an administrator any, a user their own)",
    tags=("users",),
)
def get_user(caller: Caller, path: UserPath) -> User:
    return user_service().get_user(caller, path.userId)


@app.put(
    "/users/{userId}",
    errors=(HTTPStatus.NOT_FOUND,),
    links=USER_LINKS,
    summary="Change a user's name or age (an administrator any, a user their own)",
    tags=("users",),
)
def update_user(caller: Caller, path: UserPath, body: UpdateUserRequest) -> User:
    return user_service().update_user(caller, path.userId, body)


@app.delete(
    "/users/{userId}",
    status=HTTPStatus.NO_CONTENT,
    errors=(HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN),
    summary="Delete a user (administrators)",
    tags=("users",),
)
def delete_user(caller: Caller, path: UserPath) -> None:
    user_service().delete_user(caller, path.userId)


@app.get("/openapi.json", documented=False)
def serve_openapi_document() -> Response:
    return Response(HTTPStatus.OK, app.openapi())


@app.get("/docs", documented=False)
def docs_page() -> Response:
    return docs.page(app.title)


@app.get("/docs/{asset}", documented=False)
def docs_asset(path: docs.AssetPath) -> Response:
    found = docs.asset(path.asset)
    if found is None:
        raise NotFound("not found")
    return found


# Orders and uploads are route groups of their own, loaded by the first request under them.
def _orders() -> Routes:
    from src.handlers import api_orders  # noqa: PLC0415 - by the first request under /orders

    return api_orders.routes


def _uploads() -> Routes:
    from src.handlers import api_uploads  # noqa: PLC0415 - by the first request under /uploads

    return api_uploads.routes


app.include("/orders", _orders)
app.include("/uploads", _uploads)


def prime() -> None:
    """SnapStart's init: every service and client built, every route ready to validate, and a
    user read rehearsed (src.core.aws.rehearsal: no AWS call)."""
    idempotency_records()
    app.prime()
    with rehearsal(dynamodb_client()), contextlib.suppress(NotFound):
        user_service().get_user(Caller(admin=True), "prime")


init_phase.complete(prime)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context)
