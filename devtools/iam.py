"""IAM as AWS applies it to the functions' calls: each function's role as template.yaml declares
it, and what one AWS request asks of that role (the actions and resources AWS authorises it by).

The local stack's emulator gate (devtools/local/emulator.py) and the in-process tests
(tests/conftest.py) run every request a function makes through `Roles.check`, so a call the role
does not grant fails as it fails on AWS: `AccessDeniedException` (DynamoDB, SQS),
`AuthorizationError` (SNS) or `AccessDenied` (S3), with the action and resource named.

How a request is authorised follows AWS's service authorisation reference: a DynamoDB
transaction item by its own action (`Put` as dynamodb:PutItem, `Update` as dynamodb:UpdateItem,
`Delete` as dynamodb:DeleteItem, `ConditionCheck` as dynamodb:ConditionCheckItem, `Get` as
dynamodb:GetItem); SNS PublishBatch as sns:Publish; SQS batch calls as their single form;
S3 HeadObject as s3:GetObject, listing as s3:ListBucket with the `s3:prefix` key, a copy as
s3:PutObject on the target and s3:GetObject on the source. An S3 request outside the table
below is refused with the request named, rather than guessed.

Policy evaluation is IAM's for one identity-based policy: an explicit Deny wins, then an Allow,
otherwise the implicit deny; `*` and `?` wildcards (actions case-insensitive, resources not);
the condition operators the template may use (String*, Arn*, Bool, with IfExists). A policy
using anything else (a managed policy, another operator) is refused when the roles are read.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

from devtools.template import Evaluator

ACCOUNT = "123456789012"
PARTITION = "aws"


@dataclass(frozen=True)
class Need:
    """One permission a request needs: an action on a resource, with the request's condition
    keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Denial:
    """A refused request, as the service answers it."""

    status: int
    headers: dict[str, str]
    body: bytes
    message: str


# --- what a request needs ------------------------------------------------------------------


def _credential_scope(query: Mapping[str, str], headers: Mapping[str, str]) -> list[str]:
    """The SigV4 credential a request is signed with (in the Authorization header or the query
    string), split: access key, date, region, service, "aws4_request"."""
    credential = query.get("X-Amz-Credential", "")
    authorization = headers.get("authorization", "")
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    return credential.split("/")


def _service_and_region(query: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, str]:
    """The signing scope's service and region."""
    scope = _credential_scope(query, headers)
    if len(scope) >= 4:
        return scope[3], scope[2]
    return "", "us-east-1"


def _lowered(headers: Mapping[str, str | bytes]) -> dict[str, str]:
    return {
        name.lower(): value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in headers.items()
    }


