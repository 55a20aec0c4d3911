"""The HTTP edge of the API: the Powertools resolver with the service's conventions.

Everything that is the same for every route lives here, once: the domain error -> HTTP status
mapping, validation errors as 400, a body size limit, 404/405 for unknown paths and methods,
503s with Retry-After when AWS is throttling or failing, 500s that reveal nothing but a request
id, and CORS headers on every response.
"""

from __future__ import annotations

import binascii
import json
import logging
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from src.core.aws import is_transient
from src.core.errors import Conflict, DomainError, InvalidRequest, NotFound
from src.core.logging import current_request_id
from src.models.common import ErrorBody

logger = logging.getLogger(__name__)

JSON = "application/json"

# API bodies are small JSON documents; 10 KB leaves room for any valid one.
MAX_BODY_BYTES = 10 * 1024
# What a 503 asks clients to wait: throttling and AWS 5xx clear within seconds.
RETRY_AFTER_SECONDS = 1

# The one place where domain errors become HTTP statuses (most specific class first).
STATUS_BY_ERROR: list[tuple[type[DomainError], HTTPStatus]] = [
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (InvalidRequest, HTTPStatus.BAD_REQUEST),
]


class BodyTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


def error_response(
    status: HTTPStatus,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> Response[Any]:
    """An ErrorBody response."""
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    if request_id is not None:
        body["requestId"] = request_id
    return Response(
        status_code=status.value,
        content_type=JSON,
        body=body,
        headers=headers,
    )


def _limited_json_loads(body: str) -> Any:
    # surrogatepass: a lone surrogate is a JSON error, reported as such below, not a crash here.
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BodyTooLarge
    return json.loads(body)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is not echoed back: it may be large or personal.
    return [
        {
            "loc": [part for part in error.get("loc", ()) if part != "body"],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]


def create_resolver(cors_allow_origin: str) -> APIGatewayRestResolver:
    """A REST (v1 proxy) resolver with validation, OpenAPI and this service's error mapping."""
    app = APIGatewayRestResolver(
        cors=CORSConfig(allow_origin=cors_allow_origin, max_age=600),
        enable_validation=True,
        # A response that breaks its own model is a server bug: raise ResponseValidationError
        # (a logged 500 below), not the request-validation error Powertools raises by default.
        response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        json_body_deserializer=_limited_json_loads,
    )

    @app.exception_handler(DomainError)
    def domain_error(exc: DomainError) -> Response[Any]:
        status = next(
            (status for kind, status in STATUS_BY_ERROR if isinstance(exc, kind)),
            HTTPStatus.BAD_REQUEST,
        )
        return error_response(status, str(exc))

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[Any]:
        return error_response(
            HTTPStatus.BAD_REQUEST, "request validation failed", _validation_details(exc)
        )

    @app.exception_handler(BodyTooLarge)
    def body_too_large(_: BodyTooLarge) -> Response[Any]:
        return error_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes"
        )

    @app.exception_handler([binascii.Error, UnicodeError])
    def undecodable_body(_: Exception) -> Response[Any]:
        return error_response(HTTPStatus.BAD_REQUEST, "body is not valid UTF-8 text")

    @app.not_found
    def unknown_route(_: NotFoundError) -> Response[Any]:
        allowed = _methods_for(app, app.current_event.path)
        if allowed:
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"method {app.current_event.http_method} not allowed",
                headers={"Allow": ", ".join(sorted(allowed | {"OPTIONS"}))},
            )
        return error_response(HTTPStatus.NOT_FOUND, "not found")

    app.exception_handler(Exception)(server_error)
    # Powertools runs its request validation before any middleware of ours; these checks must
    # come first (its parsing of a multipart body without a boundary raises a bare ValueError).
    validation = app._request_validation_middleware

    def checked_then_validated(
        app: APIGatewayRestResolver, next_middleware: NextMiddleware
    ) -> Response[Any]:
        return _refused(app) or validation(app, next_middleware)

    app._request_validation_middleware = checked_then_validated  # type: ignore[assignment]
    return app


