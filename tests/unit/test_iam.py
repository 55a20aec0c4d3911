"""The roles as AWS applies them (devtools/iam.py): requests made by botocore itself, as the
functions make them, authorised by the actions AWS documents for them, against template.yaml's
roles and against small policies that isolate one rule."""

from __future__ import annotations

import contextlib
import functools
import json
from typing import Any

import botocore.session
import pytest

from devtools.iam import Need, Roles, needs, roles_from_template
from devtools.resources import table_arn
from devtools.template import load_template

BUCKET = "users-service-dev-uploads-123456789012-us-east-1"
PHYSICAL = {
    "MetadataTable": "metadata",
    "MetadataTable.Arn": table_arn("metadata"),
    "UsersTable": "users",
    "UsersTable.Arn": table_arn("users"),
    "UploadsBucket": BUCKET,
    "UploadsBucket.Arn": f"arn:aws:s3:::{BUCKET}",
    "NotificationTopic": "arn:aws:sns:us-east-1:123456789012:topic",
    "OrderQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:orders",
}


class _Sent(Exception):
    """Raised by the capture: the request goes no further."""


CAPTURED: list[Any] = []


def _capture(request: Any, **_: Any) -> None:
    CAPTURED.append(request)
    raise _Sent


@functools.cache
def _client(service: str) -> Any:
    client = _SESSION.create_client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="AKID",
        aws_secret_access_key="secret",
    )
    client.meta.events.register_first("before-send", _capture)
    return client


_SESSION = botocore.session.get_session()


def sent(service: str, operation: str, **parameters: Any) -> Any:
    """The HTTP request botocore sends for `operation`."""
    CAPTURED.clear()
    client = _client(service)
    with contextlib.suppress(_Sent):
        getattr(client, operation)(**parameters)
    return CAPTURED[0]


def needs_of(request: Any) -> list[Need]:
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    return needs(request.method, request.url, dict(request.headers), lambda: body)


def check(roles: Roles, function: str, request: Any) -> str | None:
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    denial = roles.check(function, request.method, request.url, dict(request.headers), lambda: body)
    return None if denial is None else denial.message


def one_role(*statements: dict[str, Any]) -> Roles:
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Role": {"Fn::GetAtt": ["FnRole", "Arn"]}},
            },
            "FnRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}
                    ]
                },
            },
        }
    }
    return roles_from_template(template, {})


def test_a_transaction_item_is_authorised_by_its_own_action() -> None:
    request = sent(
        "dynamodb",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": "metadata", "Item": {"objectKey": {"S": "k"}}}},
            {
                "Update": {
                    "TableName": "tickets",
                    "Key": {"uploadId": {"S": "u"}},
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "processed"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": "metadata",
                    "Key": {"objectKey": {"S": "x"}},
                    "ConditionExpression": "attribute_exists(objectKey)",
                }
            },
        ],
    )
    assert needs_of(request) == [
        Need("dynamodb:PutItem", table_arn("metadata")),
        Need("dynamodb:UpdateItem", table_arn("tickets")),
        Need("dynamodb:ConditionCheckItem", table_arn("metadata")),
    ]
    roles = one_role(
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
            "Resource": "arn:aws:dynamodb:*:*:table/*",
        }
    )
    assert check(roles, "Fn", request) == (
        "User: arn:aws:sts::123456789012:assumed-role/FnRole/Fn is not authorized to perform: "
        "dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/tickets "
        "because no identity-based policy allows the dynamodb:UpdateItem action"
    )


def test_the_upload_processor_may_complete_a_ticket_in_its_metadata_transaction() -> None:
    roles = roles_from_template(load_template(), PHYSICAL)
    request = sent(
        "dynamodb",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": "metadata", "Item": {"objectKey": {"S": "s3://b/k"}}}},
            {
                "Update": {
                    "TableName": "metadata",
                    "Key": {"objectKey": {"S": "ticket#u"}},
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "processed"}},
                }
            },
        ],
    )
    assert check(roles, "S3HandlerFunction", request) is None
    # The API may not: it only issues tickets.
    assert "dynamodb:UpdateItem" in (check(roles, "ApiFunction", request) or "")


def test_batch_calls_are_authorised_as_their_single_form() -> None:
    publish = sent(
        "sns",
        "publish_batch",
        TopicArn="arn:aws:sns:us-east-1:123456789012:topic",
        PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}],
    )
    assert needs_of(publish) == [Need("sns:Publish", "arn:aws:sns:us-east-1:123456789012:topic")]
    send = sent(
        "sqs",
        "send_message_batch",
        QueueUrl="http://127.0.0.1:1/123456789012/failures",
        Entries=[{"Id": "1", "MessageBody": "m"}],
    )
    assert needs_of(send) == [
        Need("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:failures")
    ]