def access_key(url: str, headers: Mapping[str, str | bytes]) -> str | None:
    """The access key a request is signed with (SigV4 header or query string)."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return _credential_scope(query, _lowered(headers))[0] or None


# A virtual-hosted S3 request's host: the bucket, then S3's endpoint.
S3_VIRTUAL_HOST = re.compile(r"(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com")


def needs(
    method: str, url: str, headers: Mapping[str, str | bytes], body: Callable[[], bytes]
) -> list[Need]:
    """What the request asks of IAM. `body` reads the request's body (only the services whose
    authorisation depends on it read it)."""
    lowered = _lowered(headers)
    split = urlsplit(url)
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    service, region = _service_and_region(query, lowered)
    target = lowered.get("x-amz-target", "").rpartition(".")[2]
    if service == "s3":
        path = unquote(split.path)
        virtual = S3_VIRTUAL_HOST.fullmatch(split.hostname or "")
        if virtual:
            path = f"/{virtual['bucket']}{path}"
        return _s3_needs(method.upper(), path, query, lowered, body)
    # The JSON protocols name the operation in X-Amz-Target, the query protocol in Action.
    parameters: Mapping[str, Any] = (
        _json(body()) if target else dict(parse_qsl(body().decode(errors="replace"))) | query
    )
    operation = target or str(parameters.get("Action", "")) or "Unknown"
    if service == "dynamodb":
        return _dynamodb_needs(operation, parameters, region)
    if service == "sqs":
        return _sqs_needs(operation, parameters, region)
    if service == "sns":
        action = "Publish" if operation == "PublishBatch" else operation
        return [Need(f"sns:{action}", str(parameters.get("TopicArn") or "*"))]
    return [Need(f"{service or 'unknown'}:{operation}", "*")]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb_needs(operation: str, body: Mapping[str, Any], region: str) -> list[Need]:
    def table(name: str, index: str | None = None) -> str:
        arn = f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in body.get("TransactItems", []):
            for kind, request in item.items():
                action = TRANSACTION_ITEM_ACTIONS.get(kind, kind)
                found.append(Need(f"dynamodb:{action}", table(request.get("TableName", ""))))
        return found
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Need(f"dynamodb:{operation}", table(name)) for name in body.get("RequestItems", {})]
    if "TableName" in body:
        index = body.get("IndexName") if operation in ("Query", "Scan") else None
        return [Need(f"dynamodb:{operation}", table(body["TableName"], index))]
    return [Need(f"dynamodb:{operation}", "*")]


SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs_needs(operation: str, body: Mapping[str, Any], region: str) -> list[Need]:
    action = SQS_BATCH_ACTIONS.get(operation, operation)
    url = str(body.get("QueueUrl", ""))
    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) == 2:
        account, name = parts
        return [Need(f"sqs:{action}", f"arn:{PARTITION}:sqs:{region}:{account}:{name}")]
    if "QueueName" in body:
        return [
            Need(f"sqs:{action}", f"arn:{PARTITION}:sqs:{region}:{ACCOUNT}:{body['QueueName']}")
        ]
    return [Need(f"sqs:{action}", "*")]


# S3 object requests by method and sub-resource (a query parameter without which the request is
# a plain object request): the action AWS authorises them by.
S3_OBJECT_ACTIONS = {
    ("GET", ""): "GetObject",
    ("HEAD", ""): "GetObject",
    ("PUT", ""): "PutObject",
    ("DELETE", ""): "DeleteObject",
    ("GET", "tagging"): "GetObjectTagging",
    ("PUT", "tagging"): "PutObjectTagging",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("GET", "acl"): "GetObjectAcl",
    ("PUT", "acl"): "PutObjectAcl",
    ("GET", "attributes"): "GetObjectAttributes",
    ("POST", "uploads"): "PutObject",
    ("PUT", "uploadId"): "PutObject",
    ("POST", "uploadId"): "PutObject",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("GET", "uploadId"): "ListMultipartUploadParts",
    ("GET", "versionId"): "GetObjectVersion",
    ("HEAD", "versionId"): "GetObjectVersion",
    ("DELETE", "versionId"): "DeleteObjectVersion",
}
S3_BUCKET_ACTIONS = {
    ("GET", ""): "ListBucket",
    ("HEAD", ""): "ListBucket",
    ("GET", "list-type"): "ListBucket",
    ("GET", "versions"): "ListBucketVersions",
    ("GET", "uploads"): "ListBucketMultipartUploads",
    ("GET", "location"): "GetBucketLocation",
}
# Query parameters that say nothing of the operation: the signature's, and listing options.
S3_PLAIN_PARAMETERS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "x-id",
        "partNumber",
        "prefix",
        "delimiter",
        "max-keys",
        "marker",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
        "response-content-type",
        "response-content-disposition",
        "response-cache-control",
        "response-expires",
        "response-content-language",
        "response-content-encoding",
    }
)


def _s3_needs(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: Callable[[], bytes],
) -> list[Need]:
    bucket, _, key = path.lstrip("/").partition("/")
    subresources = sorted(set(query) - S3_PLAIN_PARAMETERS)
    if len(subresources) > 1:
        return [_unmodelled(method, path, subresources)]
    subresource = subresources[0] if subresources else ""
    if not bucket:
        return (
            [Need("s3:ListAllMyBuckets", "*")] if method == "GET" else [_unmodelled(method, path)]
        )
    bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
    if key:
        return _s3_object_needs(method, f"{bucket_arn}/{key}", subresource, headers, path)
    if method == "POST" and subresource == "delete":
        objects = re.findall(r"<Object>(.*?)</Object>", body().decode(errors="replace"), re.DOTALL)
        return [
            Need(
                "s3:DeleteObjectVersion" if "<VersionId>" in part else "s3:DeleteObject",
                f"{bucket_arn}/{html.unescape(''.join(re.findall(r'<Key>(.*?)</Key>', part)))}",
            )
            for part in objects
        ]
    action = S3_BUCKET_ACTIONS.get((method, subresource))
    if action is None:
        return [_unmodelled(method, path, subresources)]
    context = (("s3:prefix", query["prefix"]),) if "prefix" in query else ()
    return [Need(f"s3:{action}", bucket_arn, context)]


def _s3_object_needs(
    method: str, object_arn: str, subresource: str, headers: Mapping[str, str], path: str
) -> list[Need]:
    action = S3_OBJECT_ACTIONS.get((method, subresource))
    if action is None:
        return [_unmodelled(method, path, [subresource])]
    found = [Need(f"s3:{action}", object_arn)]
    if method == "PUT" and not subresource:
        source = headers.get("x-amz-copy-source")
        if source:
            source_arn = f"arn:{PARTITION}:s3:::{unquote(source).lstrip('/').split('?')[0]}"
            found.append(Need("s3:GetObject", source_arn))
        if "x-amz-tagging" in headers:
            found.append(Need("s3:PutObjectTagging", object_arn))
        if "x-amz-acl" in headers or any(name.startswith("x-amz-grant-") for name in headers):
            found.append(Need("s3:PutObjectAcl", object_arn))
    return found


def _unmodelled(method: str, path: str, subresources: Iterable[str] = ()) -> Need:
    """An S3 request this module does not know AWS's action for: no policy grants it."""
    described = f"{method} {path}" + "".join(f" ?{name}" for name in subresources)
    return Need(f"s3:<unmodelled request {described}>", path)


