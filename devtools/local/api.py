"""API Gateway for the local stack: routes from the template's Api events, requests turned into
the v1 proxy events API Gateway sends, responses written back as API Gateway does.

The stack has no user pool. A request may name its caller in LOCAL_CALLER_HEADER ("user
<email>" or "administrator <email>"): the gateway then has the pool's token trigger (the
template's own function) make the access token's scopes and claims for that caller, refuses
a method whose scopes the token lacks with API Gateway's 401, and passes the claims to the
function as the authorizer does. A request without it reaches the function with no authorizer,
as on a stack deployed without one."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devtools.lambda_events import load_event
from devtools.local.functions import FunctionPool, InvocationError
from devtools.local.http import HTTPRefusal, Problem, Request, Response, Server, make
from devtools.template import Evaluator, _resolve_conditionals

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")
LOCAL_CALLER_HEADER = "X-Local-Caller"
CALLER_ROLES = {"user": [], "administrator": ["administrators"]}
# The scope every access token of a user pool carries besides those its trigger adds.
COGNITO_SCOPE = "aws.cognito.signin.user.admin"
UNAUTHORIZED = b'{"message":"Unauthorized"}'
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
INTERNAL_ERROR = b'{"message": "Internal server error"}'
# API Gateway's quotas for a REST API: "payload size", "total combined size of request line and
# header values" and "length of the URL for a regional API".
MAX_PAYLOAD = 10 * 2**20
MAX_REQUEST_HEAD = 10_240
MAX_URL = 10_240
# How the gateway words what it refuses in a request's framing (quotas and the server's
# Problems): the status, and the message of its JSON body.
REFUSALS = {
    Problem.MALFORMED: (400, "Bad Request"),
    Problem.TARGET_TOO_LONG: (414, "Request-URI Too Long"),
    Problem.HEADERS_TOO_LARGE: (431, "Request Header Fields Too Large"),
    Problem.ENCODING_NOT_IMPLEMENTED: (501, "Not Implemented"),
    Problem.VERSION_NOT_SUPPORTED: (505, "HTTP Version Not Supported"),
    Problem.BODY_INCOMPLETE: (400, "Bad Request"),
    Problem.BODY_TOO_LARGE: (413, "Request Too Long"),
    Problem.TIMEOUT: (408, "Request Timeout"),
    Problem.INVALID_ANSWER: (502, "Internal server error"),
    Problem.INTERNAL: (500, "Internal server error"),
}


@dataclass(frozen=True)
class Route:
    resource: str  # as declared: /users/{userId}
    method: str  # GET, ..., or ANY
    function: str
    pattern: re.Pattern[str]
    rank: int  # static paths before parameters before greedy {proxy+}, a method before ANY
    # The access token scopes the method takes, one of them enough; None: no authorizer.
    scopes: tuple[str, ...] | None = None

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


def routes_from_template(
    template: dict[str, Any], parameters: dict[str, str] | None = None
) -> list[Route]:
    """The API's routes, with the scopes each takes in a stack of `parameters`."""
    evaluator = Evaluator(template, {}, parameters=parameters)
    api_auth = _resolve_conditionals(
        template["Resources"]["Api"]["Properties"].get("Auth", {}), evaluator
    )
    default = api_auth.get("DefaultAuthorizer")
    default_scopes = (
        api_auth["Authorizers"][default].get("AuthorizationScopes", []) if default else None
    )
    routes = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            properties = _resolve_conditionals(event["Properties"], evaluator)
            path, method = properties["Path"], properties["Method"].upper()
            auth = properties.get("Auth", {})
            scopes = None if auth.get("Authorizer") == "NONE" or default is None else default_scopes
            scopes = auth.get("AuthorizationScopes", scopes)
            rank = _rank(path) * 2 + (method == "ANY")
            routes.append(
                Route(
                    path,
                    method,
                    name,
                    _pattern(path),
                    rank,
                    None if scopes is None else tuple(scopes),
                )
            )
    return sorted(routes, key=lambda route: route.rank)


