"""The HTTP edge of the API: a small router for API Gateway REST (v1 proxy) events.

Everything that is the same for every route lives here, once: path matching with 404 and 405,
pydantic validation of path, query and body (400, 413, 415), the domain error -> HTTP status
mapping, 503s with Retry-After when AWS is throttling or failing, 500s that reveal nothing but a
request id, CORS headers on every response and preflights, the Idempotency-Key header of the
routes that take it (src.handlers.idempotency), and the OpenAPI document, generated from the
routes and their models. Why a router of our own: docs/decisions.md, "The API's own router".
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any, TypeVar, get_type_hints
from urllib.parse import unquote

from pydantic import BaseModel, ValidationError

from src.core.aws import is_transient
from src.core.clock import utc_now
from src.core.errors import (
    BodyTooLarge,
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    RequestValidationFailed,
    UnsupportedMediaType,
)
from src.core.logging import current_request_id
from src.handlers import idempotency
from src.models.common import ErrorBody
from src.models.users import Caller

logger = logging.getLogger(__name__)

JSON = "application/json"

# API bodies are small JSON documents; 10 KB leaves room for any valid one.
MAX_BODY_BYTES = 10 * 1024
# What a 503 asks clients to wait: throttling and AWS 5xx clear within seconds.
RETRY_AFTER_SECONDS = 1
# How long a browser may cache a preflight answer, and the request headers it may send.
PREFLIGHT_MAX_AGE_SECONDS = 600
CORS_ALLOW_HEADERS = (
    "Authorization,Content-Type,Idempotency-Key,X-Amz-Date,X-Amz-Security-Token,X-Api-Key"
)
# The response headers a browser script may read besides the simple ones.
CORS_EXPOSE_HEADERS = "Idempotent-Replayed,Retry-After"
# An invocation's deadline when no Lambda context says it (the template's API timeout).
DEFAULT_DEADLINE_MS = 10_000

# The one place where domain errors become HTTP statuses (most specific class first).
STATUS_BY_ERROR: list[tuple[type[DomainError], HTTPStatus]] = [
    (BodyTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (IdempotencyKeyReused, HTTPStatus.UNPROCESSABLE_ENTITY),
    (UnsupportedMediaType, HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (InvalidRequest, HTTPStatus.BAD_REQUEST),
]
# Every route validates its input (400) and reaches AWS, which may fail for a moment (503);
# a route with a body may also meet one too large (413) or not JSON (415).
ALWAYS_DOCUMENTED = (HTTPStatus.BAD_REQUEST, HTTPStatus.SERVICE_UNAVAILABLE)
BODY_DOCUMENTED = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Response:
    """What a route returns when its model is not the whole answer."""

    status: int
    body: Any = None  # a model, a JSON value, or a str sent as it is; None: no body
    content_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)


def error_response(
    status: HTTPStatus,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> Response:
    """An ErrorBody response."""
    body = ErrorBody(error=message, details=details, requestId=request_id)
    return Response(status.value, body, headers=headers or {})


@dataclass(frozen=True, slots=True)
class Route:
    """One method on one path: its endpoint, the models of its input and output, and what the
    OpenAPI document says of it. The endpoint is called with `path=`, `query=` and `body=`, the
    validated models it declares, and returns `response` (a model), None or a Response. The
    models are read from the endpoint's signature (Api.route)."""

    method: str
    path: str  # as OpenAPI writes it: /users/{userId}
    endpoint: Callable[..., Any]
    status: int = HTTPStatus.OK
    path_params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[HTTPStatus, ...] = ()
    # Takes an Idempotency-Key header; the endpoint may take `idempotency`, its KeyedRequest.
    idempotent: bool = False
    takes_idempotency: bool = False
    # The endpoint takes `caller`: who sends the request, from the authorizer's claims.
    takes_caller: bool = False
    # OpenAPI links of the success response: name -> (operationId, parameter -> expression).
    links: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    summary: str | None = None
    tags: tuple[str, ...] = ()
    documented: bool = True
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        # A {name} segment matches one non-empty segment; everything else matches itself.
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))