# --- policies --------------------------------------------------------------------------------


@cache
def _wildcard(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters (`/` included), `?` any one."""
    return re.compile(
        "".join(
            ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
        ),
        flags | re.DOTALL,
    )


CONDITION_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringEqualsIgnoreCase": lambda value, pattern: value.lower() == pattern.lower(),
    "StringLike": lambda value, pattern: _wildcard(pattern).fullmatch(value) is not None,
    "ArnEquals": lambda value, pattern: value == pattern,
    "ArnLike": lambda value, pattern: _wildcard(pattern).fullmatch(value) is not None,
    "Bool": lambda value, pattern: value.lower() == pattern.lower(),
}
NEGATED_OPERATORS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Grant:
    """One action and one resource, as a statement of a function's role lists them: the unit
    of the least-privilege report. Grants are told apart by their place in the template (the
    resource's position in its statement), whatever names the resources have where checked."""

    role: str
    statement: int
    action: str
    position: int
    resource: str = field(compare=False)

    def __str__(self) -> str:
        return f"{self.role}: {self.action} on {self.resource} (statement {self.statement})"

    def key(self) -> list[str | int]:
        return [self.role, self.statement, self.action, self.position]


@dataclass(frozen=True)
class Statement:
    index: int
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, index: int, statement: dict[str, Any]) -> Statement:
        known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        unknown = set(statement) - known
        if unknown:
            raise ValueError(f"statement {index}: {', '.join(sorted(unknown))} not supported")
        conditions = []
        for operator, keys in statement.get("Condition", {}).items():
            base = operator.removesuffix("IfExists")
            if base not in CONDITION_OPERATORS and base not in NEGATED_OPERATORS:
                raise ValueError(f"statement {index}: condition operator {operator} not supported")
            for key, values in keys.items():
                # Condition keys are case-insensitive; a YAML boolean is IAM's "true"/"false".
                texts = tuple(
                    str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(values)
                )
                conditions.append((operator, key.lower(), texts))
        return cls(
            index=index,
            effect=statement["Effect"],
            actions=tuple(_as_list(statement.get("Action", []))),
            resources=tuple(_as_list(statement.get("Resource", []))),
            not_actions=tuple(_as_list(statement.get("NotAction", []))),
            not_resources=tuple(_as_list(statement.get("NotResource", []))),
            conditions=tuple(conditions),
        )

    def match(self, need: Need) -> tuple[str, int, str] | None:
        """The action pattern, resource position and resource pattern of this statement that
        cover `need`, or None."""
        if self.not_actions:
            if any(_wildcard(a, re.IGNORECASE).fullmatch(need.action) for a in self.not_actions):
                return None
            action = "NotAction"
        else:
            matched = [
                a for a in self.actions if _wildcard(a, re.IGNORECASE).fullmatch(need.action)
            ]
            if not matched:
                return None
            action = matched[0]
        if self.not_resources:
            if any(_wildcard(r).fullmatch(need.resource) for r in self.not_resources):
                return None
            position, resource = 0, "NotResource"
        else:
            found = [
                (index, r)
                for index, r in enumerate(self.resources)
                if _wildcard(r).fullmatch(need.resource)
            ]
            if not found:
                return None
            position, resource = found[0]
        context = {key.lower(): value for key, value in need.context}
        if not all(_holds(condition, context) for condition in self.conditions):
            return None
        return action, position, resource


def _holds(condition: tuple[str, str, tuple[str, ...]], context: Mapping[str, str]) -> bool:
    operator, key, values = condition
    base = operator.removesuffix("IfExists")
    if key not in context:
        return operator.endswith("IfExists") or base in NEGATED_OPERATORS
    value = context[key]
    if base in NEGATED_OPERATORS:
        test = CONDITION_OPERATORS[NEGATED_OPERATORS[base]]
        return not any(test(value, pattern) for pattern in values)
    return any(CONDITION_OPERATORS[base](value, pattern) for pattern in values)


@dataclass
class Role:
    """A function's execution role: its name, the function that assumes it, its statements."""

    name: str
    function: str
    statements: list[Statement]

    @property
    def principal(self) -> str:
        return f"arn:{PARTITION}:sts::{ACCOUNT}:assumed-role/{self.name}/{self.function}"

    def grants(self) -> list[Grant]:
        return [
            Grant(self.function, statement.index, action, position, resource)
            for statement in self.statements
            if statement.effect == "Allow"
            for action in statement.actions or ("NotAction",)
            for position, resource in enumerate(statement.resources or ("NotResource",))
        ]

    def decide(self, need: Need) -> tuple[bool, Grant | None]:
        """Whether the role allows `need`, and the grant that allows it."""
        allowed: Grant | None = None
        for statement in self.statements:
            matched = statement.match(need)
            if matched is None:
                continue
            if statement.effect == "Deny":
                return False, None
            action, position, resource = matched
            allowed = allowed or Grant(self.function, statement.index, action, position, resource)
        return allowed is not None, allowed


@dataclass
class Roles:
    """Every function's role, and the grants the requests checked so far have used."""

    by_function: dict[str, Role]
    used: set[Grant] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(
        self,
        function: str,
        method: str,
        url: str,
        headers: Mapping[str, str | bytes],
        body: Callable[[], bytes],
    ) -> Denial | None:
        """None when `function`'s role allows the request, else the service's answer."""
        role = self.by_function[function]
        for need in needs(method, url, headers, body):
            allowed, grant = role.decide(need)
            if not allowed:
                return _denial(role, need, url, headers)
            assert grant is not None
            with self._lock:
                self.used.add(grant)
        return None

    def usage(self) -> list[list[str | int]]:
        """The grants used so far, as data (`record` takes it back, from another process)."""
        with self._lock:
            return sorted((grant.key() for grant in self.used), key=str)

    def record(self, usage: Iterable[list[str | int]]) -> None:
        """Count the grants in `usage` (another process's `usage()`) as used."""
        with self._lock:
            for role, statement, action, position in usage:
                self.used.add(Grant(str(role), int(statement), str(action), int(position), ""))

    def unused(self) -> list[Grant]:
        """Grants no checked request used, in the template's order."""
        return [
            grant
            for role in self.by_function.values()
            for grant in role.grants()
            if grant not in self.used
        ]


def _denial(role: Role, need: Need, url: str, headers: Mapping[str, str | bytes]) -> Denial:
    lowered = _lowered(headers)
    service, _ = _service_and_region(dict(parse_qsl(urlsplit(url).query)), lowered)
    message = (
        f"User: {role.principal} is not authorized to perform: {need.action} on resource: "
        f"{need.resource} because no identity-based policy allows the {need.action} action"
    )
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{escape(message)}</Message></Error>"
        ).encode()
        return Denial(403, {"Content-Type": "application/xml"}, body, message)
    if service == "sns":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code>"
            f"<Message>{escape(message)}</Message></Error></ErrorResponse>"
        ).encode()
        return Denial(403, {"Content-Type": "text/xml"}, body, message)
    if service == "sqs" and "x-amz-target" in lowered:
        sqs_body = json.dumps({"__type": "com.amazonaws.sqs#AccessDenied", "message": message})
        return Denial(
            403,
            {
                "Content-Type": "application/x-amz-json-1.0",
                "x-amzn-query-error": "AccessDenied;Sender",
            },
            sqs_body.encode(),
            message,
        )
    json_body = json.dumps(
        {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message}
    )
    return Denial(400, {"Content-Type": "application/x-amz-json-1.0"}, json_body.encode(), message)