def _pattern(path: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def _rank(path: str) -> int:
    return 2 if "+}" in path else (1 if "{" in path else 0)


def build_event(
    *,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    source_ip: str,
    stage: str,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The v1 proxy event API Gateway builds for this request; `claims`, those of the token
    its authorizer checked."""
    split = urlsplit(raw_path)
    # As sent, percent-encoding kept, as API Gateway's REST APIs pass it; the path parameters
    # are decoded.
    path = split.path or "/"
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    encoded_body, is_base64 = _body(body, content_type)
    now = datetime.now(UTC)
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
                "user": None,
            },
            "domainName": next((v for k, v in headers if k.lower() == "host"), "localhost"),
            "apiId": "local",
            **({} if claims is None else {"authorizer": {"claims": claims}}),
        },
        "body": encoded_body,
        "isBase64Encoded": is_base64,
    }


class Unauthorized(Exception):
    """API Gateway's 401: no token the method takes."""


def caller_claims(header: str, trigger: FunctionPool | None) -> dict[str, str]:
    """The claims of the access token the user pool would issue the caller LOCAL_CALLER_HEADER
    names, made by the pool's token trigger as Cognito has it make them."""
    role, _, email = header.strip().partition(" ")
    if role not in CALLER_ROLES or "@" not in email:
        raise Unauthorized(
            f"{LOCAL_CALLER_HEADER} is {header!r}: name a caller as "
            f"{' or '.join(repr(f'{role} <email>') for role in CALLER_ROLES)}"
        )
    if trigger is None:
        raise Unauthorized("the template's user pool has no token trigger")
    event = load_event("cognito_token_administrator.json")
    subject = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email.strip()}"))
    event["userName"] = subject
    event["request"]["userAttributes"].update(sub=subject, email=email.strip())
    event["request"]["groupConfiguration"]["groupsToOverride"] = CALLER_ROLES[role]
    try:
        answer = trigger.invoke(event)
        made = answer["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    except (InvocationError, KeyError, TypeError) as exc:
        raise Unauthorized(f"the token trigger failed: {type(exc).__name__}: {exc}") from exc
    claims = {
        "sub": subject,
        "username": subject,
        "token_use": "access",
        "client_id": "local",
        "scope": " ".join([COGNITO_SCOPE, *made.get("scopesToAdd", [])]),
        **{name: str(value) for name, value in made.get("claimsToAddOrOverride", {}).items()},
    }
    if CALLER_ROLES[role]:
        claims["cognito:groups"] = ",".join(CALLER_ROLES[role])
    return claims


def _route_for(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        parameters = route.match(method, path)
        if parameters is not None:
            return route, parameters
    return None


def _claims_for(
    route: Route, header: str | None, trigger: FunctionPool | None
) -> dict[str, str] | None:
    """The claims the function gets for a request naming its caller in `header` (None: no
    authorizer); Unauthorized when the caller's token would not pass the route's authorizer."""
    if header is None or route.scopes is None:
        return None  # no token, or an open method (a preflight): no authorizer, no claims
    claims = caller_claims(header, trigger)
    if not set(route.scopes) & set(claims["scope"].split()):
        raise Unauthorized(
            f"the token's scopes ({claims['scope']}) hold none the method takes "
            f"({' '.join(route.scopes)})"
        )
    return claims


def token_trigger(template: dict[str, Any]) -> str | None:
    """The function the user pool runs to make its tokens (None: the template has none)."""
    pool = template["Resources"].get("UserPool", {}).get("Properties", {})
    arn = pool.get("LambdaConfig", {}).get("PreTokenGenerationConfig", {}).get("LambdaArn")
    return str(arn["Ref"]).split(".")[0] if isinstance(arn, dict) and "Ref" in arn else None


def _body(body: bytes, content_type: str) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if content_type.lower().startswith(TEXT_TYPES) or not content_type:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


class InvalidProxyResponse(ValueError):
    """The function's answer is not a proxy integration's: API Gateway answers 502."""


def proxy_response(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP response of a proxy integration's answer; InvalidProxyResponse for one that
    is not."""
    try:
        status = int(response["statusCode"])
        headers: list[tuple[str, str]] = [
            (k, str(v)) for k, v in (response.get("headers") or {}).items()
        ]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers.extend((name, str(value)) for value in values)
        body = response.get("body") or ""
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    except (KeyError, TypeError, ValueError, binascii.Error, AttributeError) as exc:
        raise InvalidProxyResponse(f"{type(exc).__name__}: {exc}") from exc
    return status, headers, raw


def framing_problem(request: Request) -> Problem | None:
    """What API Gateway refuses in the request's framing, or None."""
    if request.content_length is not None and request.header("Transfer-Encoding") is not None:
        return Problem.MALFORMED  # two framings: which one a proxy before it believed is unknown
    if len(request.target) > MAX_URL:
        return Problem.TARGET_TOO_LONG
    request_line = len(request.method) + len(request.target) + len(" HTTP/1.1") + 1
    if request_line + sum(len(value) for _, value in request.headers) > MAX_REQUEST_HEAD:
        return Problem.HEADERS_TOO_LARGE
    if (request.content_length or 0) > MAX_PAYLOAD:
        return Problem.BODY_TOO_LARGE
    return None


def _json(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    if body and not any(name.lower() == "content-type" for name, _ in headers):
        headers = [*headers, ("Content-Type", "application/json")]
    return Response(status, headers, body)


class Gateway:
    """The gateway's application: routes, the functions' pools, the stage, and the pool of the
    user pool's token trigger."""

    def __init__(
        self,
        routes: list[Route],
        pools: dict[str, FunctionPool],
        stage: str,
        trigger: str | None,
    ) -> None:
        self.routes, self.pools, self.stage, self.trigger = routes, pools, stage, trigger

    def __call__(self, request: Request) -> Response:
        status, headers, body, said = self._serve(request)
        return replace(_json(status, headers, body), said=said)

    def refusal(self, problem: Problem, request: Request | None) -> Response:
        status, message = REFUSALS[problem]
        return _json(status, [], json.dumps({"message": message}).encode())

    def _serve(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes, str]:
        """The answer, and what the request's log line says of it (the function, how long it
        took, why it failed)."""
        problem = framing_problem(request)
        if problem is not None:
            raise HTTPRefusal(problem)
        # Matched as sent, percent-encoded: each path parameter is decoded once, by the route,
        # as API Gateway decodes it.
        method, target = request.method.upper(), request.target
        found = _route_for(self.routes, method, urlsplit(target).path or "/")
        if found is None:
            return 403, [], MISSING_TOKEN, "no route: API Gateway's missing authentication token"
        route, parameters = found
        caller = request.header(LOCAL_CALLER_HEADER)
        try:
            claims = _claims_for(route, caller, self.pools.get(self.trigger or ""))
        except Unauthorized as refused:
            return 401, [], UNAUTHORIZED, f"the authorizer refused the caller: {refused}"
        event = build_event(
            method=method,
            raw_path=target,
            headers=request.headers,
            body=request.body.read(MAX_PAYLOAD),
            route=route,
            path_parameters=parameters,
            source_ip=request.client,
            stage=self.stage,
            claims=claims,
        )
        started = time.perf_counter()
        try:
            response = self.pools[route.function].invoke(event)
        except InvocationError as exc:
            return 502, [], INTERNAL_ERROR, f"{route.function} failed: {exc}"
        took = f"{route.function} {(time.perf_counter() - started) * 1000:.0f} ms"
        try:
            status, headers, body = proxy_response(response)
        except InvalidProxyResponse as exc:
            return 502, [], INTERNAL_ERROR, f"{took}: its response is not a proxy's ({exc})"
        return status, headers, body, took


def make_server(
    host: str,
    port: int,
    routes: list[Route],
    pools: dict[str, FunctionPool],
    stage: str,
    *,
    trigger: str | None = None,
) -> Server:
    """The gateway on host:port (call serve_forever() on it, and shutdown() to stop); `trigger`
    names the pool of the user pool's token trigger. Every method of a path reaches its
    routes, so that the function answers 405 for the ones its paths do not take, as API
    Gateway's ANY method lets it."""
    return make(host, port, Gateway(routes, pools, stage, trigger), "api")