def test_s3_reads_lists_and_copies_are_authorised_as_aws_documents_them() -> None:
    head = sent("s3", "head_object", Bucket=BUCKET, Key="uploads/u/a.png")
    assert needs_of(head) == [Need("s3:GetObject", f"arn:aws:s3:::{BUCKET}/uploads/u/a.png")]
    listing = sent("s3", "list_objects_v2", Bucket=BUCKET, Prefix="thumbnails/u/")
    assert needs_of(listing) == [
        Need("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", (("s3:prefix", "thumbnails/u/"),))
    ]
    copy = sent(
        "s3", "copy_object", Bucket=BUCKET, Key="thumbnails/b", CopySource=f"{BUCKET}/uploads/a"
    )
    assert needs_of(copy) == [
        Need("s3:PutObject", f"arn:aws:s3:::{BUCKET}/thumbnails/b"),
        Need("s3:GetObject", f"arn:aws:s3:::{BUCKET}/uploads/a"),
    ]


def test_a_condition_on_the_listed_prefix_is_applied() -> None:
    roles = roles_from_template(load_template(), PHYSICAL)
    inside = sent("s3", "list_objects_v2", Bucket=BUCKET, Prefix="thumbnails/u/")
    outside = sent("s3", "list_objects_v2", Bucket=BUCKET, Prefix="uploads/")
    unprefixed = sent("s3", "list_objects_v2", Bucket=BUCKET)
    assert check(roles, "S3HandlerFunction", inside) is None
    assert "s3:ListBucket" in (check(roles, "S3HandlerFunction", outside) or "")
    assert "s3:ListBucket" in (check(roles, "S3HandlerFunction", unprefixed) or "")


def test_an_explicit_deny_wins_over_an_allow() -> None:
    roles = one_role(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": table_arn("users")},
    )
    delete = sent("dynamodb", "delete_item", TableName="users", Key={"userId": {"S": "u"}})
    read = sent("dynamodb", "get_item", TableName="users", Key={"userId": {"S": "u"}})
    assert "dynamodb:DeleteItem" in (check(roles, "Fn", delete) or "")
    assert check(roles, "Fn", read) is None


def test_an_s3_request_without_a_known_action_is_refused_with_the_request_named() -> None:
    roles = one_role({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"})
    website = sent("s3", "get_bucket_website", Bucket=BUCKET)
    assert check(roles, "Fn", website) == (
        "User: arn:aws:sts::123456789012:assumed-role/FnRole/Fn is not authorized to perform: "
        f"s3:<unmodelled request GET /{BUCKET} ?website> on resource: /{BUCKET} because no "
        "identity-based policy allows the s3:<unmodelled request GET "
        f"/{BUCKET} ?website> action"
    )


def test_a_policy_the_evaluator_cannot_apply_is_refused_when_read() -> None:
    with pytest.raises(ValueError, match="condition operator NumericLessThan not supported"):
        one_role(
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": "10"}},
            }
        )


def test_unused_grants_are_reported_by_action_and_resource() -> None:
    roles = one_role(
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Scan"],
            "Resource": table_arn("users"),
        }
    )
    read = sent("dynamodb", "get_item", TableName="users", Key={"userId": {"S": "u"}})
    assert check(roles, "Fn", read) is None
    assert [str(grant) for grant in roles.unused()] == [
        f"Fn: dynamodb:Scan on {table_arn('users')} (statement 0)"
    ]


def test_the_refusal_has_the_services_error_shape() -> None:
    roles = one_role({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    put = sent("s3", "put_object", Bucket=BUCKET, Key="uploads/a", Body=b"x")
    body = put.body if isinstance(put.body, bytes) else b"x"
    denial = roles.check("Fn", put.method, put.url, dict(put.headers), lambda: body)
    assert denial is not None
    assert denial.status == 403
    assert b"<Code>AccessDenied</Code>" in denial.body
    query = sent("dynamodb", "scan", TableName="users")
    refused = roles.check("Fn", query.method, query.url, dict(query.headers), lambda: query.body)
    assert refused is not None
    assert refused.status == 400
    assert json.loads(refused.body)["__type"].endswith("#AccessDeniedException")


def test_a_version_of_an_object_is_authorised_as_a_version() -> None:
    read = sent("s3", "get_object", Bucket=BUCKET, Key="uploads/a", VersionId="v1")
    delete = sent("s3", "delete_object", Bucket=BUCKET, Key="uploads/a", VersionId="v1")
    assert needs_of(read) == [Need("s3:GetObjectVersion", f"arn:aws:s3:::{BUCKET}/uploads/a")]
    assert needs_of(delete) == [Need("s3:DeleteObjectVersion", f"arn:aws:s3:::{BUCKET}/uploads/a")]


def test_condition_keys_are_matched_whatever_their_case() -> None:
    roles = one_role(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {"StringLike": {"S3:Prefix": "thumbnails/*"}},
        }
    )
    listing = sent("s3", "list_objects_v2", Bucket=BUCKET, Prefix="thumbnails/u/")
    assert check(roles, "Fn", listing) is None