def roles_from_template(
    template: dict[str, Any],
    physical: Mapping[str, str],
    *,
    parameters: dict[str, str] | None = None,
    stack_name: str = "users-service-dev",
    region: str = "us-east-1",
) -> Roles:
    """Each function's role (its `Role: !GetAtt <AWS::IAM::Role>.Arn`), the inline policies'
    statements resolved against `physical`. A resource `physical` lacks (a log group the
    local stack does not make) resolves to a name no request has."""
    names = _Unresolved(physical)
    evaluator = Evaluator(
        template,
        names,
        parameters=parameters,
        stack_name=stack_name,
        region=region,
        account=ACCOUNT,
    )
    roles = {}
    for function, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        reference = properties.get("Role", {}).get("Fn::GetAtt")
        if not reference or "Policies" in properties:
            raise ValueError(
                f"{function}: only a Role: !GetAtt <AWS::IAM::Role>.Arn is modelled, "
                "not SAM's Policies"
            )
        role = template["Resources"][reference[0]]["Properties"]
        if role.get("ManagedPolicyArns"):
            raise ValueError(f"{reference[0]}: managed policies are not modelled")
        statements: list[Statement] = []
        for policy in role.get("Policies", []):
            for raw in _as_list(evaluator.resolve(policy["PolicyDocument"])["Statement"]):
                statements.append(Statement.parse(len(statements), raw))
        roles[function] = Role(str(role.get("RoleName", reference[0])), function, statements)
    return Roles(roles)


class _Unresolved(dict[str, str]):
    def __init__(self, physical: Mapping[str, str]) -> None:
        super().__init__(physical)

    def __missing__(self, name: str) -> str:
        return f"unresolved:{name}"