class Routes:
    """Endpoints, registered by the decorators below: an Api's own, or a group of routes it
    includes (Api.include)."""

    def __init__(self, *, services: Callable[[], object] | None = None) -> None:
        self.routes: list[Route] = []
        # Builds the services of these routes: what SnapStart's init primes besides the models.
        self.services = services

    def route(self, method: str, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        """Register the decorated function as the endpoint of `method` on `path`. Its
        parameters `path`, `query` and `body` name the models of its input; its return type,
        when a model, is the response's."""

        def register(endpoint: Endpoint) -> Endpoint:
            hints = get_type_hints(endpoint)
            returned = hints.get("return")
            response = returned if _is_model(returned) else None
            self.routes.append(
                Route(
                    method,
                    path,
                    endpoint,
                    path_params=hints.get("path"),
                    query=hints.get("query"),
                    body=hints.get("body"),
                    response=response,
                    takes_idempotency="idempotency" in hints,
                    takes_caller="caller" in hints,
                    **options,
                )
            )
            return endpoint

        return register

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("PUT", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("DELETE", path, **options)


@dataclass
class _Group:
    """Routes under a path prefix, in a module of their own that `load` imports on first use."""

    prefix: str
    load: Callable[[], Routes]
    routes: Routes | None = None

    def covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def loaded(self) -> Routes:
        if self.routes is None:
            self.routes = self.load()
        return self.routes


class Api(Routes):
    """The routes of an API and the handling of its events."""

    def __init__(
        self, *, title: str, version: str, description: str, cors_allow_origin: str
    ) -> None:
        super().__init__()
        self.title, self.version, self.description = title, version, description
        self.cors_allow_origin = cors_allow_origin
        self._groups: list[_Group] = []
        self._document: dict[str, Any] | None = None
        # The store of idempotency records (built on first use); None: the header is ignored.
        self.idempotency_store: Callable[[], idempotency.KeyStore] | None = None

    def include(self, prefix: str, load: Callable[[], Routes]) -> None:
        """The routes under `prefix` (the path itself and every path below it) are those `load`
        returns, importing their module: it is called by the first request under `prefix` or
        when every route is needed (the OpenAPI document, priming), so that a request
        elsewhere never loads that module, its models or its services."""
        self._groups.append(_Group(prefix, load))

    def every_route(self) -> list[Route]:
        """The API's own routes, then each included group's, in the order they were included."""
        return self._routes_of(self._groups)

    def _routes_for(self, path: str) -> list[Route]:
        """The routes that may match `path`: the own ones and those of the groups covering it."""
        return self._routes_of(group for group in self._groups if group.covers(path))

    def _routes_of(self, groups: Iterable[_Group]) -> list[Route]:
        return self.routes + [route for group in groups for route in group.loaded().routes]

    # --- events ----------------------------------------------------------------------------
    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The proxy response to an API Gateway REST proxy event (`context`: the Lambda
        context, whose deadline bounds an Idempotency-Key's in-flight mark)."""
        remaining = context.get_remaining_time_in_millis() if context is not None else None
        deadline = utc_now() + timedelta(
            milliseconds=remaining if remaining is not None else DEFAULT_DEADLINE_MS
        )
        try:
            response = self._dispatch(event, deadline)
        except DomainError as exc:
            response = domain_response(exc)
        except Exception as exc:  # every other failure is answered (a 500 or 503), not raised
            response = server_error(exc)
        return self._proxy_response(response)

    def _dispatch(self, event: Mapping[str, Any], deadline: datetime) -> Response:
        # The path as the client sent it, percent-encoded (API Gateway's REST APIs pass it so);
        # each path parameter is its segment decoded, as in the event's pathParameters.
        method, path = str(event.get("httpMethod") or ""), str(event.get("path") or "/")
        matches = [
            (route, found)
            for route in self._routes_for(path)
            if (found := route.pattern.fullmatch(path))
        ]
        if method != "OPTIONS":
            for route, found in matches:
                if route.method == method:
                    parameters = {name: unquote(value) for name, value in found.groupdict().items()}
                    return self._run(route, parameters, event, deadline)
        # A preflight, or a method the path does not take: both answer with the path's methods.
        allowed = sorted({route.method for route, _ in matches} | {"OPTIONS"})
        if method == "OPTIONS":
            return Response(
                HTTPStatus.NO_CONTENT,
                headers={
                    "Access-Control-Allow-Methods": ",".join(allowed),
                    "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                    "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
                },
            )
        if matches:
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"method {method[:20]} not allowed",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(HTTPStatus.NOT_FOUND, "not found")

    def _run(
        self, route: Route, path: dict[str, str], event: Mapping[str, Any], deadline: datetime
    ) -> Response:
        _refuse_other_media_types(event)
        key = idempotency.requested_key(event) if route.idempotent else None
        query = _query(route, event)
        problems: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {}
        if route.takes_caller:
            arguments["caller"] = _caller(event)
        if route.path_params:
            arguments["path"] = _validated(route.path_params, path, "path", problems)
        if route.query:
            arguments["query"] = _validated(route.query, query, "query", problems)
        document = _json_body(event) if route.body else None
        if route.body:
            arguments["body"] = _validated(route.body, document, None, problems)
        if problems:
            raise RequestValidationFailed(problems)
        if key is None or self.idempotency_store is None:
            return self._respond(route, arguments)
        return self._run_keyed(
            route,
            arguments,
            idempotency.KeyedRequest.of(self.idempotency_store(), event, key, document),
            deadline,
        )

    def _run_keyed(
        self,
        route: Route,
        arguments: dict[str, Any],
        request: idempotency.KeyedRequest,
        deadline: datetime,
    ) -> Response:
        """The route under an Idempotency-Key: run once, its answer kept for the repeats."""
        kept = request.claim(utc_now(), deadline)
        if kept is not None:
            return Response(
                kept.status,
                kept.body,
                kept.content_type,
                {idempotency.REPLAYED_HEADER: "true"},
            )
        if route.takes_idempotency:
            arguments = {**arguments, "idempotency": request}
        try:
            response = self._respond(route, arguments)
        except DomainError as exc:
            response = domain_response(exc)
            request.finish(response.status, *_body_text(response), succeeded=False)
            return response
        except Exception:
            request.abandon()
            raise
        request.finish(response.status, *_body_text(response), succeeded=True)
        return response

    def _respond(self, route: Route, arguments: dict[str, Any]) -> Response:
        result = route.endpoint(**arguments)
        if isinstance(result, Response):
            return result
        expected = route.response or type(None)
        if not isinstance(result, expected):
            # A server bug, whatever the client sent: a logged 500.
            raise TypeError(
                f"{route.endpoint.__name__} returned {type(result).__name__}, "
                f"not {expected.__name__}"
            )
        return Response(route.status, result)

    def _proxy_response(self, response: Response) -> dict[str, Any]:
        headers = {
            "Access-Control-Allow-Origin": self.cors_allow_origin,
            "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS,
            **response.headers,
        }
        text, content_type = _body_text(response)
        if response.body is not None:
            headers["Content-Type"] = content_type
        return {
            "statusCode": int(response.status),
            "headers": headers,
            "body": text,
            "isBase64Encoded": False,
        }

    # --- OpenAPI ---------------------------------------------------------------------------
    def prime(self) -> None:
        """Build now what the first request would: every route's validators (the models build
        them on first use) and every group's services, the OpenAPI document, and one response
        (a preflight). Nothing reaches AWS or data."""
        for route in self.every_route():
            for model in (route.path_params, route.query, route.body, route.response):
                if model is not None:
                    model.model_rebuild(force=True)
        for group in self._groups:
            services = group.loaded().services
            if services is not None:
                services()
        self.openapi()
        self.handle({"httpMethod": "OPTIONS", "path": "/", "headers": {}})

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the documented routes (built once, on first use)."""
        if self._document is None:
            self._document = _openapi_document(self)
        return self._document


def _body_text(response: Response) -> tuple[str, str]:
    """The response's body as sent, and its content type."""
    body = response.body
    if body is None:
        return "", response.content_type
    if isinstance(body, BaseModel):
        return body.model_dump_json(), response.content_type
    if isinstance(body, str):
        return body, response.content_type
    return json.dumps(body, separators=(",", ":")), response.content_type


def domain_response(exc: DomainError) -> Response:
    """The one mapping of a refusal to its HTTP status (STATUS_BY_ERROR)."""
    status = next(
        (status for kind, status in STATUS_BY_ERROR if isinstance(exc, kind)),
        HTTPStatus.BAD_REQUEST,
    )
    return error_response(status, str(exc), exc.details, exc.headers)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def server_error(exc: Exception) -> Response:
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


def _query(route: Route, event: Mapping[str, Any]) -> dict[str, str]:
    """The query's parameters, each given once and each one the route declares."""
    query: dict[str, str] = dict(event.get("queryStringParameters") or {})
    # API Gateway keeps the last of a repeated parameter there; each takes one value.
    repeated = sorted(
        name
        for name, values in (event.get("multiValueQueryStringParameters") or {}).items()
        if len(values) > 1
    )
    if repeated:
        raise InvalidRequest(f"query parameter given more than once: {', '.join(repeated)[:200]}")
    declared = route.query.model_fields if route.query else {}
    unknown = sorted(set(query) - set(declared))
    if unknown:
        raise InvalidRequest(f"unknown query parameter: {', '.join(unknown)[:200]}")
    return query


def _caller(event: Mapping[str, Any]) -> Caller:
    """Who sends the request, by the claims of the token API Gateway's authorizer checked."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return Caller.from_claims(authorizer.get("claims"))


def _refuse_other_media_types(event: Mapping[str, Any]) -> None:
    """A body that is not declared JSON is a 415: forms, multipart and plain-text bodies (or a
    body of no declared type) are what a browser may send across origins without a CORS
    preflight, so accepting them would open the API to CSRF."""
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = str(headers.get("content-type") or "").split(";")[0].strip().lower()
    if event.get("body") and content_type != JSON and not content_type.endswith("+json"):
        raise UnsupportedMediaType(JSON)


# What _json_body gives for a body that is absent or empty, and for one that is not JSON.
_MISSING = object()
_NOT_JSON = object()


def _json_body(event: Mapping[str, Any]) -> Any:
    """The body's JSON document, _MISSING or _NOT_JSON; InvalidRequest for a body that is not
    UTF-8, BodyTooLarge for one too large."""
    body = event.get("body")
    if body is None or body == "":
        return _MISSING
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidRequest("body is not valid UTF-8 text") from exc
    # surrogatepass: a lone surrogate is a JSON error below, not a crash here.
    if len(str(body).encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BodyTooLarge(MAX_BODY_BYTES)
    try:
        # Numbers exact: 1e-400 is a fraction to refuse, not the 0.0 a float rounds it to, and
        # an integer of 5,000 digits a value its field refuses, not an error of the parser.
        return json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _validated(
    model: type[BaseModel], values: Any, location: str | None, problems: list[dict[str, Any]]
) -> BaseModel | None:
    """`values` as `model`; None, with what is wrong added to `problems`, when they are not.
    The offending input is not echoed back: it may be large or personal."""
    prefix = [location] if location else []
    if values is _MISSING:
        problems.append({"loc": prefix, "msg": "a JSON body is required", "type": "missing"})
        return None
    if values is _NOT_JSON:
        problems.append({"loc": prefix, "msg": "body is not valid JSON", "type": "json_invalid"})
        return None
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems.extend(
            {"loc": [*prefix, *error["loc"]], "msg": _message(error), "type": error["type"]}
            for error in exc.errors(include_input=False, include_url=False)
        )
        return None


def _message(error: Any) -> str:
    """A validation error in the contract's words: pydantic names Python's types and its own
    prefixes, which a client of a JSON API has no use for."""
    if error["type"] == "model_type":
        return "should be a JSON object"
    return str(error["msg"]).removeprefix("Value error, ")


def _openapi_document(api: Api) -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema  # noqa: PLC0415 - /openapi.json only

    routes = [route for route in api.every_route() if route.documented]
    inputs = {route.body for route in routes if route.body}
    outputs = {route.response for route in routes if route.response} | {ErrorBody}
    refs, definitions = models_json_schema(
        [(model, "validation") for model in inputs]
        + [(model, "serialization") for model in outputs],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "tags": list(route.tags),
            "summary": route.summary,
            "operationId": route.endpoint.__name__,
        }
        parameters = [
            *_parameters(route.path_params, "path"),
            *_parameters(route.query, "query"),
            *([idempotency.HEADER_PARAMETER] if route.idempotent else []),
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            operation["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": refs[(route.body, "validation")]}},
            }
        success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
        if route.response:
            success["content"] = {JSON: {"schema": refs[(route.response, "serialization")]}}
        if route.links:
            success["links"] = {
                name: {"operationId": operation_id, "parameters": dict(parameters)}
                for name, (operation_id, parameters) in route.links.items()
            }
        if route.idempotent:
            success["headers"] = idempotency.SUCCESS_HEADERS
        error = {JSON: {"schema": refs[(ErrorBody, "serialization")]}}
        statuses = tuple(
            dict.fromkeys(
                (
                    *route.errors,
                    *(idempotency.DOCUMENTED if route.idempotent else ()),
                    *(BODY_DOCUMENTED if route.body else ()),
                    *ALWAYS_DOCUMENTED,
                )
            )
        )
        operation["responses"] = {
            str(int(route.status)): success,
            **{
                str(status.value): {"description": status.phrase, "content": error}
                for status in statuses
            },
        }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": api.title, "description": api.description, "version": api.version},
        # Relative to the document's own URL, so "try it out" calls this API under its stage
        # prefix (/v1) as well as at the root of the local stack.
        "servers": [{"url": ".", "description": "this API"}],
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {})},
    }


def _parameters(model: type[BaseModel] | None, location: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": location,
            "required": location == "path" or name in required,
            "description": prop.get("description"),
            "schema": prop,
        }
        for name, prop in schema["properties"].items()
    ]
