"""ApiFunction: the REST API (API Gateway v1 proxy events).

Routes only translate: the request into a model, one service call, the result into a response.
Error mapping, validation errors, CORS and 404/405 live in `src.handlers.http`.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from src.core.aws import dynamodb_client, s3_client, ssm_client
from src.core.config import ApiSettings
from src.core.errors import NotFound
from src.core.logging import configure_logging, lambda_entry
from src.core.snapstart import register_restore_hooks
from src.handlers import docs
from src.handlers.http import create_resolver, openapi_document, responses, with_cors_origin
from src.models.orders import Order
from src.models.uploads import UploadRequest, UploadTicket
from src.models.users import CreateUserRequest, UpdateUserRequest, User, UserPage
from src.repositories.orders import OrderRepository
from src.repositories.parameters import SecureStringKeys
from src.repositories.uploads import ObjectStore
from src.repositories.users import UserRepository
from src.services.cursors import PageCursors
from src.services.orders import OrderService
from src.services.uploads import UploadService
from src.services.users import UserService

settings = ApiSettings.from_env()
configure_logging(settings.log_level)

app = create_resolver(settings.cors_allow_origin)
app.configure_openapi(
    title="Users, orders and uploads API",
    version="1.0.0",
    description="Users on DynamoDB, the orders applied from the order queue, and uploads.",
)


@functools.cache
def user_service() -> UserService:
    """The users service of this execution environment (built on first use, then reused)."""
    keys = SecureStringKeys(ssm_client, settings.cursor_key_parameter)
    return UserService(UserRepository(dynamodb_client(), settings.users_table), PageCursors(keys))


@functools.cache
def order_service() -> OrderService:
    """Orders, read-only here: the queue consumer writes them."""
    return OrderService(OrderRepository(dynamodb_client(), settings.orders_table), publisher=None)


@functools.cache
def upload_service() -> UploadService:
    """Upload tickets only: the bucket's own function processes the uploads."""
    return UploadService(ObjectStore(s3_client(), settings.uploads_bucket), metadata=None)


Users = Annotated[UserService, Depends(user_service)]
Orders = Annotated[OrderService, Depends(order_service)]
Uploads = Annotated[UploadService, Depends(upload_service)]
UserId = Annotated[str, Path(min_length=1, max_length=128, description="The user's id")]


@app.post(
    "/users",
    status_code=201,
    summary="Create a user",
    tags=["users"],
    responses=responses(
        201,
        User,
        HTTPStatus.CONFLICT,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    ),
)
def create_user(request: Annotated[CreateUserRequest, Body()], users: Users) -> User:
    return users.create_user(request)


@app.get(
    "/users",
    summary="List users, a page at a time",
    tags=["users"],
    responses=responses(200, UserPage),
)
def list_users(
    users: Users,
    limit: Annotated[int, Query(ge=1, le=100, description="Users per page")] = 20,
    lastKey: Annotated[
        str | None,
        Query(max_length=1024, description="`nextKey` of the previous page"),
    ] = None,
) -> UserPage:
    return users.list_users(limit, lastKey)


@app.get(
    "/users/<userId>",
    summary="Get a user",
    tags=["users"],
    responses=responses(200, User, HTTPStatus.NOT_FOUND),
)
def get_user(userId: UserId, users: Users) -> User:
    return users.get_user(userId)


@app.put(
    "/users/<userId>",
    summary="Change a user's name or age",
    tags=["users"],
    responses=responses(
        200,
        User,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    ),
)
def update_user(
    userId: UserId,
    request: Annotated[UpdateUserRequest, Body()],
    users: Users,
) -> User:
    return users.update_user(userId, request)


@app.delete(
    "/users/<userId>",
    status_code=204,
    summary="Delete a user",
    tags=["users"],
    responses=responses(204, None, HTTPStatus.NOT_FOUND),
)
def delete_user(userId: UserId, users: Users) -> Response[None]:
    users.delete_user(userId)
    return Response(status_code=204, body=None)


@app.get(
    "/orders/<orderId>",
    summary="Get an order",
    tags=["orders"],
    responses=responses(200, Order, HTTPStatus.NOT_FOUND),
)
def get_order(
    orderId: Annotated[str, Path(min_length=1, max_length=128, description="The order's id")],
    orders: Orders,
) -> Order:
    return orders.get_order(orderId)


@app.post(
    "/uploads",
    status_code=201,
    summary="Get a presigned URL to upload a file",
    tags=["uploads"],
    responses=responses(
        201, UploadTicket, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    ),
)
def create_upload(request: Annotated[UploadRequest, Body()], uploads: Uploads) -> UploadTicket:
    return uploads.issue_ticket(request)


@app.get("/openapi.json", include_in_schema=False)
def serve_openapi_document() -> Response[Any]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=openapi_document(app),
    )


@app.get("/docs", include_in_schema=False)
def docs_page() -> Response[Any]:
    return docs.page(app.openapi_config.title)


@app.get("/docs/<asset>", include_in_schema=False)
def docs_asset(asset: str) -> Response[Any]:
    found = docs.asset(asset)
    if found is None:
        raise NotFound("not found")
    return found


register_restore_hooks(
    user_service, order_service, upload_service, dynamodb_client, s3_client, ssm_client
)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return with_cors_origin(app.resolve(event, context), settings.cors_allow_origin)