def _refused(app: APIGatewayRestResolver) -> Response[Any] | None:
    """The response to a request refused before validation, or None to go on.

    - A body that is not JSON is a 415: forms and multipart bodies are what a browser may send
      across origins without a CORS preflight, so accepting them would open the API to CSRF.
    - Query parameters the route does not declare are a 400, as unknown body fields are: a
      misspelt `limt=5` must not silently mean the default. Powertools keeps the matched route,
      with its declared parameters, in the resolver's context.
    """
    event = app.current_event
    content_type = (event.headers.get("content-type") or JSON).split(";")[0].strip().lower()
    if event.body and content_type != JSON and not content_type.endswith("+json"):
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"send the body as {JSON}")
    route = app.context.get("_route")
    declared = {param.alias for param in route.dependant.query_params} if route else set()
    unknown = sorted(set(event.query_string_parameters or {}) - declared)
    if unknown:
        return error_response(
            HTTPStatus.BAD_REQUEST, f"unknown query parameter: {', '.join(unknown)[:200]}"
        )
    return None


def server_error(exc: Exception) -> Response[Any]:
    """The response to an error no route expects: 503 with Retry-After when AWS is throttling or
    failing for a moment, else a 500 carrying only the request id (the stack goes to the log)."""
    if is_transient(exc):
        logger.warning("AWS unavailable", exc_info=exc)
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "service temporarily unavailable; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            request_id=current_request_id(),
        )
    logger.exception("unhandled error")
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal server error",
        request_id=current_request_id(),
    )


def responses(
    success: int, model: type[Any] | None, *errors: HTTPStatus
) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route: its success response and the errors it can answer with."""
    documented: dict[int, OpenAPIResponse] = {
        success: {"description": HTTPStatus(success).phrase}
        if model is None
        else {"description": HTTPStatus(success).phrase, "content": {JSON: {"model": model}}}
    }
    # Every route validates its parameters (400), and reaches AWS, which may be throttling or
    # failing for a moment (503).
    for status in (*errors, HTTPStatus.BAD_REQUEST, HTTPStatus.SERVICE_UNAVAILABLE):
        documented[status.value] = {
            "description": status.phrase,
            "content": {JSON: {"model": ErrorBody}},
        }
    return documented


def openapi_document(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The OpenAPI document of `app`, without the 422 responses Powertools adds for validation:
    this API answers invalid requests with 400 (documented per route)."""
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema())
    # Relative to the document's own URL, so "try it out" calls this API under its stage
    # prefix (/v1) as well as at the root of the local stack.
    document["servers"] = [{"url": ".", "description": "this API"}]
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            documented = operation.get("responses", {})
            documented.pop("422", None)  # this API answers 400
            documented.pop("500", None)  # Powertools' response-validation schema, not ours
            if "204" in documented:
                documented["204"].pop("content", None)  # No Content means no body, not null
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


def _methods_for(app: APIGatewayRestResolver, path: str) -> set[str]:
    """Methods registered for `path`. Powertools answers 404 for a known path with another
    method; the HTTP contract wants 405 with `Allow`, so look the path up in its route table
    (a private attribute of the pinned Powertools version; tests cover it)."""
    routes = app._static_routes + app._dynamic_routes
    return {route.method for route in routes if route.rule.match(path)}


def with_cors_origin(response: dict[str, Any], allow_origin: str) -> dict[str, Any]:
    """Powertools adds CORS headers only when the request carries an Origin; the contract wants
    them on every response, so fill in the configured origin where none was set."""
    headers = response.setdefault("multiValueHeaders", {})
    if "Access-Control-Allow-Origin" not in headers and "Access-Control-Allow-Origin" not in (
        response.get("headers") or {}
    ):
        headers["Access-Control-Allow-Origin"] = [allow_origin]
    return response
